"""caproto's internals, in one place: every private name iocgate uses is imported here.

iocgate uses caproto as its data model (``ChannelData``, ``PVGroup``, ``pvproperty``). Its
server and IOC layers also need a few names caproto does not export, and its server's fast
paths (the scalar put of ``iocgate.server._fastwrite``, the scalar encoders of
``iocgate.server._wire``) read private ``ChannelData`` state. ``setup.cfg`` pins caproto to
the releases this was tested with; :func:`self_check` checks at import that the state looks
as expected. If it does not (a caproto outside the tested range, or patched), one warning is
logged and :data:`FAST_PATHS` is False: the server then takes caproto's own read and write
paths, slower but correct, instead of failing.

A name that is gone altogether makes the import fail with an :class:`ImportError` that
names the tested releases.
"""

from __future__ import annotations

import logging

import caproto
from caproto import ChannelData, ChannelDouble

TESTED = "caproto >= 1.1, < 1.4"
"""The releases this module was written against (the gate in ``setup.cfg``)."""

try:
    from caproto._backend import backend
    from caproto._commands import extract_data, extract_metadata
    from caproto._constants import EPICS2UNIX_EPOCH
    from caproto._data import ChannelNumeric, _channel_type_by_name as CHANNEL_TYPE_BY_NAME
    from caproto._dbr import (
        DBR_TYPES,
        AlarmSeverity,
        AlarmStatus,
        DbrStringArray,
        TimeStamp,
        _LongStringChannelType as LongStringChannelType,
        native_type,
        native_types,
    )
    from caproto._utils import (
        CaprotoValueError,
        ChannelFilter,
        ConversionDirection,
        get_address_and_port_from_string,
        parse_channel_filter,
    )
    from caproto.server.common import SubscriptionSpec
    from caproto.server.records.records import RecordFieldGroup
    from caproto.server.server import (
        PVGroup,
        PVGroupMeta,
        PvpropertyData,
        pvspec_type_map,
        pvspec_type_map_read_only,
    )
except ImportError as exc:  # pragma: no cover - depends on the installed caproto
    raise ImportError(f"caproto {caproto.__version__} lacks a name iocgate needs ({exc}); "
                      f"iocgate supports {TESTED}") from exc

log = logging.getLogger("iocgate")


class _Queue:
    """Stands in for a subscription queue during the self-check."""

    def __init__(self) -> None:
        self.items: list = []

    async def put(self, item) -> None:
        self.items.append(item)


def self_check(channel_class: type = ChannelDouble) -> str | None:
    """What differs from the private ``ChannelData`` state the fast paths rely on, or None.

    Args:
        channel_class: the class to probe (tests pass a deviating one).
    """
    try:
        data = channel_class(value=1.5)
        md = data._data
        if md.get("value") != 1.5 or not hasattr(md.get("timestamp"), "secondsSinceEpoch"):
            return "ChannelData._data holds no value/timestamp"
        for name, kind in (("_queues", dict), ("_content", dict),
                           ("_fill_at_next_write", list)):
            if not isinstance(getattr(data, name, None), kind):
                return f"ChannelData.{name} is not a {kind.__name__}"
        if not (data._status is None and data._severity is None):
            return "ChannelData._status/_severity are not cleared caches"
        queue = _Queue()
        spec = SubscriptionSpec(db_entry=data, data_type_name="DOUBLE", mask=1,
                                channel_filter=ChannelFilter(ts=False, dbnd=None, sync=None,
                                                             arr=None))
        coro = data.subscribe(queue, spec, None)
        try:
            coro.send(None)
        except StopIteration:
            pass
        else:
            coro.close()
            return "ChannelData.subscribe suspends"
        if data._queues.get(queue, {}).get(None, {}).get("DOUBLE") != {spec} or \
                len(queue.items) != 1:
            return "ChannelData._queues is not {queue: {sync: {type name: {spec}}}}"
    except Exception as exc:
        return f"probing {channel_class.__name__} failed: {exc!r}"
    return None


# -- private ChannelData state, read and written only through these (see FAST_PATHS) ------
def metadata(data: ChannelData) -> dict:
    """The ChannelData's value and metadata dict (``value``, ``timestamp``, limits...)."""
    return data._data


def subscription_queues(data: ChannelData) -> dict:
    """``{queue: {sync: {data type name: {SubscriptionSpec}}}}`` of the ChannelData."""
    return data._queues


def fill_pending(data: ChannelData) -> bool:
    """Whether the ChannelData has a pending "fill at next write" (caproto's sync filter)."""
    return bool(data._fill_at_next_write)


def store_value(data: ChannelData, value, timestamp) -> None:
    """Set value and timestamp as caproto's ``write`` leaves them (alarm caches and the
    per-type reading cache cleared)."""
    data._status = data._severity = None
    data._data["value"] = value
    data._data["timestamp"] = timestamp
    data._content.clear()


def read_as(data: ChannelData, data_type_name: str):
    """caproto's own conversion of the current value (``ChannelData._read``, no getter):
    a coroutine giving ``(metadata, values)`` for the named ChannelType."""
    return data._read(CHANNEL_TYPE_BY_NAME[data_type_name])


PROBLEM = self_check()
FAST_PATHS = PROBLEM is None
"""Whether iocgate's server may bypass caproto's read/write paths (see the module doc)."""
if not FAST_PATHS:  # pragma: no cover - depends on the installed caproto
    log.warning("caproto %s differs from the tested releases (%s): %s; iocgate's server "
                "takes caproto's own read and write paths", caproto.__version__, TESTED,
                PROBLEM)

__all__ = [
    "CHANNEL_TYPE_BY_NAME", "DBR_TYPES", "EPICS2UNIX_EPOCH", "FAST_PATHS", "PROBLEM", "TESTED",
    "AlarmSeverity", "AlarmStatus", "CaprotoValueError", "ChannelData", "ChannelFilter",
    "ChannelNumeric", "ConversionDirection", "DbrStringArray", "LongStringChannelType",
    "PVGroup", "PVGroupMeta", "PvpropertyData", "RecordFieldGroup", "SubscriptionSpec",
    "TimeStamp", "backend", "extract_data", "extract_metadata", "fill_pending",
    "get_address_and_port_from_string", "metadata", "native_type", "native_types",
    "parse_channel_filter", "pvspec_type_map", "pvspec_type_map_read_only", "read_as",
    "self_check",
    "store_value", "subscription_queues",
]
