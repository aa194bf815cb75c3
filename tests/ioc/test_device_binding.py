"""Node-bound PVs against the SCPI power-supply simulator, in-process, on caproto's server:
puts reach the instrument and come back in the readback; faults raise alarms that recovery
clears; device refusals fail the put and keep the old value; put completion can wait for the
readback to settle."""

from __future__ import annotations

import logging

import pytest
from caproto import AlarmSeverity, AlarmStatus

from devices.power_supply import PowerSupplySimulator
from iocgate import pvproperty
from iocs.power_supply import PowerSupplyIOC

from ._wait import wait_until

REPLY_TIMEOUT = 1.5  # s: short so fault tests are quick, long enough for a loaded machine


class WideLimitsPSU(PowerSupplyIOC):
    """Drive limits wider than the instrument's, so the instrument itself refuses."""

    curr = pvproperty(name="CURR", node="CURR", readback="MEAS:CURR", value=0.0, units="A",
                      precision=3, limits=(0.0, 50.0), doc="Current limit (wide PV limits)")
    volt = pvproperty(name="VOLT", node="VOLT", readback="MEAS:VOLT", value=0.0, units="V",
                      precision=3, limits=(0.0, 30.0), tolerance=0.05, settle_timeout=5.0,
                      doc="Voltage setpoint; put completes when the readback settles")


@pytest.fixture
def simulator():
    sim = PowerSupplySimulator(port=0)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def psu(ioc_factory, simulator):
    config = WideLimitsPSU.device_config
    device = config.open({"host": "127.0.0.1", "port": simulator.port}, REPLY_TIMEOUT)
    ioc = ioc_factory(WideLimitsPSU, device=device, scan_period=0.1)
    wait_until(lambda: ioc.value("CONNECTED") == "Connected")
    return ioc


def last_error(ioc) -> str:
    """LAST_ERROR, a long string (CHAR waveform), as ``caget -S`` prints it."""
    return bytes(ioc.pv("LAST_ERROR").read().data).split(b"\0", 1)[0].decode("latin-1")


def alarm(ioc, suffix):
    md = ioc.get(suffix, data_type="time").metadata
    return AlarmStatus(md.status), AlarmSeverity(md.severity)


def test_put_reaches_device_and_readback(psu, simulator):
    psu.put("OUTPUT", "On")
    psu.put("VOLT", [4.0])  # completes once VOLT_RBV is within 0.05 V of 4 V
    assert simulator.state.get("volt") == pytest.approx(4.0)
    assert psu.value("VOLT_RBV") == pytest.approx(4.0, abs=0.05)
    assert psu.value("OUTPUT_RBV") == "On"
    assert psu.value("VOLT") == pytest.approx(4.0)


def test_device_refusal_fails_put_and_keeps_value(psu, simulator):
    psu.put("CURR", [2.0])
    assert simulator.state.get("curr") == pytest.approx(2.0)
    errors_before = psu.value("ERROR_COUNT")
    refused = psu.caput("CURR", 20)  # the simulator's maximum is 5 A
    assert refused.returncode == 1 and "write request failed" in refused.stderr
    assert simulator.state.get("curr") == pytest.approx(2.0)
    assert psu.value("CURR") == pytest.approx(2.0)
    assert psu.value("ERROR_COUNT") == errors_before + 1
    # the whole message reaches CA clients, not a 40-character DBR_STRING
    assert "-222" in last_error(psu) and last_error(psu).endswith("while executing 'CURR 20.0'")


def test_out_of_limits_put_never_reaches_device(psu, simulator):
    simulator.clear_received()
    refused = psu.caput("VOLT", 31)
    assert refused.returncode == 1 and "write request failed" in refused.stderr
    assert not any(line.upper().startswith("VOLT ") for line in simulator.received)
    assert psu.value("VOLT") == pytest.approx(0.0)


@pytest.mark.parametrize("fault, status", [("withhold", AlarmStatus.TIMEOUT),
                                           ("garbage", AlarmStatus.COMM)])
def test_fault_raises_alarm_keeps_value_and_recovers(psu, simulator, fault, status):
    psu.put("OUTPUT", "On")
    wait_until(lambda: psu.value("OUTPUT_RBV") == "On")
    good = psu.value("IDN")
    setattr(simulator.faults, fault, True)
    wait_until(lambda: alarm(psu, "VOLT_RBV") == (status, AlarmSeverity.INVALID_ALARM))
    assert psu.value("IDN") == good
    assert last_error(psu)
    assert psu.value("ERROR_COUNT") > 0
    if fault == "withhold":
        wait_until(lambda: psu.value("CONNECTED") == "Disconnected")
    simulator.faults.clear()
    wait_until(lambda: alarm(psu, "VOLT_RBV") == (AlarmStatus.NO_ALARM,
                                                  AlarmSeverity.NO_ALARM))
    wait_until(lambda: psu.value("CONNECTED") == "Connected")
    assert last_error(psu) == ""


def test_put_while_device_hangs_fails_and_keeps_value(psu, simulator):
    simulator.faults.withhold = True
    refused = psu.caput("CURR", 1.0)
    assert refused.returncode == 1 and "write request failed" in refused.stderr
    assert psu.value("CURR") == pytest.approx(simulator.state.get("curr"))


class QuickSettlePSU(WideLimitsPSU):
    volt = pvproperty(name="VOLT", node="VOLT", readback="MEAS:VOLT", value=0.0, units="V",
                      precision=3, limits=(0.0, 30.0), tolerance=0.05, settle_timeout=0.5,
                      doc="Voltage setpoint; put completes when the readback settles")


def test_a_readback_that_never_settles_fails_the_put_and_says_why(ioc_factory, simulator,
                                                                   caplog):
    config = QuickSettlePSU.device_config
    device = config.open({"host": "127.0.0.1", "port": simulator.port}, REPLY_TIMEOUT)
    ioc = ioc_factory(QuickSettlePSU, device=device, scan_period=0.1)
    ioc.put("OUTPUT", "On")
    ioc.put("CURR", [0.1])  # 0.1 A into the 10 ohm load: the output stops at 1 V
    errors_before = ioc.value("ERROR_COUNT")
    caplog.set_level(logging.WARNING, logger="iocgate.ioc")
    assert ioc.caput("VOLT", 4.0).returncode == 1
    assert simulator.state.get("volt") == pytest.approx(4.0)  # the device took it
    assert any("PSU:VOLT: put of 4.0 failed" in record.getMessage()
               and "did not settle" in record.getMessage() for record in caplog.records)
    assert ioc.value("ERROR_COUNT") == errors_before + 1
    polls = len(simulator.received)  # two more scan passes begun: the first one ended clean
    wait_until(lambda: sum(cmd.startswith("VOLT?") for cmd in simulator.received[polls:]) >= 2)
    assert "did not settle" in last_error(ioc)  # a put's fault, not the link's: it stays


def test_put_while_device_hangs_is_logged_as_a_device_timeout(psu, simulator, caplog):
    caplog.set_level(logging.WARNING, logger="iocgate.ioc")
    simulator.faults.withhold = True
    assert psu.caput("CURR", 1.0).returncode == 1
    refusals = [record.getMessage() for record in caplog.records
                if record.getMessage().startswith(psu.prefix + "CURR: put of")]
    assert refusals and "no reply within" in refusals[-1], refusals


def test_reconnects_after_restart(psu, simulator):
    simulator.stop()
    wait_until(lambda: alarm(psu, "VOLT_RBV")[1] == AlarmSeverity.INVALID_ALARM)
    wait_until(lambda: psu.value("CONNECTED") == "Disconnected")
    simulator.restart()
    wait_until(lambda: psu.value("CONNECTED") == "Connected", timeout=15)
    wait_until(lambda: alarm(psu, "VOLT_RBV") == (AlarmStatus.NO_ALARM,
                                                  AlarmSeverity.NO_ALARM))
    psu.put("CURR", [1.5])
    assert simulator.state.get("curr") == pytest.approx(1.5)
