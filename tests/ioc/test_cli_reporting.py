"""An IOC that says what it serves: the start-up line, ``-v`` (clients and puts, values as a
user types them), ``--log-file``, and ``--help`` naming the command that runs it.

One ``python -m iocs.power_supply -v --log-file ...`` process serves the module, started while
this process holds its preferred TCP port (so it serves on another and says who holds that
one); the real C ``caput`` drives it.
"""

from __future__ import annotations

import getpass
import logging.handlers
import os
import re
import socket
import subprocess
import sys

import pytest

from iocgate.ioc._cli import describe_pvs
from iocgate.ioc._logging import LOG_FILE_BACKUPS, LOG_FILE_BYTES, configure_logging
from iocgate.testing import LOOPBACK
from iocs.power_supply import PowerSupplyIOC

from ._cli_process import TOOL_TIMEOUT, IocProcess


@pytest.fixture(scope="module")
def psu(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("psu")
    ioc = IocProcess("iocs.power_supply", "PSU:IDN", log_dir,
                     ["-v", "--log-file", str(log_dir / "ioc.log")])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((LOOPBACK, ioc.port))
        holder.listen(1)
        ioc.start()
        try:
            yield ioc
        finally:
            ioc.stop()


def test_start_up_line_says_what_where_and_on_what(psu):
    count = len(list(describe_pvs(PowerSupplyIOC, "PSU:")))
    line = next(line for line in psu.log().splitlines() if "PowerSupplyIOC:" in line)
    assert re.search(
        rf"PowerSupplyIOC: {count} PVs, prefix PSU:, on 127\.0\.0\.1, TCP port (\d+) "
        rf"\(TCP {psu.port} is taken by pid {os.getpid()} \(.*\)\), UDP port {psu.port}; no "
        r"device address given: running the built-in simulator \(host=127\.0\.0\.1, "
        r"port=\d+\)$", line), line


def test_verbose_logs_clients_and_puts_as_typed(psu):
    assert psu.caput("PSU:OUTPUT", "On").returncode == 0
    assert psu.caput("PSU:VOLT", "2.5").returncode == 0
    refused = psu.caput("PSU:VOLT", "31")
    assert refused.returncode == 1
    text = psu.log()
    client = rf"{re.escape(getpass.getuser())}@\S+ \(127\.0\.0\.1:\d+\)"
    assert re.search(rf"put PSU:OUTPUT Off -> On by {client}", text), text
    assert re.search(rf"put PSU:VOLT 0\.0 -> 2\.5 by {client}", text), text
    assert re.search(rf"put PSU:VOLT refused \(value stays 2\.5\) for {client}: Cannot write "
                     r"data 31\.0\. Limits are set to 0\.0 and 30\.0\.", text), text
    assert re.search(r"client 127\.0\.0\.1:\d+ connected", text), text
    assert re.search(rf"client {client} disconnected", text), text
    assert "b'" not in text and "np." not in text and "numpy" not in text, text
    assert "<- CREATE_CHAN" not in text  # that is -vv


def test_log_file_gets_the_same_lines_with_dates(psu):
    assert psu.caput("PSU:CURR", "1.5").returncode == 0
    lines = (psu.log_path.parent / "ioc.log").read_text().splitlines()
    assert any("PowerSupplyIOC: " in line for line in lines)
    put = re.compile(r"\[I \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} iocgate\.server\.clients\] "
                     r"put PSU:CURR \d+\.\d+ -> 1\.5 by ")
    assert any(put.match(line) for line in lines), "\n".join(lines[-8:])


def test_log_file_rotates(tmp_path):
    logger = logging.getLogger("iocgate")
    before = list(logger.handlers)
    try:
        configure_logging(log_file=str(tmp_path / "x.log"))
        added = [handler for handler in logger.handlers if handler not in before]
        rotating = [h for h in added if isinstance(h, logging.handlers.RotatingFileHandler)]
        assert [(h.maxBytes, h.backupCount) for h in rotating] == [
            (LOG_FILE_BYTES, LOG_FILE_BACKUPS)]
    finally:
        for handler in logger.handlers[:]:
            if handler not in before:
                logger.removeHandler(handler)
                handler.close()


def test_help_names_the_command_that_runs_it():
    result = subprocess.run([sys.executable, "-m", "iocs.random_walk", "--help"],
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m iocs.random_walk ")
    assert "-vv: also every Channel Access request" in result.stdout
    assert "--log-file PATH" in result.stdout


def test_help_names_the_package_whose_main_runs_it(tmp_path):
    package = tmp_path / "bench_ioc"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ioc.py").write_text(
        "from iocs.random_walk import RandomWalkIOC\n\n\n"
        "class BenchIOC(RandomWalkIOC):\n    \"\"\"Bench.\"\"\"\n")
    (package / "__main__.py").write_text(
        "from iocgate import run_ioc\n\nfrom .ioc import BenchIOC\n\nrun_ioc(BenchIOC)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.getcwd()]))
    result = subprocess.run([sys.executable, "-m", "bench_ioc", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m bench_ioc "), result.stdout
