"""``python -m iocs.temperature_controller`` (its simulator on a pseudo-terminal) on asyncio,
curio and trio, driven by the EPICS C tools; one IOC process per async library."""

from __future__ import annotations

import pytest

from iocs.temperature_controller import TemperatureControllerIOC

from ._cli_process import ASYNC_LIBS, SIMULATOR_NOTICE, assert_logged_pv_list, ioc_processes
from ._wait import wait_until

#: seconds for scanned readbacks to follow (the IOC scans every 1 s)
FOLLOW_TIMEOUT = 15.0


@pytest.fixture(scope="module", params=ASYNC_LIBS)
def tc(request, tmp_path_factory):
    yield from ioc_processes("iocs.temperature_controller", "TC:CONNECTED", request.param,
                             tmp_path_factory)


def test_runs_on_its_simulator_over_a_serial_port(tc):
    # a symlink to the pty, which stays valid when a cut or restart opens a new pty
    assert SIMULATOR_NOTICE in tc.log() and "/tty, baudrate=57600" in tc.log()
    assert_logged_pv_list(tc, TemperatureControllerIOC)
    assert tc.caget("TC:CONNECTED") == "Connected"


def test_setpoint_readback_follows_a_put(tc):
    result = tc.caput("TC:SETPOINT", "123.5")
    assert result.returncode == 0, result.stderr
    assert float(tc.caget("TC:SETPOINT")) == 123.5
    wait_until(lambda: float(tc.caget("TC:SETPOINT_RBV")) == 123.5, timeout=FOLLOW_TIMEOUT)


def test_heater_high_warms_the_sample(tc):
    start = float(tc.caget("TC:TEMP_RBV"))
    assert tc.caput("TC:SETPOINT", "450").returncode == 0
    result = tc.caput("TC:HEATER", "High")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: tc.caget("TC:HEATER_RBV") == "High", timeout=FOLLOW_TIMEOUT)
    wait_until(lambda: float(tc.caget("TC:TEMP_RBV")) > start + 1.0, timeout=FOLLOW_TIMEOUT)
    assert float(tc.caget("TC:HEATER_OUT")) > 0


def test_ramp_rate_units_and_limits(tc):
    ctrl = tc.ctrl("TC:SETPOINT_RAMP_RATE")
    assert (ctrl["Units"], ctrl["Precision"]) == ("K/min", "2")
    assert (ctrl["Lo ctrl limit"], ctrl["Hi ctrl limit"]) == ("0.1", "100")
    assert tc.ctrl("TC:TEMP_RBV")["Units"] == "K"
    # no accepted put here: it would switch the ramp on, and the heater test needs it off
    refused = tc.caput("TC:SETPOINT_RAMP_RATE", "0")
    assert refused.returncode == 1 and "write request failed" in refused.stderr
    assert tc.caget("TC:SETPOINT_RAMPING") == "Idle"
    states = tc.tool("caget", "-d", "DBR_CTRL_ENUM", "TC:SETPOINT_RAMPING").stdout
    assert "[ 0] Idle" in states and "[ 1] Ramping" in states


def test_temperature_alarm_limits_change_at_run_time(tc):
    ctrl = tc.ctrl("TC:TEMP_RBV")
    assert (ctrl["Lo alarm limit"], ctrl["Lo warn limit"]) == ("1.5", "3")
    assert (ctrl["Hi warn limit"], ctrl["Hi alarm limit"]) == ("470", "490")
    assert float(tc.caget("TC:TEMP_RBV")) < 470  # heater off at start: near 295 K ambient
    try:
        # a HIHI below the present reading: the record processes and alarms at once
        assert tc.caput("TC:TEMP_RBV.HIHI", "250").returncode == 0
        assert tc.caget("TC:TEMP_RBV", "-a").split()[-2:] == ["HIHI", "MAJOR"]
        seen = tc.pyepics(
            "pv = epics.PV('TC:TEMP_RBV', form='ctrl'); assert pv.wait_for_connection(10)\n"
            "value = pv.get(timeout=10, use_monitor=False)\n"
            "print(json.dumps(dict(severity=pv.severity, status=pv.status,\n"
            "    hihi=pv.upper_alarm_limit, high=pv.upper_warning_limit,\n"
            "    field=epics.caget('TC:TEMP_RBV.HIHI', timeout=10))))\n")
        assert seen == {"severity": 2, "status": 3, "hihi": 250.0, "high": 470.0,
                        "field": 250.0}
    finally:
        assert tc.caput("TC:TEMP_RBV.HIHI", "490").returncode == 0
    assert tc.caget("TC:TEMP_RBV", "-a").split()[-1] not in ("MAJOR", "MINOR", "INVALID")


@pytest.fixture(scope="module")
def tc_ramping(tmp_path_factory):
    """An IOC of its own: its controller's ramp is switched on for good (no PV turns it off),
    which the tests above must not see."""
    yield from ioc_processes("iocs.temperature_controller", "TC:CONNECTED", "trio",
                             tmp_path_factory)


def test_setpoint_ramps_with_the_controllers_ramp_and_put_waits_for_it(tc_ramping):
    tc = tc_ramping
    start = wait_until(lambda: float(tc.caget("TC:SETPOINT_RBV")))  # scanned (not 0) yet
    assert tc.caput("TC:SETPOINT_RAMP_RATE", "100").returncode == 0  # K/min: 1 K in 0.6 s
    seen = tc.pyepics(
        "import time\n"
        "pv = epics.PV('TC:SETPOINT'); assert pv.wait_for_connection(10)\n"
        "began = time.monotonic()\n"
        f"pv.put({start + 1}, wait=True, timeout=30)\n"
        "elapsed = time.monotonic() - began\n"
        "print(json.dumps(dict(elapsed=elapsed, value=pv.get(use_monitor=False),\n"
        "    ramping=epics.caget('TC:SETPOINT_RAMPING', as_string=True, use_monitor=False))))\n")
    assert seen["elapsed"] >= 0.5  # completion came at the end of the 0.6 s ramp, not before
    assert seen["value"] == start + 1 and seen["ramping"] == "Idle"
    wait_until(lambda: float(tc.caget("TC:SETPOINT_RBV")) == start + 1, timeout=FOLLOW_TIMEOUT)


def test_ramp_stop_ends_the_controllers_ramp_where_it_is(tc_ramping):
    tc = tc_ramping
    start = wait_until(lambda: float(tc.caget("TC:SETPOINT")))  # scanned (not 0) yet
    assert tc.caput("TC:SETPOINT_RAMP_RATE", "6").returncode == 0  # 0.1 K/s
    target = start + 50
    put = tc.start_tool("caput", "-c", "-w", "60", "TC:SETPOINT", str(target))
    try:
        wait_until(lambda: tc.caget("TC:SETPOINT_RAMPING") == "Ramping",
                   timeout=FOLLOW_TIMEOUT)
        assert tc.caput("TC:SETPOINT_RAMP_STOP", "Stop").returncode == 0
        assert put.wait(FOLLOW_TIMEOUT) == 0  # the waiting put completes when it stops
    finally:
        put.kill()
        put.wait()
    stopped = float(tc.caget("TC:SETPOINT"))
    assert start < stopped < target
    assert tc.caget("TC:SETPOINT_RAMPING") == "Idle"
    wait_until(lambda: float(tc.caget("TC:SETPOINT_RBV")) == stopped, timeout=FOLLOW_TIMEOUT)
    refused = tc.caput("TC:SETPOINT", "600")  # out of range: no ramp starts
    assert refused.returncode == 1 and tc.caget("TC:SETPOINT_RAMPING") == "Idle"
