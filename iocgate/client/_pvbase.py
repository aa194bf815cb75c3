"""State and pyepics attributes of a PV, with no I/O: the base of the sync and async ``PV``.

The I/O faces (:class:`iocgate.client.PV`, :class:`iocgate.client.aio.PV`) feed replies into
:meth:`PVBase._apply_reply` and connection changes into :meth:`PVBase._apply_connection`; every
attribute, conversion and callback dispatch lives here once.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Optional, Tuple

from ..protocol import _ca_dbr as dbr
from . import _convert
from ._convert import PV_KEYS
from ._errors import CAPutError

log = logging.getLogger("iocgate.client")

#: Keys returned by ``get_ctrlvars()`` / ``get_timevars()``.
CTRL_KEYS = ("status", "severity", "precision", "units", "enum_strs", "upper_disp_limit",
             "lower_disp_limit", "upper_alarm_limit", "lower_alarm_limit", "upper_warning_limit",
             "lower_warning_limit", "upper_ctrl_limit", "lower_ctrl_limit")
TIME_KEYS = ("status", "severity", "timestamp", "posixseconds", "nanoseconds")
#: EPICS alarm status and severity names, by code (``char_status``, ``char_severity``).
ALARM_STATUS = ("NO_ALARM", "READ", "WRITE", "HIHI", "HIGH", "LOLO", "LOW", "STATE", "COS",
                "COMM", "TIMEOUT", "HWLIMIT", "CALC", "SCAN", "LINK", "SOFT", "BAD_SUB", "UDF",
                "DISABLE", "SIMM", "READ_ACCESS", "WRITE_ACCESS")
ALARM_SEVERITY = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")
#: Waveforms longer than this are not monitored unless asked (pyepics' AUTOMONITOR_MAXLENGTH).
AUTOMONITOR_MAXLENGTH = 65536


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
            ``None`` means yes for up to :data:`AUTOMONITOR_MAXLENGTH` elements (pyepics).
        count: default number of elements to return for waveforms (``None`` = all).
        monitor_delta: for numeric scalars, value callbacks skip monitor events whose value
            differs by less than this from the last one reported (``None`` = report all).
            Applied in the client: the server's ``MDEL`` is left alone.
    """

    def __init__(self, pvname: str, *, form: str = "time", auto_monitor: Optional[bool] = None,
                 count: Optional[int] = None, monitor_delta: Optional[float] = None):
        self.pvname = pvname
        self.form = form
        self._auto_monitor = auto_monitor
        self.callbacks: Dict[int, Tuple[Callable[..., Any], Dict[str, Any]]] = {}
        self.connection_callbacks: list = []
        self.connected = False
        self._args: Dict[str, Any] = dict.fromkeys(PV_KEYS)
        self._args["pvname"] = pvname
        self._args["monitor_delta"] = monitor_delta
        self._delta_gate = DeltaGate(monitor_delta)
        self._default_count = count
        self._native: Optional[int] = None
        self._raw: Any = None
        self._ctrl_loaded = False
        self._read_keys: Tuple[str, ...] = ()  # metadata keys of the last reply
        self._next_index = 0
        self.put_complete: Optional[bool] = None
        self.last_put_error: Optional[Exception] = None

    # ---- fed by the I/O faces -------------------------------------------------------------
    def _apply_connection(self, connected: bool, *, host: str = "",
                          native: Optional[int] = None, nelm: int = 0,
                          chid: Optional[int] = None, notify: bool = True) -> None:
        """Record a connection change and (``notify``) run connection callbacks
        (``callback(pvname=..., conn=..., pv=...)``); ``chid`` is the client's channel id."""
        self.connected = connected
        self._delta_gate.reset()
        if connected and native is not None:
            self._native = dbr.DBR(native)
            dtype = _convert.data_type_for(self._native, self.form)
            self._args.update(host=host, nelm=nelm, count=nelm, ftype=int(dtype),
                              type=_convert.type_name(dtype), chid=chid)
        for callback in list(self.connection_callbacks) if notify else ():
            try:
                callback(pvname=self.pvname, conn=connected, pv=self)
            except Exception:
                log.exception("connection callback for %s failed", self.pvname)

    @property
    def auto_monitor(self) -> bool:
        """Whether the PV keeps a subscription (decided at connection when not given)."""
        if self._auto_monitor is None:
            return (self._args["nelm"] or 0) <= AUTOMONITOR_MAXLENGTH
        return bool(self._auto_monitor)

    @auto_monitor.setter
    def auto_monitor(self, value: Optional[bool]) -> None:
        self._auto_monitor = value

    def _request_count(self, count: Optional[int] = None, monitor: bool = False) -> int:
        """Elements to ask the server for, as pyepics does: an explicit ``count`` up to NELM
        (a waveform then comes zero-filled past NORD); the PV's ``count`` likewise for its
        monitor, but for reads only when below NELM; else 0, the server's current length
        (a waveform's NORD)."""
        nelm = self._args["nelm"] or 0
        if count is None:
            count = self._default_count
            if not monitor and count is not None and count >= nelm:
                count = None
        if count is None or count <= 0 or nelm <= 1:
            return 0
        return min(int(count), nelm)

    def _apply_access(self, rights: int) -> Tuple[bool, bool]:
        access, read, write = _convert.access_string(rights)
        self._args.update(access=access, read_access=read, write_access=write)
        return read, write

    def _apply_payload(self, data_type: int, count: int, payload: Any,
                       with_value: bool = True) -> Any:
        """Decode a reply payload into value and metadata (``with_value=False``: metadata
        only, e.g. for a read of fewer elements than the server has, which must not replace
        the monitored value). Returns the reply's raw value."""
        values, md = dbr.decode(data_type, count, payload)
        self._read_keys = tuple(md)
        if with_value:
            self._apply_reply(values, data_type, md)
            return self._raw
        self._args.update(md)
        return _convert.raw_value(values, self._nat())

    def _apply_reply(self, data: Any, data_type: int, md: Dict[str, Any]) -> None:
        """Update value, ``char_value`` and metadata from a decoded read or monitor reply."""
        native = dbr.native(data_type) if self._native is None else self._native
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
        dtype = self._args["ftype"] if self._args["ftype"] is not None else self._nat()
        return _convert.char_value(raw, self._nat(),
                                   self._args["nelm"] or 1, dtype, self._args["precision"],
                                   self._args["enum_strs"])

    def _converted(self, *, count: Optional[int], as_string: bool, as_numpy: bool,
                   raw: Any = None) -> Any:
        """The last value (or ``raw``, a reply's value), converted as ``get()`` returns it."""
        raw = self._raw if raw is None else raw
        if raw is None:
            return None
        if as_string:
            return self._char_value(raw)
        count = self._default_count if count is None else count
        return _convert.python_value(raw, self._nat(),
                                     self._args["nelm"] or 1, count=count, as_numpy=as_numpy)

    def _nat(self) -> dbr.DBR:
        return dbr.DBR.DOUBLE if self._native is None else self._native

    def _start_put(self, value: Any) -> Tuple[int, int, bytes]:
        """Check write access, encode ``value`` and reset the completion state.

        Returns:
            ``(data_type, count, payload)`` to write.

        Raises:
            CAPutError: no write access, or an enum name the PV does not have.
        """
        if not self._args["write_access"]:
            raise CAPutError(self.pvname, "no write access", status_name="ECA_NOWTACCESS")
        values = _convert.put_payload(self.pvname, value, self._nat(),
                                      self._args["nelm"] or 1, self._args["enum_strs"])
        try:
            payload = dbr.encode(self._nat(), values)
        except (TypeError, ValueError, OverflowError) as exc:
            raise CAPutError(self.pvname, f"{value!r} is not valid for a "
                             f"{self._nat().name} channel: {exc}",
                             status_name="ECA_BADTYPE") from None
        self.put_complete = False
        self.last_put_error = None
        return int(self._nat()), len(values), payload

    def _finish_put(self, status: int) -> Optional[CAPutError]:
        """Record a put completion; a refusal is kept in ``last_put_error``.

        Returns:
            the refusal of *this* reply (``None`` on success): a waiting put must judge its own
            reply, since a reply to an earlier put without wait may land in between.
        """
        error: Optional[CAPutError] = None
        try:
            _convert.check_status(self.pvname, status, put=True)
        except CAPutError as exc:
            error = self.last_put_error = exc
        self.put_complete = True
        return error

    def _read_type(self, form: Optional[str] = None) -> int:
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
        self._call_value_callback(index, callback, kw, dict(self._args))

    def _call_value_callback(self, index: int, callback: Callable[..., Any],
                             kw: Dict[str, Any], args: Dict[str, Any]) -> None:
        args.update(kw)
        args["cb_info"] = (index, self)
        try:
            callback(**args)
        except Exception:
            log.exception("value callback %s for %s failed", index, self.pvname)

    # ---- pyepics attributes ---------------------------------------------------------------
    def _subset(self, keys: Tuple[str, ...]) -> Dict[str, Any]:
        return {k: self._args[k] for k in keys if self._args[k] is not None}

    @property
    def char_value(self) -> Any:
        """String form of the last value (enum name, float to ``precision`` digits ...)."""
        return self._getarg("char_value")

    @property
    def char_status(self) -> str:
        """The alarm status as its EPICS name (``'NO_ALARM'``, ``'HIHI'`` ...)."""
        status = self._getarg("status")
        return ALARM_STATUS[status] if status is not None and 0 <= status < len(
            ALARM_STATUS) else str(status)

    @property
    def char_severity(self) -> str:
        """The alarm severity as its EPICS name (``'NO_ALARM'``, ``'MINOR'``, ``'MAJOR'``,
        ``'INVALID'``)."""
        severity = self._getarg("severity")
        return ALARM_SEVERITY[severity] if severity is not None and 0 <= severity < len(
            ALARM_SEVERITY) else str(severity)

    @property
    def typefull(self) -> Optional[str]:
        """The DBR type name of the form in use, e.g. ``'time_double'`` (pyepics)."""
        return self._args["type"]

    def _getarg(self, name: str) -> Any:
        """An attribute's value; the thread face waits for connection and metadata first."""
        return self._args[name]

    def __getattr__(self, name: str) -> Any:
        # pyepics attributes: count, nelm, type, ftype, host, access, read_access,
        # write_access, enum_strs, units, precision, status, severity, the limits ...
        args = self.__dict__.get("_args")
        if args is not None and name in args:
            return self._getarg(name)
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
