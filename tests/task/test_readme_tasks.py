"""The "Script IOCs and loop tasks" examples of README.rst, taken from the README itself and
run as written, driven by the C tools; served on curio and trio (the other tests use asyncio)."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path
from typing import List

from tests.ioc._cli_process import IocProcess, monitored_values

README = Path(__file__).resolve().parents[2] / "README.rst"


def section_blocks() -> List[str]:
    """The python code blocks of the section, dedented."""
    text = README.read_text()
    section = text.split("Script IOCs and loop tasks\n---", 1)[1].split("\n---", 1)[0]
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", section)
    return [textwrap.dedent(block) for block in blocks]


def test_blink_script_runs_as_in_the_readme(tmp_path):
    script = tmp_path / "blink.py"
    script.write_text(section_blocks()[0])
    ioc = IocProcess("iocgate.task", "BL:STATE", tmp_path,
                     [str(script), "--prefix", "BL:", "--param", "period=0.25",
                      "--async-lib", "curio"]).start()
    try:
        lines = ioc.monitor(["BL:LAMP"], done=lambda lines: len(lines) >= 3)
        assert {"On", "Off"} <= set(monitored_values(lines))
        assert ioc.caput("BL:PERIOD", "20").returncode != 0
        assert ioc.caput("BL:flash", "3 colour=red").returncode == 0
        assert ioc.caget("BL:flash_RESULT") == "3 red flashes"
        assert ioc.caget("BL:flash_STATUS") == "Done"
        assert ioc.caget("BL:FLASHES") == "3"
        assert ioc.caput("BL:STOP", "1").returncode == 0
        assert ioc.caget("BL:STATE") == "Stopped"
    finally:
        ioc.stop()


def test_loop_task_example_runs_as_in_the_readme(tmp_path):
    (tmp_path / "accumulate.py").write_text(section_blocks()[1])
    ioc = IocProcess("accumulate", "ACC:STATE", tmp_path, ["--async-lib", "trio"])
    ioc.env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), ioc.env["PYTHONPATH"]])
    ioc.start()
    try:
        ioc.monitor(["ACC:TOTAL"], done=lambda lines: float(monitored_values(lines)[-1]) > 2)
        assert ioc.caput("ACC:GAIN", "11").returncode != 0  # outside the setting's limits
        assert ioc.caput("ACC:GAIN", "0").returncode == 0
        ioc.monitor(["ACC:LOOP_COUNT"], done=lambda lines: len(lines) >= 2)  # gain 0 in use
        total = ioc.caget("ACC:TOTAL")
        ioc.monitor(["ACC:LOOP_COUNT"], done=lambda lines: len(lines) >= 3)
        assert ioc.caget("ACC:TOTAL") == total
        assert ioc.caget("ACC:PERIOD") == "0.2"
    finally:
        ioc.stop()
