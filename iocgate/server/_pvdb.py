"""Name resolution over a caproto pvdb and the per-PV reply cache.

A pvdb maps names to caproto ``ChannelData`` (``PVGroup.pvdb`` or a hand-made dict). Names
may carry a record field (``rec.EGU``), a long-string modifier (``rec.VAL$``) and a channel
filter (``rec.{"arr":{...}}``), resolved as caproto's server does.

Each resolved ChannelData gets an :class:`Entry` holding its encoded-reply cache. The cache
is emptied whenever the ChannelData publishes (every write, metadata or alarm change goes
through ``publish``), so a cached reply is always the current value.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Dict, Mapping, Tuple

import caproto as ca
from caproto import ChannelData, ChannelType, SubscriptionType

from .._compat._caproto import ChannelFilter, PVGroup, PvpropertyData, parse_channel_filter
from ._fastwrite import FastWriter

_VALUE = int(SubscriptionType.DBE_VALUE)
_LOG = int(SubscriptionType.DBE_LOG)
_ALARM = int(SubscriptionType.DBE_ALARM)
_PROPERTY = int(SubscriptionType.DBE_PROPERTY)
_NO_FILTER = ChannelFilter(ts=False, dbnd=None, sync=None, arr=None)
_CAPROTO_READS = (ChannelData.read, PvpropertyData.read)
_WRITE_METHODS = ("auth_write", "write_from_dbr", "write", "verify_value", "update_fields",
                  "write_metadata", "preprocess_value", "check_access")


def _from_caproto(cls: type, name: str) -> bool:
    func = getattr(cls, name, None)
    return getattr(func, "__module__", "").startswith("caproto.")


@functools.cache
def _class_traits(cls: type) -> Tuple[bool, bool, bool]:
    """(reads are caproto's own code, so are writes, access is caproto's always-read-write)
    for a ChannelData class."""
    return (cls.read in _CAPROTO_READS and _from_caproto(cls, "_read"),
            all(_from_caproto(cls, name) for name in _WRITE_METHODS),
            cls.check_access is ChannelData.check_access)


def _hook_is_default(hook, default) -> bool:
    return hook is None or getattr(hook, "__func__", None) is default


class Entry:
    """Server-side bookkeeping for one ChannelData.

    Attributes:
        data: the ChannelData.
        cache: ``{(dbr_type, count): (payload, wire_count)}`` of encoded read replies.
        version: bumped on every publish; a read that started before a bump is not cached.
        inline_read: reading runs only caproto's code and has no side effect (no getter), so
            it may be stepped inline and its replies cached.
        inline_write: writing runs only caproto's own code (no putter) and may be stepped
            inline; otherwise it runs in a task of its own.
        always_read_write: ``check_access`` is caproto's default (read and write for all).
        event_bits: DBE_* bits of the publish being delivered (see :meth:`classify`).
        fast: the :class:`~iocgate.server._fastwrite.FastWriter` for scalar puts, or None
            when the write path is not caproto's own.
    """

    __slots__ = ("data", "cache", "version", "inline_read", "inline_write", "always_read_write",
                 "event_bits", "fast", "_monitored", "_archived", "_alarm")

    def __init__(self, data: ChannelData):
        self.data = data
        self.cache: Dict[Tuple[int, int], Tuple[bytes, int]] = {}
        self.version = 0
        read_ok, write_ok, self.always_read_write = _class_traits(type(data))
        self.inline_read = read_ok and _hook_is_default(getattr(data, "getter", None),
                                                        PVGroup.group_read)
        self.inline_write = write_ok and _hook_is_default(getattr(data, "putter", None),
                                                          PVGroup.group_write)
        self.event_bits = 0
        self._monitored = self._archived = data.value
        self._alarm = (data.alarm.status, data.alarm.severity)
        self.fast = FastWriter.create(data, self.mark_published)
        original = data.publish

        async def publish(flags, _original=original, _mark=self.mark_published):
            _mark(flags)
            return await _original(flags)

        data.publish = publish
        if self.fast is not None:
            self.fast.publish_hook = publish

    def mark_published(self, flags: int) -> None:
        """Bookkeeping for a publish with caproto's ``flags``, before it is delivered."""
        self.version += 1
        self.cache.clear()
        self.event_bits = self.classify(flags)

    def classify(self, flags: int) -> int:
        """The DBE_* bits a publish with caproto's ``flags`` stands for.

        caproto publishes a plain value write with ``flags=0``. As an EPICS record does,
        DBE_VALUE is set when the value moved by more than ``value_atol`` (MDEL),
        DBE_LOG by more than ``log_atol`` (ADEL) since the last such event (a tolerance of 0
        posts every write, as caproto always did), and DBE_ALARM when status or severity
        changed. DBE_PROPERTY and explicit bits from caproto pass through.
        """
        flags = int(flags)
        bits = flags
        if flags & ~_PROPERTY or not flags:
            data = self.data
            alarm = data.alarm
            alarm = (alarm.status, alarm.severity)
            if alarm != self._alarm:
                self._alarm = alarm
                bits |= _ALARM
            if not flags or flags & (_VALUE | _LOG):
                bits &= ~(_VALUE | _LOG)
                value = data.value
                if _moved(value, self._monitored, getattr(data, "value_atol", 0)):
                    self._monitored = value
                    bits |= _VALUE
                if _moved(value, self._archived, getattr(data, "log_atol", 0)):
                    self._archived = value
                    bits |= _LOG
        return bits


def _moved(new, old, tolerance) -> bool:
    """Whether a value change exceeds the deadband ``tolerance`` (<= 0: always)."""
    if not tolerance or tolerance <= 0:
        return True
    try:
        return abs(new - old) > tolerance
    except TypeError:
        return True


class Resolved:
    """What a client-facing name resolves to.

    Attributes:
        entry: the :class:`Entry`.
        native_type: the DBR type announced at channel creation.
        max_count: the element count announced at channel creation.
        long_string: the name carries the ``$`` modifier (a char-array view of a string).
        channel_filter: caproto ``ChannelFilter`` parsed from the name.
    """

    __slots__ = ("entry", "native_type", "max_count", "long_string", "channel_filter")

    def __init__(self, entry: Entry, long_string: bool, channel_filter: ChannelFilter):
        data = entry.data
        self.entry = entry
        self.channel_filter = channel_filter
        self.long_string = long_string and data.data_type == ChannelType.STRING
        if self.long_string:
            self.native_type = int(ChannelType.CHAR)
            self.max_count = int(data.long_string_max_length)
        else:
            self.native_type = int(data.data_type)
            self.max_count = int(data.max_length)


MAX_DERIVED_NAMES = 4096
"""Resolved names with a field, modifier or filter kept (least recently used dropped):
clients can make up any number of filter names, so this cache must not grow with them."""


class PVDatabase:
    """Resolve CA names against a pvdb, caching hits: every pvdb name, and the
    :data:`MAX_DERIVED_NAMES` most recently used field/filter names. Misses are looked up
    again every time, since a pvdb may gain PVs at run time."""

    def __init__(self, pvdb: Mapping[str, ChannelData]):
        self.pvdb = pvdb
        self._names: Dict[str, Resolved] = {}
        self._derived: OrderedDict[str, Resolved] = OrderedDict()
        self._entries: Dict[int, Entry] = {}

    def entry(self, data: ChannelData) -> Entry:
        """The :class:`Entry` for ``data``, created on first use."""
        found = self._entries.get(id(data))
        if found is None or found.data is not data:
            found = self._entries[id(data)] = Entry(data)
        return found

    def prepare(self) -> None:
        """Resolve every pvdb name now (creating its :class:`Entry`), so that a client's
        first connect to a PV finds it ready, as on an IOC whose records were set up
        before it served. PVs added later are resolved when first asked for."""
        for name in list(self.pvdb):
            self.resolve(name)

    def exists(self, name: str) -> bool:
        """Whether ``name`` resolves (cheap for plain pvdb names; used by searches)."""
        return name in self.pvdb or self.resolve(name) is not None

    def resolve(self, name: str) -> Resolved | None:
        """The :class:`Resolved` for ``name``, or None if it names no PV or field."""
        hit = self._names.get(name)
        if hit is not None:
            return hit
        derived = self._derived
        hit = derived.get(name)
        if hit is not None:
            derived.move_to_end(name)
            return hit
        try:
            data, long_string, channel_filter = self._lookup(name)
        except (KeyError, ValueError, AttributeError, TypeError):
            return None
        hit = Resolved(self.entry(data), long_string, channel_filter)
        if name in self.pvdb:
            self._names[name] = hit
        else:
            derived[name] = hit
            if len(derived) > MAX_DERIVED_NAMES:
                derived.popitem(last=False)
        return hit

    def _lookup(self, name: str) -> Tuple[ChannelData, bool, ChannelFilter]:
        pvdb = self.pvdb
        data = pvdb.get(name)
        if data is not None:
            return data, False, _NO_FILTER
        rec_field, rec, field, mods = ca.parse_record_field(name)
        flags = mods.modifiers if mods else ca.RecordModifiers(0)
        long_string = bool(flags & ca.RecordModifiers.long_string)
        channel_filter = _NO_FILTER
        if flags & ca.RecordModifiers.filtered:
            channel_filter = parse_channel_filter(mods.filter_)
        data = pvdb.get(rec_field)
        if data is None:
            data = pvdb[rec]
            if field and field != "VAL":
                data = data.get_field(field)
        if long_string and data.data_type not in (ChannelType.STRING, ChannelType.CHAR):
            raise KeyError(name)
        return data, long_string, channel_filter

    def hooks(self, *attrs: str) -> Dict[str, object]:
        """``{"name.attr": bound method}`` for every PV and field defining one of ``attrs``
        (``server_startup``, ``server_scan``, ``server_shutdown``)."""
        found = {}
        for name, data in list(self.pvdb.items()):
            items = [(name, data)]
            items += [(f"{name}.{f}", v) for f, v in getattr(data, "fields", {}).items()]
            for full, inst in items:
                for attr in attrs:
                    method = getattr(inst, attr, None)
                    if method is not None:
                        found[f"{full}.{attr}"] = method
        return found
