"""State and pyepics attributes of a PV, with no I/O: the base of the sync and async ``PV``.

The I/O faces (:class:`iocgate.client.PV`, :class:`iocgate.client.aio.PV`) feed replies into
:meth:`PVBase._apply_reply` and connection changes into :meth:`PVBase._apply_connection`; every
attribute, conversion and callback dispatch lives here once.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Optional, Tuple

from caproto import ChannelType

from . import _convert
from ._convert import PV_KEYS
from ._errors import CAPutError

log = logging.getLogger("iocgate.client")

#: Keys returned by ``get_ctrlvars()`` / ``get_timevars()``.
CTRL_KEYS = ("status", "severity", "precision", "units", "enum_strs", "upper_disp_limit",
             "lower_disp_limit", "upper_alarm_limit", "lower_alarm_limit", "upper_warning_limit",
             "lower_warning_limit", "upper_ctrl_limit", "lower_ctrl_limit")
TIME_KEYS = ("status", "severity", "timestamp", "posixseconds", "nanoseconds")


class DeltaGate:
    """pyepics' ``monitor_delta`` applied in the client: a numeric scalar passes once it has
    moved by at least ``delta`` from the last value that passed; anything else always passes.

    Args:
        delta: the smallest reported change, in the PV's units (``None`` = report all).
    """

    def __init__(self, delta: Optional[float]) -> None:
        self.delta = delta
        self._last: Optional[float] = None

    def reset(self) -> None:
        """Forget the last value (after a reconnect the next value always passes)."""
        self._last = None

    def passes(self, value: Any) -> bool:
        """Whether ``value`` should be reported; remembers it if so."""
        if self.delta is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            return True
        if self._last is not None and abs(value - self._last) < self.delta:
            return False
        self._last = value
        return True


class PVBase:
    """Everything a pyepics ``PV`` knows that needs no I/O.

    Args:
        pvname: the PV name.
        form: ``'time'`` (default), ``'ctrl'`` or ``'native'``: the DBR family monitors and reads
            use (``type`` reports it, e.g. ``'time_double'``).
        auto_monitor: keep a subscription so ``get()`` returns the latest monitored value;
            ``None`` means yes.
        count: default number of elements to return for waveforms (``None`` = all).
        monitor_delta: for numeric scalars, value callbacks skip monitor events whose value
            differs by less than this from the last one reported (``None`` = report all).
            Applied in the client: the server's ``MDEL`` is left alone.
    """

    def __init__(self, pvname: str, *, form: str = "time", auto_monitor: Optional[bool] = None,
                 count: Optional[int] = None, monitor_delta: Optional[float] = None):
        self.pvname = pvname
        self.form = form
        self.auto_monitor = True if auto_monitor is None else bool(auto_monitor)
        self.callbacks: Dict[int, Tuple[Callable[..., Any], Dict[str, Any]]] = {}
        self.connection_callbacks: list = []
        self.connected = False
        self._args: Dict[str, Any] = dict.fromkeys(PV_KEYS)
        self._args["pvname"] = pvname
        self._args["monitor_delta"] = monitor_delta
        self._delta_gate = DeltaGate(monitor_delta)
        self._default_count = count
        self._native: Optional[ChannelType] = None
        self._raw: Any = None
        self._ctrl_loaded = False
        self._next_index = 0
        self.put_complete: Optional[bool] = None
        self.last_put_error: Optional[Exception] = None

    # ---- fed by the I/O faces -------------------------------------------------------------
    def _apply_connection(self, connected: bool, *, host: str = "",
                          native: Optional[ChannelType] = None, nelm: int = 0,
                          chid: Optional[int] = None, notify: bool = True) -> None:
        """Record a connection change and (``notify``) run connection callbacks
        (``callback(pvname=..., conn=..., pv=...)``); ``chid`` is the client's channel id."""
        self.connected = connected
        self._delta_gate.reset()
        if connected and native is not None:
            self._native = ChannelType(native)
            dtype = _convert.data_type_for(self._native, self.form)
            self._args.update(host=host, nelm=nelm, count=nelm, ftype=int(dtype),
                              type=_convert.type_name(dtype), chid=chid)
        for callback in list(self.connection_callbacks) if notify else ():
            try:
                callback(pvname=self.pvname, conn=connected, pv=self)
            except Exception:
                log.exception("connection callback for %s failed", self.pvname)

    def _apply_access(self, rights: Any) -> None:
        access, read, write = _convert.access_string(rights)
        self._args.update(access=access, read_access=read, write_access=write)

    def _apply_reply(self, data: Any, data_type: Any, metadata: Any) -> None:
        """Update value, ``char_value`` and metadata from a read or monitor reply."""
        native = _convert.native_of(data_type) if self._native is None else self._native
        md = _convert.metadata_from_dbr(metadata)
        self._args.update(md)
        self._raw = _convert.raw_value(data, native)
        nelm = self._args["nelm"] or 1
        self._args["value"] = _convert.python_value(self._raw, native, nelm)
        if nelm > 1:
            self._args["count"] = 1 if isinstance(self._raw, str) else len(self._raw)
        self._args["char_value"] = self._char_value(self._raw)

    def _passes_monitor_delta(self) -> bool:
        """Whether the value just applied should reach value callbacks under
        ``monitor_delta``."""
        return self._delta_gate.passes(self._args["value"])

    def _char_value(self, raw: Any) -> Any:
        dtype = ChannelType(self._args["ftype"]) if self._args["ftype"] is not None else (
            self._nat())
        return _convert.char_value(raw, self._nat(),
                                   self._args["nelm"] or 1, dtype, self._args["precision"],
                                   self._args["enum_strs"])

    def _converted(self, *, count: Optional[int], as_string: bool, as_numpy: bool) -> Any:
        """The last value, converted as ``get()`` returns it."""
        if self._raw is None:
            return None
        if as_string:
            return self._char_value(self._raw)
        count = self._default_count if count is None else count
        return _convert.python_value(self._raw, self._nat(),
                                     self._args["nelm"] or 1, count=count, as_numpy=as_numpy)

    def _nat(self) -> ChannelType:
        return ChannelType.DOUBLE if self._native is None else self._native

    def _start_put(self, value: Any) -> Any:
        """Check write access, convert ``value`` and reset the completion state.

        Raises:
            CAPutError: no write access, or an enum name the PV does not have.
        """
        if not self._args["write_access"]:
            raise CAPutError(self.pvname, "no write access", status_name="ECA_NOWTACCESS")
        payload = _convert.put_payload(self.pvname, value, self._nat(),
                                       self._args["nelm"] or 1, self._args["enum_strs"])
        self.put_complete = False
        self.last_put_error = None
        return payload

    def _finish_put(self, reply: Any) -> Optional[CAPutError]:
        """Record a put completion; a refusal is kept in ``last_put_error``.

        Returns:
            the refusal of *this* reply (``None`` on success): a waiting put must judge its own
            reply, since a reply to an earlier put without wait may land in between.
        """
        error: Optional[CAPutError] = None
        try:
            _convert.check_status(self.pvname, reply.status, put=True)
        except CAPutError as exc:
            error = self.last_put_error = exc
        self.put_complete = True
        return error

    def _read_type(self, form: Optional[str] = None) -> ChannelType:
        return _convert.data_type_for(self._nat(), form or self.form)

    # ---- value callbacks ------------------------------------------------------------------
    def add_callback(self, callback: Callable[..., Any], index: Optional[int] = None,
                     run_now: bool = False, with_ctrlvars: bool = True, **kw: Any) -> int:
        """Call ``callback(pvname=, value=, char_value=, status=, severity=, timestamp=, ...,
        cb_info=(index, pv), **kw)`` on every new value (pyepics' keyword arguments).

        The metadata keywords are always included (``with_ctrlvars`` is accepted for pyepics
        compatibility). ``run_now`` calls it at once if a value is known.

        Returns:
            the index to pass to :meth:`remove_callback`.
        """
        if index is None:
            index = self._next_index
        self._next_index = max(self._next_index, index) + 1
        self.callbacks[index] = (callback, kw)
        if run_now and self._raw is not None:
            self.run_callback(index)
        return index

    def remove_callback(self, index: int) -> None:
        """Remove the value callback registered under ``index`` (no error if absent)."""
        self.callbacks.pop(index, None)

    def clear_callbacks(self) -> None:
        """Remove every value callback."""
        self.callbacks.clear()

    def run_callbacks(self) -> None:
        """Run every value callback with the current value (what a monitor event does)."""
        for index in list(self.callbacks):
            self.run_callback(index)

    def run_callback(self, index: int) -> None:
        """Run one value callback; its exceptions are logged, never propagated."""
        try:
            callback, kw = self.callbacks[index]
        except KeyError:
            return
        kwargs = dict(self._args)
        kwargs.update(kw)
        kwargs["cb_info"] = (index, self)
        try:
            callback(**kwargs)
        except Exception:
            log.exception("value callback %s for %s failed", index, self.pvname)

    # ---- pyepics attributes ---------------------------------------------------------------
    def _subset(self, keys: Tuple[str, ...]) -> Dict[str, Any]:
        return {k: self._args[k] for k in keys if self._args[k] is not None}

    @property
    def char_value(self) -> Any:
        """String form of the last value (enum name, float to ``precision`` digits ...)."""
        return self._args["char_value"]

    def __getattr__(self, name: str) -> Any:
        # pyepics attributes: count, nelm, type, ftype, host, access, read_access,
        # write_access, enum_strs, units, precision, status, severity, the limits ...
        args = self.__dict__.get("_args")
        if args is not None and name in args:
            return args[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def _info_text(self) -> str:
        """The text ``cainfo`` prints."""
        lines = [f"== {self.pvname}  ({self._args['type']}) ==",
                 f"   value      = {self._args['value']!r}"]
        for key in ("char_value", "count", "nelm", "type", "units", "precision", "host",
                    "access", "status", "severity", "timestamp", "enum_strs",
                    "upper_ctrl_limit", "lower_ctrl_limit", "upper_disp_limit",
                    "lower_disp_limit", "upper_alarm_limit", "lower_alarm_limit",
                    "upper_warning_limit", "lower_warning_limit"):
            value = self._args[key]
            if value is None:
                continue
            if key == "timestamp":
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
                value = f"{value:.3f} ({stamp})"
            elif key == "char_value":
                value = repr(value)
            lines.append(f"   {key:<10} = {value}")
        lines.append(f"   PV is {'' if self.auto_monitor else 'not '}internally monitored, "
                     f"with {len(self.callbacks)} user-defined callbacks")
        lines.append("=============================")
        return "\n".join(lines)

    def __repr__(self) -> str:
        if not self.connected:
            return f"<PV {self.pvname!r}: not connected>"
        count = self._args["count"]
        nelm = self._args["nelm"]
        shown = f"{count}/{nelm}" if nelm and count != nelm else f"{count}"
        return (f"<PV {self.pvname!r}, count={shown}, type={self._args['type']}, "
                f"access={self._args['access']}>")
