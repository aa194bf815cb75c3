"""A fast path for the common client put: one scalar of a numeric PV's own type.

caproto's ``ChannelData.write`` runs ``preprocess_value``, ``verify_value`` (control-limit
refusal, HIHI/HIGH/LOW/LOLO evaluation), ``update_fields``, the alarm collection,
``write_metadata`` and ``publish``, which reads the value back and converts it for every
subscribed data type. When every one of those is caproto's own code (checked once per class
by the exact chain of functions behind each name) and the put is neither refused nor changes
the alarm status, all that work reduces to: store the value and a timestamp, classify the
event (deadbands) and encode it once per subscribed type.

Anything outside that domain is declined *before anything is changed*, and the caller then
runs caproto's own write, which handles it: a refused put (control limits, NaN), an alarm
status change, a putter other than ``PVGroup.group_write`` (or with its debug log enabled),
record fields with a ``value_write_hook``, sync filters and state snapshots, foreign
subscription queues.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from typing import Callable, Dict, Tuple

from caproto import ChannelAlarm, ChannelData, ChannelEnum, ChannelType

from .._compat._caproto import (
    EPICS2UNIX_EPOCH,
    FAST_PATHS,
    AlarmSeverity,
    AlarmStatus,
    ChannelNumeric,
    ConversionDirection,
    PVGroup,
    PvpropertyData,
    RecordFieldGroup,
    TimeStamp,
    backend,
    extract_data,
    fill_pending,
    metadata,
    native_type,
    read_as,
    store_value,
    subscription_queues,
)
from . import _wire as wire

_NO_ALARM = AlarmStatus.NO_ALARM
_EPICS_EPOCH = int(EPICS2UNIX_EPOCH)
_NOTHING: Dict[int, tuple] = {}
# (status below, status above, severity field below, severity field above), in the order
# ChannelNumeric.verify_value evaluates them.
_LIMIT_PAIRS = (
    ("lower_alarm_limit", "upper_alarm_limit", AlarmStatus.LOLO, AlarmStatus.HIHI,
     "lolo_severity", "hihi_severity"),
    ("lower_warning_limit", "upper_warning_limit", AlarmStatus.LOW, AlarmStatus.HIGH,
     "low_severity", "high_severity"),
)


def _chain(cls: type, name: str) -> tuple:
    """Every definition of ``name`` along the MRO of ``cls``, most derived first."""
    return tuple(klass.__dict__[name] for klass in cls.__mro__ if name in klass.__dict__)


def _chains(*classes: type, name: str) -> frozenset:
    return frozenset(_chain(cls, name) for cls in classes)


_ALLOWED: Dict[str, frozenset] = {
    name: _chains(ChannelNumeric, name=name)
    for name in ("preprocess_value", "write_metadata", "publish", "_collect_alarm",
                 "_clear_cached_alarms", "_is_eligible", "_read", "_read_metadata",
                 "status", "severity", "value", "lower_ctrl_limit", "upper_ctrl_limit",
                 "lower_alarm_limit", "upper_alarm_limit", "lower_warning_limit",
                 "upper_warning_limit", "auth_write", "check_access")
}
_ALLOWED["verify_value"] = frozenset({
    _chain(ChannelNumeric, "verify_value"),
    (PvpropertyData.verify_value,) + _chain(ChannelNumeric, "verify_value")})
_ALLOWED["update_fields"] = _chains(ChannelData, PvpropertyData, name="update_fields")
# Overridable entry points: the chain must end in caproto's and hold only registered ones.
_OVERRIDES: Dict[str, set] = {"write": {ChannelData.write},
                              "write_from_dbr": {ChannelData.write_from_dbr}}
_NO_FIELD_HOOK = _chain(RecordFieldGroup, "value_write_hook")
_ENUM_STRINGS = _chain(ChannelEnum, "enum_strings")


def register_plain_write(func: Callable) -> None:
    """Declare a ``write`` or ``write_from_dbr`` override that the fast path may bypass.

    For a one-element put of the PV's own numeric type that ``verify_value`` accepts
    unchanged, ``func`` must end up doing exactly what caproto's own method does. Examples:
    iocgate's IOC-layer ``_RefuseCleanly.write`` (only moves the verification in front of
    the write) and ``_NumericFromString.write_from_dbr`` (only handles string types itself).

    Args:
        func: the function as found in the class ``__dict__``.

    Raises:
        ValueError: ``func`` is named neither ``write`` nor ``write_from_dbr``.
    """
    if func.__name__ not in _OVERRIDES:
        raise ValueError(f"only write/write_from_dbr overrides can be registered, not {func!r}")
    _OVERRIDES[func.__name__].add(func)
    _class_ok.cache_clear()


def _default_putter(putter) -> bool:
    return putter is None or getattr(putter, "__func__", None) is PVGroup.group_write


@functools.cache
def _plain_enum(cls: type) -> bool:
    """Whether a severity field of class ``cls`` has caproto's own ``value`` and
    ``enum_strings`` (which read ``_data``)."""
    return (_chain(cls, "value") == _chain(ChannelData, "value")
            and _chain(cls, "enum_strings") == _ENUM_STRINGS)


@functools.cache
def _fields_ok(cls: type) -> bool:
    """Whether a record field group of class ``cls`` has no ``value_write_hook``."""
    return _chain(cls, "value_write_hook") == _NO_FIELD_HOOK


def _severity_fields(field_inst) -> tuple:
    """The HIHI/HIGH/LOW/LOLO severity fields a record field group has."""
    return tuple(prop for pair in _LIMIT_PAIRS for attr in pair[4:]
                 for prop in (getattr(field_inst, attr, None),) if prop is not None)


@functools.cache  # per class: a PVGroup has thousands of instances of a few classes
def _class_ok(cls: type) -> bool:
    if cls.data_type not in (ChannelType.INT, ChannelType.FLOAT, ChannelType.LONG,
                             ChannelType.DOUBLE):
        return False
    for name, allowed in _OVERRIDES.items():
        chain = _chain(cls, name)
        if chain[-1] is not getattr(ChannelData, name) or not set(chain) <= allowed:
            return False
    return all(_chain(cls, name) in chains for name, chains in _ALLOWED.items())


_NO_SEVERITY_FIELDS = tuple((low, high, low_status, high_status, ())
                            for low, high, low_status, high_status, *_ in _LIMIT_PAIRS)
"""``FastWriter._pairs`` of a ChannelData without record fields (shared: one PV costs
fewer objects, which the garbage collector would walk)."""
_INSTANCE_OVERRIDES = frozenset(("publish", *_OVERRIDES, *_ALLOWED))


class FastWriter:
    """Applies eligible scalar puts to one ChannelData without running caproto's write.

    Args:
        data: the ChannelData (before :class:`~iocgate.server._pvdb.Entry` wraps ``publish``).
        mark_published: the Entry's bookkeeping, called as ``publish`` would call it.

    Attributes:
        publish_hook: the Entry's ``publish`` wrapper. Puts are declined while
            ``data.publish`` is anything else (e.g. a second server on the same pvdb
            wrapped it too and must see every publish).
    """

    def __init__(self, data: ChannelData, mark_published: Callable[[int], None]):
        self.data = data
        self._mark_published = mark_published
        self.publish_hook = None
        self._last_specs: tuple | None = None  # of the last put, for ``again``
        field_inst = getattr(data, "field_inst", None)
        self._pairs = _NO_SEVERITY_FIELDS if field_inst is None else tuple(
            (low, high, low_status, high_status,
             tuple(prop for prop in (getattr(field_inst, low_sev, None),
                                     getattr(field_inst, high_sev, None)) if prop is not None))
            for low, high, low_status, high_status, low_sev, high_sev in _LIMIT_PAIRS)
        # (a PV without record fields has no severity fields: nothing to remember)
        self._severities_seen: Dict[int, tuple] = {} if field_inst is not None else _NOTHING

    @classmethod
    def create(cls, data: ChannelData, mark_published: Callable[[int], None]
               ) -> FastWriter | None:
        """A FastWriter for ``data``, or None when its write path is not caproto's own."""
        field_inst = getattr(data, "field_inst", None)
        if (not FAST_PATHS or not _class_ok(type(data)) or data.max_length != 1
                or not _default_putter(getattr(data, "putter", None))
                or type(data.alarm) is not ChannelAlarm
                or not _INSTANCE_OVERRIDES.isdisjoint(vars(data))
                or (field_inst is not None
                    and (not _fields_ok(type(field_inst))
                         or not all(_plain_enum(type(prop))
                                    for prop in _severity_fields(field_inst))))):
            return None
        return cls(data, mark_published)

    def write(self, value, core, again: bool = False) -> bool:
        """Apply a client's put of ``value`` and publish it, if it is in the fast domain.

        Args:
            value: the scalar as caproto's write would receive it: ``int``/``float``
                from ``wire.scalar_value`` (inline writes) or :func:`dbr_value`.
            core: the :class:`~iocgate.server._core.ServerCore` that is the PV's only
                subscription queue (if any).
            again: the previous request the caller handled was a put through this writer
                that succeeded, and nothing else ran since (consecutive puts of a flood
                in one received batch): the checks that depend on anything but the value
                are not repeated.

        Returns:
            True if done (same value, timestamp, alarm and events as caproto's write);
            False if nothing was changed and caproto's write must handle the put.
        """
        data = self.data
        specs = self._last_specs if again else None
        if specs is None:
            self._last_specs = None
            if (data.__dict__.get("publish") is not self.publish_hook
                    or fill_pending(data) or not self._putter_plain()):
                return False
            specs = self._specs(core)
            if specs is None:
                return False
        if not self._keeps_alarm(value):
            return False
        self._last_specs = specs
        store_value(data, value, TimeStamp(*epics_time(time.time())))
        self._mark_published(0)
        if specs:
            core.fan_out(specs, None, _Encoder(data))
        return True

    def _putter_plain(self) -> bool:
        """No putter, or ``PVGroup.group_write`` with its debug line not logged."""
        putter = getattr(self.data, "putter", None)
        return putter is None or (_default_putter(putter)
                                  and not putter.__self__.log.isEnabledFor(logging.DEBUG))

    def _specs(self, core) -> tuple | None:
        """The SubscriptionSpecs a publish reaches, or None if one is outside the fast
        domain (a queue other than ``core``, a sync filter)."""
        found: tuple = ()
        for queue, syncs in subscription_queues(self.data).items():
            if queue is not core:
                return None
            for sync, names in syncs.items():
                if sync is None:
                    for specs in names.values():
                        if specs:
                            found += tuple(specs)
                elif any(names.values()):
                    return None
        return found

    def _keeps_alarm(self, value) -> bool:
        """Whether ChannelNumeric.verify_value would accept ``value`` and compute the alarm
        status the PV already has (then caproto changes no alarm state). Limits are read
        as caproto's properties read them; severity fields are checked where caproto
        evaluates them, so a lookup that would raise there declines here."""
        data = self.data
        md = metadata(data)
        try:
            low, high = md["lower_ctrl_limit"], md["upper_ctrl_limit"]
            if low != high and not low <= value <= high:
                return False
            status = _NO_ALARM
            for low_key, high_key, low_status, high_status, severities in self._pairs:
                if severities and not self._severities_ok(severities):
                    return False
                low, high = md[low_key], md[high_key]
                if low != high:
                    if value <= low:
                        status = low_status
                    elif high <= value:
                        status = high_status
                if status is not _NO_ALARM:
                    break
        except Exception:
            return False
        return status == data.alarm.status

    def _severities_ok(self, props: tuple) -> bool:
        """Whether caproto's ``AlarmSeverity(enum_strings.index(value))`` for these
        severity fields would succeed (remembered per field value and state list)."""
        for prop in props:
            md = metadata(prop)
            value, strings = md["value"], md["enum_strings"]
            seen = self._severities_seen.get(id(prop))
            if seen is not None and seen[0] is value and seen[1] is strings:
                continue
            if isinstance(value, str):
                try:
                    AlarmSeverity(strings.index(value))
                except Exception:
                    return False
            self._severities_seen[id(prop)] = (value, strings)
        return True


class _Encoder:
    """Encodes one published scalar for a subscription: TIME/plain native types directly,
    anything else through caproto's ``_read``, once per data type."""

    __slots__ = ("data", "reads")

    def __init__(self, data: ChannelData):
        self.data = data
        self.reads: Dict[str, Tuple[object, object]] = {}

    def __call__(self, sub) -> Tuple[bytes, int]:
        if sub.spec.channel_filter.arr is None:
            payload = wire.scalar_payload(self.data, sub.data_type)
            if payload is not None:
                return payload + wire.pad(len(payload)), 1
        name = sub.spec.data_type_name
        found = self.reads.get(name)
        if found is None:
            found = self.reads[name] = _run(read_as(self.data, name))
        return wire.event_payload(sub, *found)


def epics_time(unix: float) -> Tuple[int, int]:
    """``(seconds, nanoseconds)`` since the EPICS epoch, exactly as caproto's
    ``timestamp_to_epics`` gives them (it goes through ``datetime``, which rounds the
    fraction to whole microseconds, half to even) at a tenth of the cost.

    Args:
        unix: a UNIX time in seconds after 1990 (e.g. ``time.time()``).
    """
    seconds = math.floor(unix)
    micro = round((unix - seconds) * 1e6)
    if micro >= 1_000_000:
        seconds, micro = seconds + 1, micro - 1_000_000
    return seconds - _EPICS_EPOCH, micro * 1000


def dbr_value(data: ChannelData, dbr_type: int, count: int, payload):
    """The scalar that caproto's ``write_from_dbr`` passes on for a one-element put of the
    PV's own type, as ``preprocess_value`` unpacks it (a numpy scalar, e.g. ``np.float64``).

    Used for PVs whose slow path is ``auth_write`` (not the inline ``write(scalar)``), so
    the fast path stores the very same object type.
    """
    array = backend.convert_values(
        values=extract_data(payload, dbr_type, count), from_dtype=native_type(dbr_type),
        to_dtype=data.data_type, string_encoding=data.string_encoding,
        enum_strings=getattr(data, "enum_strings", None),
        direction=ConversionDirection.FROM_WIRE)
    return array[0]


def _run(coro):
    """The result of a coroutine that never suspends (caproto's own ``_read``)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("ChannelData._read suspended")
