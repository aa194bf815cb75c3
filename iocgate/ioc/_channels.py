"""caproto ChannelData classes with EPICS put semantics, used by every iocgate PVGroup.

Differences from caproto's own classes, all on the client-put path:

* a numeric PV accepts DBR_STRING puts the way an EPICS IOC does ("2.500000" into a LONG);
* an enum PV accepts a state name, an index, or an index as a string, and refuses anything else;
* a refused put (limits, putter exception, device rejection) leaves the PV exactly as it was:
  same value, same alarm, no monitor event. caproto would raise a WRITE/MAJOR alarm.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Type

from caproto import ChannelType, SkipWrite

from .._compat._caproto import CaprotoValueError, pvspec_type_map, pvspec_type_map_read_only
from .._errors import DeviceError
from ..protocol import display_value
from ..protocol._conversion import parse_number, resolve_enum_state
from ..server import PutCompletion, register_plain_write, take_deferral

log = logging.getLogger("iocgate.ioc")


def _log_refusal(channel: Any, value: Any, reason: Exception) -> None:
    log.warning("%s: put of %s refused: %s", getattr(channel, "pvname", channel),
                display_value(value), reason)

_NUMERIC = {ChannelType.LONG: True, ChannelType.INT: True,
            ChannelType.DOUBLE: False, ChannelType.FLOAT: False}
_STRING_TYPES = {ChannelType.STRING, ChannelType.STS_STRING, ChannelType.TIME_STRING,
                 ChannelType.GR_STRING, ChannelType.CTRL_STRING}


def _same(old: Any, new: Any) -> bool:
    try:
        return bool(old == new)
    except Exception:  # arrays and the like
        return False


class _RefuseCleanly:
    """Verify (limits, putter) before caproto's write, so a refusal changes nothing."""

    async def write(self, value: Any, *, verify_value: bool = True, **kwargs: Any) -> None:
        """caproto's ``write``; a putter's :class:`PutCompletion` stores its value at once,
        then is handed back when iocgate's server asked for it (:func:`take_deferral`; the
        server answers the put when it ends), else awaited here."""
        defer = take_deferral()
        completion = None
        if verify_value:
            try:
                value = self.preprocess_value(value)  # type: ignore[attr-defined]
                modified = await self.verify_value(value)  # type: ignore[attr-defined]
            except DeviceError:
                raise  # the bound PV logged it
            except (ValueError, TypeError) as exc:  # limits, conversion, putter checks
                _log_refusal(self, value, exc)
                raise
            if modified is SkipWrite:
                return
            if isinstance(modified, PutCompletion):
                completion, modified = modified, modified.value
            if modified is not None:
                value = modified
        try:
            await super().write(value, verify_value=False, **kwargs)  # type: ignore[misc]
        except SkipWrite:
            pass
        except BaseException:
            if completion is not None and completion.work is not None:
                completion.work.close()  # never started: the putter may start another
            raise
        if completion is None:
            return
        wait, work = completion.wait, completion.work
        if not hasattr(wait, "when_done"):  # (a callback-style wait ends as it is)
            wait = self._completed(wait)
        if defer is not None:
            defer.completion = PutCompletion(value, wait, work)
            return
        if work is not None:
            await work
        await wait

    async def _completed(self, wait: Any) -> None:
        """Await a put's completion; a value it returns (e.g. where a stopped ramp ended)
        replaces the stored one (``None``, ``SkipWrite`` or the same value: it stays)."""
        final = await wait
        if final is not None and final is not SkipWrite and not _same(final, self.value):
            await super().write(final, verify_value=False)  # type: ignore[misc]


class _NumericFromString(_RefuseCleanly):
    async def write_from_dbr(self, data: Any, data_type: ChannelType, metadata: Any,
                             *, flags: int = 0) -> None:
        integer = _NUMERIC.get(self.data_type)  # type: ignore[attr-defined]
        if data_type in _STRING_TYPES and integer is not None:
            try:
                values = [parse_number(item, integer=integer) for item in data]
            except ValueError as exc:
                _log_refusal(self, data[0] if len(data) == 1 else list(data), exc)
                raise CaprotoValueError(str(exc)) from None
            value = values[0] if len(values) == 1 else values
            await self.write(value, flags=flags)
            return
        await super().write_from_dbr(data, data_type, metadata,  # type: ignore[misc]
                                     flags=flags)


class _EnumByNameOrIndex(_RefuseCleanly):
    async def write_from_dbr(self, data: Any, data_type: ChannelType, metadata: Any,
                             *, flags: int = 0) -> None:
        if data_type in _STRING_TYPES and len(data) == 1:
            try:
                state = resolve_enum_state(data[0], self.enum_strings)  # type: ignore[attr-defined]
            except ValueError as exc:
                _log_refusal(self, data[0], exc)
                raise CaprotoValueError(str(exc)) from None
            await self.write(state, flags=flags)
            return
        await super().write_from_dbr(data, data_type, metadata,  # type: ignore[misc]
                                     flags=flags)

    async def verify_value(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        try:
            value = resolve_enum_state(value, self.enum_strings)  # type: ignore[attr-defined]
        except ValueError as exc:
            raise CaprotoValueError(str(exc)) from None
        return await super().verify_value(value)  # type: ignore[misc]


def _derive(base: type) -> type:
    data_type = getattr(base, "data_type", None)
    if data_type == ChannelType.ENUM:
        mixin: type = _EnumByNameOrIndex
    elif data_type in _NUMERIC:
        mixin = _NumericFromString
    else:
        mixin = _RefuseCleanly
    return type(base.__name__, (mixin, base), {"__module__": __name__,
                                                "__doc__": base.__doc__})


def _derive_map(type_map: Dict[Any, type]) -> Dict[Any, Type[Any]]:
    derived: Dict[type, type] = {}
    return {key: derived.setdefault(cls, _derive(cls)) for key, cls in type_map.items()}


TYPE_MAP = _derive_map(pvspec_type_map)
TYPE_MAP_READ_ONLY = _derive_map(pvspec_type_map_read_only)


#: Overrides that, for an accepted one-element put of the PV's own numeric type, do exactly what
#: caproto's ``write``/``write_from_dbr`` do: iocgate's server may take a faster path past them.
PLAIN_WRITES = (_RefuseCleanly.write, _NumericFromString.write_from_dbr)
for _plain in PLAIN_WRITES:
    register_plain_write(_plain)
