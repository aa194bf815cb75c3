"""EPICS alarm limits on readings: HIHI/HIGH/LOW/LOLO with severities and hysteresis, as an
ai record's ``checkAlarms`` evaluates them, and the record fields that change them at run time.

:func:`check_limits` is pure. The rest joins it to a caproto channel: the limits live in the
PV's record fields (``.HIHI .HIGH .LOW .LOLO .HHSV .HSV .LSV .LLSV .HYST``, the last alarmed
value in ``.LALM``), and DBR_CTRL/GR report a limit only while its severity is not NO_ALARM
(NaN otherwise), as EPICS base 7 does.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, replace
from typing import Any, Dict, Optional, Tuple

from caproto import AlarmSeverity, AlarmStatus

#: record field attribute (caproto's ai/ao/longin/longout field groups) for each limit setting
FIELD_ATTRS = {
    "lolo": "lolo_alarm_limit", "low": "low_alarm_limit", "high": "high_alarm_limit",
    "hihi": "hihi_alarm_limit", "llsv": "lolo_severity", "lsv": "low_severity",
    "hsv": "high_severity", "hhsv": "hihi_severity", "hyst": "alarm_deadband",
}
LALM_ATTR = "last_value_alarmed"
#: the statuses limits raise (and NO_ALARM); any other alarm on a PV is the device's
LIMIT_STATUSES = frozenset({AlarmStatus.NO_ALARM, AlarmStatus.HIHI, AlarmStatus.HIGH,
                            AlarmStatus.LOW, AlarmStatus.LOLO})
_SEVERITY_NAMES = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")  # EPICS menuAlarmSevr
_SEVERITY_KEYS = ("llsv", "lsv", "hsv", "hhsv")
_CTRL_KEYS = (("lolo", "llsv", "lower_alarm_limit"), ("low", "lsv", "lower_warning_limit"),
              ("high", "hsv", "upper_warning_limit"), ("hihi", "hhsv", "upper_alarm_limit"))


@dataclass(frozen=True)
class AlarmLimits:
    """Alarm limits of one PV, in its units.

    Attributes:
        lolo, low, high, hihi: the limits (a reading at or beyond one is in that alarm).
        llsv, lsv, hsv, hhsv: the severity of each; NO_ALARM switches that limit off.
        hyst: alarm deadband: an alarm clears only once the reading is ``hyst`` inside the
            limit that raised it.
    """

    lolo: float
    low: float
    high: float
    hihi: float
    llsv: AlarmSeverity = AlarmSeverity.MAJOR_ALARM
    lsv: AlarmSeverity = AlarmSeverity.MINOR_ALARM
    hsv: AlarmSeverity = AlarmSeverity.MINOR_ALARM
    hhsv: AlarmSeverity = AlarmSeverity.MAJOR_ALARM
    hyst: float = 0.0

    @classmethod
    def declared(cls, limits: Tuple[float, float, float, float],
                 severities: Optional[Tuple[Any, Any, Any, Any]] = None,
                 hysteresis: float = 0.0) -> AlarmLimits:
        """From ``pvproperty(alarm_limits=(lolo, low, high, hihi), alarm_severities=...,
        alarm_hysteresis=...)``.

        Raises:
            ValueError: not four numbers, not ordered lolo <= low <= high <= hihi, a
                severity that is none of NO_ALARM/MINOR/MAJOR/INVALID, or hysteresis < 0.
        """
        values = tuple(float(limit) for limit in limits)
        if len(values) != 4 or any(math.isnan(v) for v in values) or list(values) != sorted(
                values):
            raise ValueError(f"alarm_limits must be (lolo, low, high, hihi) in ascending "
                             f"order, not {limits!r}")
        if not hysteresis >= 0:
            raise ValueError(f"alarm_hysteresis must be >= 0, not {hysteresis!r}")
        kwargs: Dict[str, Any] = dict(zip(("lolo", "low", "high", "hihi"), values))
        if severities is not None:
            if len(severities) != 4:
                raise ValueError("alarm_severities must be (llsv, lsv, hsv, hhsv)")
            kwargs.update(zip(("llsv", "lsv", "hsv", "hhsv"),
                              (parse_severity(sev) for sev in severities)))
        return cls(hyst=float(hysteresis), **kwargs)


def parse_severity(value: Any) -> AlarmSeverity:
    """An AlarmSeverity from itself, its index, or a menuAlarmSevr name (``"MAJOR"``).

    Raises:
        ValueError: none of these.
    """
    if isinstance(value, str):
        name = value.strip().upper()
        if name in _SEVERITY_NAMES:
            return AlarmSeverity(_SEVERITY_NAMES.index(name))
        if name.isdigit():
            value = int(name)
    try:
        return AlarmSeverity(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an alarm severity {_SEVERITY_NAMES}") from None


def check_limits(value: float, limits: AlarmLimits, lalm: float
                 ) -> Tuple[AlarmStatus, AlarmSeverity, float]:
    """Evaluate a reading as EPICS' aiRecord ``checkAlarms`` does.

    HIHI, LOLO, HIGH, LOW are tried in that order; a limit with severity NO_ALARM is off.
    Hysteresis keeps the alarm that raised ``lalm`` while the reading is within ``hyst``
    of that limit.

    Args:
        value: the reading.
        limits: the PV's limits.
        lalm: the last alarmed value (LALM) from the previous evaluation.

    Returns:
        ``(status, severity, new lalm)``: the limit that raised the alarm, or the value itself
        when there is none.
    """
    hyst = limits.hyst
    for status, limit, severity, above in (
            (AlarmStatus.HIHI, limits.hihi, limits.hhsv, True),
            (AlarmStatus.LOLO, limits.lolo, limits.llsv, False),
            (AlarmStatus.HIGH, limits.high, limits.hsv, True),
            (AlarmStatus.LOW, limits.low, limits.lsv, False)):
        if not severity:
            continue
        if above:
            hit = value >= limit or (lalm == limit and value >= limit - hyst)
        else:
            hit = value <= limit or (lalm == limit and value <= limit + hyst)
        if hit:
            return status, severity, limit
    return AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM, value


def ctrl_metadata(limits: AlarmLimits) -> Dict[str, float]:
    """DBR_CTRL/GR alarm and warning limits: NaN for a limit whose severity is NO_ALARM."""
    return {key: getattr(limits, attr) if getattr(limits, sev) else math.nan
            for attr, sev, key in _CTRL_KEYS}


class LimitState:
    """The limits and LALM of one PV at run time (what its record fields show)."""

    __slots__ = ("limits", "lalm")

    def __init__(self, limits: AlarmLimits):
        self.limits = limits
        self.lalm = 0.0


_STATES: weakref.WeakKeyDictionary[Any, LimitState] = weakref.WeakKeyDictionary()


def limit_state(channel: Any, declared: AlarmLimits) -> LimitState:
    """The run-time limits of ``channel`` (the declared ones until a field put changes them)."""
    state = _STATES.get(channel)
    if state is None:
        state = _STATES[channel] = LimitState(declared)
    return state


def install_fields(prop: Any, declared: AlarmLimits) -> None:
    """Serve ``prop``'s limit fields (``.HIHI`` ... ``.HYST``, ``.LALM``) from its
    :class:`LimitState`; a put to one re-evaluates the PV's alarm (see :func:`limits_changed`).
    """
    for key, attr in FIELD_ATTRS.items():
        proxy = getattr(prop.fields, attr)
        proxy.getter(_field_getter(key, declared))
        proxy.putter(_field_putter(key, declared))
    getattr(prop.fields, LALM_ATTR).getter(_lalm_getter(declared))


def _field_getter(key: str, declared: AlarmLimits) -> Any:
    async def getter(fields: Any, instance: Any) -> Any:
        value = getattr(limit_state(fields.parent, declared).limits, key)
        return _SEVERITY_NAMES[value] if key in _SEVERITY_KEYS else value

    return getter


def _field_putter(key: str, declared: AlarmLimits) -> Any:
    async def putter(fields: Any, instance: Any, value: Any) -> Any:
        new = parse_severity(value) if key in _SEVERITY_KEYS else float(value)
        state = limit_state(fields.parent, declared)
        state.limits = replace(state.limits, **{key: new})
        await limits_changed(fields.parent, state)
        return value

    return putter


def _lalm_getter(declared: AlarmLimits) -> Any:
    async def getter(fields: Any, instance: Any) -> float:
        return limit_state(fields.parent, declared).lalm

    return getter


def limit_alarm(state: LimitState, value: Any) -> Tuple[AlarmStatus, AlarmSeverity]:
    """Evaluate a new reading against ``state``'s limits; updates its LALM."""
    try:
        number = float(value[0] if isinstance(value, (list, tuple)) else value)
    except (TypeError, ValueError, IndexError):
        return AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM
    status, severity, state.lalm = check_limits(number, state.limits, state.lalm)
    return status, severity


async def limits_changed(channel: Any, state: LimitState) -> None:
    """A limit field was put: report the new limits in DBR_CTRL and re-evaluate the alarm on
    the present value, as the record's processing would. A device alarm (COMM, TIMEOUT...)
    stays: it takes precedence over limits."""
    await channel.write_metadata(**ctrl_metadata(state.limits))
    if channel.alarm.status not in LIMIT_STATUSES:
        return
    status, severity = limit_alarm(state, channel.value)
    if (channel.alarm.status, channel.alarm.severity) != (status, severity):
        await channel.write(channel.value, verify_value=False, status=status, severity=severity)
