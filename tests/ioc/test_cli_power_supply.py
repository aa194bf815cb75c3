"""``python -m iocs.power_supply`` (on its built-in simulator) on asyncio, curio and trio,
driven by caget/caput/camonitor/cainfo and by pyepics; one IOC process per async library."""

from __future__ import annotations

import time

import pytest

from iocs.power_supply import PowerSupplyIOC

from ._cli_process import (
    ASYNC_LIBS,
    SIMULATOR_NOTICE,
    assert_logged_pv_list,
    ioc_processes,
    monitored_values,
)
from ._wait import wait_until

REFUSED = "write request failed"


@pytest.fixture(scope="module", params=ASYNC_LIBS)
def psu(request, tmp_path_factory):
    yield from ioc_processes("iocs.power_supply", "PSU:CONNECTED", request.param,
                             tmp_path_factory)


def settles(psu, pv: str, target: float, tolerance: float = 0.05, timeout: float = 15.0):
    """Poll ``caget pv`` until within ``tolerance`` of ``target``; returns the value."""
    return wait_until(lambda: (abs(float(psu.caget(pv)) - target) <= tolerance
                               and float(psu.caget(pv))), timeout=timeout)


def test_log_lists_the_pvs_and_says_the_simulator_runs(psu):
    assert SIMULATOR_NOTICE in psu.log()
    assert_logged_pv_list(psu, PowerSupplyIOC)


def test_voltage_setpoint_reaches_the_readback(psu):
    assert psu.caput("PSU:OUTPUT", "On").returncode == 0
    result = psu.caput("PSU:VOLT", "7.5")
    assert result.returncode == 0, result.stderr
    assert float(psu.caget("PSU:VOLT")) == 7.5
    assert settles(psu, "PSU:VOLT_RBV", 7.5) == pytest.approx(7.5, abs=0.05)


def test_current_limit_put_and_its_drive_limit(psu):
    assert psu.caput("PSU:CURR", "1.25").returncode == 0
    assert float(psu.caget("PSU:CURR")) == 1.25
    result = psu.caput("PSU:CURR", "5.5")  # limits 0..5 A
    assert result.returncode == 1 and REFUSED in result.stderr
    assert float(psu.caget("PSU:CURR")) == 1.25


@pytest.mark.parametrize("value", ["31", "-0.001"])
def test_out_of_range_put_is_refused_and_the_old_value_kept(psu, value):
    old = psu.caget("PSU:VOLT")
    result = psu.caput("PSU:VOLT", value)
    assert result.returncode == 1, result.stdout
    assert REFUSED in result.stderr
    assert psu.caget("PSU:VOLT") == old


def test_malformed_put_is_refused_and_the_old_value_kept(psu):
    old = psu.caget("PSU:VOLT")
    with_completion = psu.caput("PSU:VOLT", "abc")
    assert with_completion.returncode == 1 and REFUSED in with_completion.stderr
    # a plain put has no reply to fail; the server's CA exception message may arrive after
    # caput has exited, so only the kept value is checked
    psu.caput("PSU:VOLT", "abc", completion=False)
    assert psu.caget("PSU:VOLT") == old


def test_native_type_units_precision_and_limits(psu):
    info = psu.tool("cainfo", "PSU:VOLT", "PSU:VOLT_RBV", "PSU:OUTPUT", "PSU:IDN")
    assert info.returncode == 0, info.stderr
    blocks = {}  # cainfo prints each PV's name unindented, then its indented fields
    for line in info.stdout.splitlines():
        if line and not line[0].isspace():
            name = line.strip()
            blocks[name] = ""
        blocks[name] += line + "\n"
    assert "Native data type: DBF_DOUBLE" in blocks["PSU:VOLT"]
    assert "Access:           read, write" in blocks["PSU:VOLT"]
    assert "Access:           read, no write" in blocks["PSU:VOLT_RBV"]
    assert "Native data type: DBF_ENUM" in blocks["PSU:OUTPUT"]
    assert "Native data type: DBF_STRING" in blocks["PSU:IDN"]
    ctrl = psu.ctrl("PSU:VOLT")
    assert (ctrl["Units"], ctrl["Precision"]) == ("V", "3")
    assert (ctrl["Lo ctrl limit"], ctrl["Hi ctrl limit"]) == ("0", "30")
    assert (ctrl["Lo disp limit"], ctrl["Hi disp limit"]) == ("0", "30")
    assert psu.ctrl("PSU:CURR")["Units"] == "A"


def test_enum_output_accepts_state_names_and_indices(psu):
    for given, expected in (("Off", "Off"), ("1", "On"), ("0", "Off"), ("On", "On")):
        result = psu.caput("PSU:OUTPUT", given)
        assert result.returncode == 0, result.stderr
        assert psu.caget("PSU:OUTPUT") == expected
    wait_until(lambda: psu.caget("PSU:OUTPUT_RBV") == "On")
    unknown = psu.caput("PSU:OUTPUT", "Sideways")  # caput checks names against the states
    assert unknown.returncode == 1 and "invalid" in unknown.stderr
    no_such_index = psu.caput("PSU:OUTPUT", "5")  # the server refuses this one
    assert no_such_index.returncode == 1 and REFUSED in no_such_index.stderr
    assert psu.caget("PSU:OUTPUT") == "On"
    enum_info = psu.tool("caget", "-d", "DBR_CTRL_ENUM", "PSU:OUTPUT").stdout
    assert "[ 0] Off" in enum_info and "[ 1] On" in enum_info


def test_camonitor_sees_the_readback_move(psu):
    assert psu.caput("PSU:OUTPUT", "On").returncode == 0

    def put_setpoint() -> None:
        assert psu.caput("PSU:VOLT", "12").returncode == 0

    lines = psu.monitor(["PSU:VOLT_RBV"], action=put_setpoint,
                        done=lambda lines: abs(float(monitored_values(lines)[-1]) - 12) < 0.05)
    values = [float(v) for v in monitored_values(lines)]
    assert len(set(values)) >= 2 and values[0] != values[-1]


def test_health_pvs(psu):
    assert psu.caget("PSU:CONNECTED") == "Connected"
    assert psu.caget("PSU:ERROR_COUNT") == "0"  # PV limits refuse before the device sees it
    assert psu.caget("PSU:LAST_ERROR", "-S") == ""
    assert psu.caget("PSU:IDN").startswith("iocgate,PSU-3005")
    assert psu.ctrl("PSU:SCAN_TIME")["Units"] == "s"


def test_pyepics_agrees_with_caget(psu):
    seen = psu.pyepics(
        "volt = epics.PV('PSU:VOLT'); assert volt.wait_for_connection(10)\n"
        "ctrl = volt.get_ctrlvars(timeout=10)\n"
        "print(json.dumps(dict(\n"
        "    put=epics.caput('PSU:CURR', 2.5, wait=True, timeout=10),\n"
        "    curr=epics.caget('PSU:CURR', timeout=10, use_monitor=False),\n"
        "    volt_text=epics.caget('PSU:VOLT', as_string=True, timeout=10),\n"
        "    output_text=epics.caget('PSU:OUTPUT', as_string=True, timeout=10),\n"
        "    units=ctrl['units'], precision=ctrl['precision'],\n"
        "    limits=[ctrl['lower_ctrl_limit'], ctrl['upper_ctrl_limit']])))\n")
    assert seen["put"] == 1 and seen["curr"] == 2.5
    assert float(psu.caget("PSU:CURR")) == 2.5
    ctrl = psu.ctrl("PSU:VOLT")
    assert seen["units"] == ctrl["Units"] == "V"
    assert seen["precision"] == int(ctrl["Precision"]) == 3
    assert seen["limits"] == [0.0, 30.0]
    volt_text = seen["volt_text"]
    assert len(volt_text.split(".")[1]) == 3  # formatted with PREC
    assert float(volt_text) == float(psu.caget("PSU:VOLT"))
    assert seen["output_text"] == psu.caget("PSU:OUTPUT")


def test_volt_ramp_pvs_units_and_limits(psu):
    rate = psu.ctrl("PSU:VOLT_RAMP_RATE")
    assert (rate["Units"], rate["Precision"]) == ("V/s", "3")
    assert (rate["Lo ctrl limit"], rate["Hi ctrl limit"]) == ("0", "30")
    refused = psu.caput("PSU:VOLT_RAMP_RATE", "31")
    assert refused.returncode == 1 and REFUSED in refused.stderr
    assert psu.caget("PSU:VOLT_RAMP_RATE") == "0"  # no ramp unless asked for
    assert psu.caget("PSU:VOLT_RAMPING") == "Idle"


def test_volt_ramps_at_its_rate_and_caput_completes_at_the_end(psu):
    assert psu.caput("PSU:VOLT", "1").returncode == 0  # rate 0: written at once
    assert psu.caput("PSU:VOLT_RAMP_RATE", "4").returncode == 0  # V/s: 1 V in 0.25 s
    durations = []

    def ramp_up() -> None:
        began = time.monotonic()
        result = psu.caput("PSU:VOLT", "2")
        durations.append(time.monotonic() - began)
        assert result.returncode == 0, result.stderr

    try:
        lines = psu.monitor(["PSU:VOLT_RAMPING"], action=ramp_up,
                            done=lambda lines: monitored_values(lines)[-1] == "Idle"
                            and len(lines) >= 3)
        refused = psu.caput("PSU:VOLT", "31")  # out of range: refused, no ramp starts
        assert refused.returncode == 1 and psu.caget("PSU:VOLT_RAMPING") == "Idle"
    finally:
        assert psu.caput("PSU:VOLT_RAMP_RATE", "0").returncode == 0
    assert monitored_values(lines)[:3] == ["Idle", "Ramping", "Idle"]
    assert durations[0] >= 0.2  # caput -c returned when the ramp ended, not before
    assert float(psu.caget("PSU:VOLT")) == 2.0


def test_volt_ramp_stop_leaves_the_setpoint_where_the_ramp_was(psu):
    assert psu.caput("PSU:VOLT", "1").returncode == 0
    assert psu.caput("PSU:VOLT_RAMP_RATE", "0.5").returncode == 0
    put = psu.start_tool("caput", "-c", "-w", "60", "PSU:VOLT", "11")
    try:
        wait_until(lambda: psu.caget("PSU:VOLT_RAMPING") == "Ramping")
        assert psu.caput("PSU:VOLT_RAMP_STOP", "Stop").returncode == 0
        assert put.wait(15) == 0  # the waiting put completes when the ramp stops
    finally:
        put.kill()
        put.wait()
        assert psu.caput("PSU:VOLT_RAMP_RATE", "0").returncode == 0
    stopped = float(psu.caget("PSU:VOLT"))
    assert 1 <= stopped < 11  # a 10 V ramp at 0.5 V/s ended (20 s) long before its target
    assert psu.caget("PSU:VOLT_RAMPING") == "Idle"
    assert psu.caget("PSU:VOLT_RAMP_STOP") == "Ready"
