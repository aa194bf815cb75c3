"""The shipped IOCs as their users run them: ``python -m iocs.<name>`` in a child process on a
free loopback port, driven by the real EPICS C tools and by pyepics in child processes.

The process helpers live in ``_cli_process.py``; this module tests the command line itself:
``--help``, ``--server caproto`` and a clean exit on SIGTERM/SIGINT. ``--list-pvs`` and the
simulator notice are checked per IOC.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from iocgate.ioc._cli import describe_pvs, make_parser
from iocs.power_supply import PowerSupplyIOC
from iocs.random_walk import RandomWalkIOC
from iocs.temperature_controller import TemperatureControllerIOC

from ._cli_process import ASYNC_LIBS, TOOL_TIMEOUT, IocProcess


@pytest.mark.parametrize("module, ioc_class", [
    ("iocs.power_supply", PowerSupplyIOC),
    ("iocs.temperature_controller", TemperatureControllerIOC),
    ("iocs.random_walk", RandomWalkIOC),
])
def test_help_lists_every_pv_with_units_and_doc(module, ioc_class):
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                            text=True, timeout=TOOL_TIMEOUT,
                            env=dict(os.environ, COLUMNS="200"))
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()
            if line.startswith("  " + ioc_class.default_prefix)}
    expected = list(describe_pvs(ioc_class, ioc_class.default_prefix))
    assert list(rows) == [name for name, *_ in expected]
    for name, units, access, doc in expected:
        assert rows[name][1:3] == [units or "-", access]
        assert " ".join(rows[name][3:]) == " ".join(doc.split())
    if getattr(ioc_class, "device_config", None) is not None:
        assert "--host" in result.stdout and "--timeout" in result.stdout


def test_help_shows_the_power_supply_table():
    result = subprocess.run([sys.executable, "-m", "iocs.power_supply", "--help"],
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    table = [line.split()[:3] for line in result.stdout.splitlines()
             if line.startswith("  PSU:")]
    assert ["PSU:VOLT", "V", "rw"] in table
    assert ["PSU:VOLT_RBV", "V", "r"] in table
    assert ["PSU:CURR", "A", "rw"] in table
    assert ["PSU:ERROR_COUNT", "errors", "r"] in table


@pytest.mark.parametrize("ioc_class, bad", [
    (PowerSupplyIOC, ["--scan-period", "0"]),
    (PowerSupplyIOC, ["--scan-period", "nan"]),
    (PowerSupplyIOC, ["--timeout", "-1"]),
    (PowerSupplyIOC, ["--host", "127.0.0.1", "--port", "99999"]),
    (TemperatureControllerIOC, ["--serial", "/dev/null", "--baudrate", "0"]),
])
def test_nonsense_device_options_are_usage_errors(ioc_class, bad, capsys):
    parser, _ = make_parser(ioc_class, bad)
    with pytest.raises(SystemExit) as exited:  # argparse's usage error, before any I/O
        parser.parse_args(bad)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument {bad[-2]}:" in err, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
@pytest.mark.parametrize("async_lib", ASYNC_LIBS)
def test_signal_shutdown_is_clean(async_lib, signum, tmp_path):
    ioc = IocProcess("iocs.random_walk", "RW:X", tmp_path, ["--async-lib", async_lib])
    ioc.start()
    size = len(ioc.log())
    assert ioc.stop(signum=signum) == 0
    after = ioc.log()[size:]
    assert "Traceback" not in after and "Exception ignored" not in after, after


@pytest.mark.parametrize("server", ["caproto", "iocgate"])
@pytest.mark.parametrize("async_lib", ["asyncio", "trio"])
def test_sigterm_stops_a_job_started_with_sigint_ignored(server, async_lib, tmp_path):
    # a shell starts "python -m iocs.x &" with SIGINT ignored; SIGTERM must still stop it
    ioc = IocProcess("iocs.random_walk", "RW:X", tmp_path,
                     ["--server", server, "--async-lib", async_lib], ignore_sigint=True)
    ioc.start()
    assert ioc.stop(signum=signal.SIGTERM) == 0


def test_caproto_server_stays_selectable(tmp_path):
    ioc = IocProcess("iocs.power_supply", "PSU:IDN", tmp_path, ["--server", "caproto"])
    ioc.start()
    try:
        assert "Asyncio server starting up" in ioc.log()  # caproto's own server logged it
        accepted = ioc.caput("PSU:VOLT", "2.5")
        assert accepted.returncode == 0, accepted.stderr
        refused = ioc.caput("PSU:VOLT", "31")
        assert refused.returncode == 1 and "write request failed" in refused.stderr
        assert float(ioc.caget("PSU:VOLT")) == 2.5
    finally:
        assert ioc.stop() == 0
