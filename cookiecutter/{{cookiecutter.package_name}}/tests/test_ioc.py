"""The IOC on its simulator, served in-process on a free loopback port."""

import time

import pytest
from caproto import AlarmSeverity

from {{ cookiecutter.package_name }} import {{ cookiecutter.class_name }}


def wait_until(probe, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def ioc(ioc_factory):
    ioc = ioc_factory({{ cookiecutter.class_name }}, scan_period=0.1)
    wait_until(lambda: ioc.value("CONNECTED") == "Connected")
    return ioc


def test_starts_without_alarms(ioc):
    for pv in ("SETPOINT", "SETPOINT_RBV", "READING"):
        assert ioc.get(pv, data_type="time").metadata.severity == AlarmSeverity.NO_ALARM, pv
    assert ioc.value("SETPOINT") == pytest.approx({{ cookiecutter.low_limit }})


def test_setpoint_reaches_instrument_and_reading(ioc):
    target = ({{ cookiecutter.low_limit }} + {{ cookiecutter.high_limit }}) / 2
    ioc.put("SETPOINT", [target])
    wait_until(lambda: ioc.value("READING") == pytest.approx(target))
    assert ioc.value("SETPOINT_RBV") == pytest.approx(target)


def test_out_of_limits_put_is_refused(ioc):
    refused = ioc.caput("SETPOINT", {{ cookiecutter.high_limit }} + 1)
    assert refused.returncode == 1
    assert ioc.value("SETPOINT") == pytest.approx({{ cookiecutter.low_limit }})


def test_hung_instrument_raises_alarm_then_recovers(ioc):
    ioc.simulation.handle.faults.withhold = True
    wait_until(lambda: ioc.get("READING", data_type="time").metadata.severity
               == AlarmSeverity.INVALID_ALARM)
    ioc.simulation.handle.faults.clear()
    wait_until(lambda: ioc.get("READING", data_type="time").metadata.severity
               == AlarmSeverity.NO_ALARM)
