"""Alarm limits on readings: the pure ai-record evaluation, and one sequence of readings and
record-field puts run against an iocgate IOC and against a C softIoc ai record, compared
step by step with ``caget -d DBR_CTRL_DOUBLE``."""

from __future__ import annotations

import math
import subprocess
from typing import Dict, List, Tuple

import pytest
from caproto import AlarmSeverity as Sev, AlarmStatus as Stat

from iocgate import DeviceGroup, pvproperty
from iocgate._errors import DeviceTimeout
from iocgate.ioc._limits import AlarmLimits, check_limits, ctrl_metadata
from iocgate.nodes import ValueNode
from iocgate.testing import epics_tool, free_port, subprocess_env

from ._wait import wait_until

LIMITS = AlarmLimits(lolo=5.0, low=10.0, high=350.0, hihi=400.0)


@pytest.mark.parametrize("readings, expected", [
    # plain crossings, HIHI tried before HIGH, LOLO before LOW
    ([300, 360, 400, 10, 5, 4], [(Stat.NO_ALARM, Sev.NO_ALARM), (Stat.HIGH, Sev.MINOR_ALARM),
                                 (Stat.HIHI, Sev.MAJOR_ALARM), (Stat.LOW, Sev.MINOR_ALARM),
                                 (Stat.LOLO, Sev.MAJOR_ALARM), (Stat.LOLO, Sev.MAJOR_ALARM)]),
    # NaN is in no alarm range (every comparison is false), as in C
    ([math.nan], [(Stat.NO_ALARM, Sev.NO_ALARM)]),
])
def test_limits_without_hysteresis(readings, expected):
    lalm = 0.0
    seen = []
    for reading in readings:
        status, severity, lalm = check_limits(reading, LIMITS, lalm)
        seen.append((status, severity))
    assert seen == expected


def test_hysteresis_keeps_the_alarm_that_was_raised():
    limits = AlarmLimits(lolo=5.0, low=10.0, high=350.0, hihi=400.0, hyst=10.0)
    steps = [(405, Stat.HIHI), (391, Stat.HIHI), (389, Stat.HIGH), (341, Stat.HIGH),
             (339, Stat.NO_ALARM), (345, Stat.NO_ALARM),  # entering needs the limit itself
             (12, Stat.NO_ALARM), (10, Stat.LOW), (19, Stat.LOW), (21, Stat.NO_ALARM)]
    lalm = 0.0
    for reading, status in steps:
        got, _, lalm = check_limits(reading, limits, lalm)
        assert got == status, reading


def test_a_limit_with_no_alarm_severity_is_off_and_reported_as_nan():
    limits = AlarmLimits(lolo=5.0, low=10.0, high=350.0, hihi=400.0, hhsv=Sev.NO_ALARM)
    assert check_limits(500, limits, 0.0)[:2] == (Stat.HIGH, Sev.MINOR_ALARM)
    ctrl = ctrl_metadata(limits)
    assert math.isnan(ctrl["upper_alarm_limit"]) and ctrl["upper_warning_limit"] == 350


@pytest.mark.parametrize("kwargs, message", [
    ({"alarm_limits": (1, 2, 3)}, "lolo, low, high, hihi"),
    ({"alarm_limits": (4, 3, 2, 1)}, "ascending"),
    ({"alarm_limits": (1, 2, 3, 4), "alarm_severities": ("MAJOR", "LOUD", "MINOR", "MAJOR")},
     "not an alarm severity"),
    ({"alarm_limits": (1, 2, 3, 4), "alarm_hysteresis": -1}, ">= 0"),
])
def test_bad_declarations_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pvproperty(name="X", **kwargs)
    with pytest.raises(TypeError, match="numeric"):
        pvproperty(name="S", dtype=str, alarm_limits=(1, 2, 3, 4))


class Thermometer(DeviceGroup):
    """One bound reading with alarm limits; the device is an in-memory value."""

    temp_rbv = pvproperty(name="TEMP_RBV", node=lambda device: device, read_only=True,
                          units="K", precision=3, alarm_limits=(5.0, 10.0, 350.0, 400.0),
                          doc="Temperature")


SOFTIOC_DB = """record(ai, "TEMP_RBV") {
  field(EGU, "K")
  field(PREC, "3")
  field(LOLO, "5")
  field(LOW, "10")
  field(HIGH, "350")
  field(HIHI, "400")
  field(LLSV, "MAJOR")
  field(LSV, "MINOR")
  field(HSV, "MINOR")
  field(HHSV, "MAJOR")
}
"""

#: ("value", reading) or (".FIELD", put): the same sequence for both servers
SEQUENCE: List[Tuple[str, str]] = [
    ("value", "295"), (".HIHI", "290"), (".HYST", "10"), ("value", "285"),
    (".HIGH", "270"), ("value", "279"), ("value", "262"), ("value", "255"),
    (".HSV", "MAJOR"), ("value", "271"), (".HHSV", "NO_ALARM"), ("value", "300"),
    ("value", "3"), (".LLSV", "INVALID"), ("value", "7"), ("value", "20"),
]
EXPECTED = ["NO_ALARM/NO_ALARM", "HIHI/MAJOR", "HIHI/MAJOR", "HIHI/MAJOR",
            "HIHI/MAJOR", "HIGH/MINOR", "HIGH/MINOR", "NO_ALARM/NO_ALARM",
            "NO_ALARM/NO_ALARM", "HIGH/MAJOR", "HIGH/MAJOR", "HIGH/MAJOR",
            "LOLO/MAJOR", "LOLO/INVALID", "LOLO/INVALID", "NO_ALARM/NO_ALARM"]
CTRL_KEYS = ("Value", "Status", "Severity", "Lo alarm limit", "Lo warn limit",
             "Hi warn limit", "Hi alarm limit")


def ctrl(env: Dict[str, str], pv: str) -> Dict[str, str]:
    out = subprocess.run([str(epics_tool("caget")), "-d", "DBR_CTRL_DOUBLE", pv], env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    fields = dict(line.strip().split(":", 1) for line in out.stdout.splitlines()[1:])
    return {key: fields[key].strip() for key in CTRL_KEYS}


def caput(env: Dict[str, str], pv: str, value: str) -> None:
    out = subprocess.run([str(epics_tool("caput")), "-c", "-w", "10", pv, value], env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr


@pytest.fixture
def softioc(tmp_path):
    db = tmp_path / "limits.db"
    db.write_text(SOFTIOC_DB)
    port = free_port()
    env = subprocess_env(port)
    proc = subprocess.Popen([str(epics_tool("softIoc")), "-S", "-d", str(db)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: subprocess.run([str(epics_tool("caget")), "-w", "0.5", "TEMP_RBV"],
                                          env=env, capture_output=True,
                                          timeout=20).returncode == 0, timeout=30)
        yield env
    finally:
        proc.terminate()
        proc.wait(15)


def test_readings_and_field_puts_alarm_as_a_softioc_ai_record(ioc_factory, softioc):
    node = ValueNode(0.0)
    ioc = ioc_factory(Thermometer, device=node, scan_period=0.05)
    ours = subprocess_env(ioc.port)
    seen = []
    for step, (what, text) in enumerate(SEQUENCE):
        if what == "value":
            caput(softioc, "TEMP_RBV", text)
            node.set(float(text))
            wait_until(lambda reading=float(text): ioc.value("TEMP_RBV") == reading)
        else:
            caput(softioc, "TEMP_RBV" + what, text)
            caput(ours, "TEMP_RBV" + what, text)
        got = ctrl(ours, "TEMP_RBV")
        assert got == ctrl(softioc, "TEMP_RBV"), (step, what, text)
        seen.append(f"{got['Status']}/{got['Severity']}")
    assert seen == EXPECTED
    for field in ("HIHI", "HSV", "HYST", "LALM"):
        got = ioc.run_tool("caget", "-t", "TEMP_RBV." + field).stdout.strip()
        want = subprocess.run([str(epics_tool("caget")), "-t", "TEMP_RBV." + field],
                              env=softioc, capture_output=True, text=True, timeout=20)
        assert got == want.stdout.strip(), field


class FailingValue(ValueNode):
    """An in-memory reading that raises DeviceTimeout while ``failing`` is set."""

    failing = False

    def get(self):
        if self.failing:
            raise DeviceTimeout("no reply", timeout=0.1, endpoint="test")
        return super().get()


def test_a_device_alarm_takes_precedence_over_limits(ioc_factory):
    node = FailingValue(420.0)
    ioc = ioc_factory(Thermometer, device=node, scan_period=0.05)

    def alarm():
        md = ioc.get("TEMP_RBV", data_type="time").metadata
        return Stat(md.status), Sev(md.severity)

    wait_until(lambda: alarm() == (Stat.HIHI, Sev.MAJOR_ALARM))
    node.failing = True
    wait_until(lambda: alarm() == (Stat.TIMEOUT, Sev.INVALID_ALARM))
    assert ioc.caput("TEMP_RBV.HIHI", 500).returncode == 0  # would clear HIHI, were it readable
    assert ioc.caput("TEMP_RBV.HIGH", 300).returncode == 0
    assert alarm() == (Stat.TIMEOUT, Sev.INVALID_ALARM)
    ctrl = ioc.get("TEMP_RBV", data_type="control").metadata
    assert (ctrl.upper_alarm_limit, ctrl.upper_warning_limit) == (500, 300)
    node.failing = False  # the next reading is judged by the new limits
    wait_until(lambda: alarm() == (Stat.HIGH, Sev.MINOR_ALARM))
