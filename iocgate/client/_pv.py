"""The synchronous ``PV`` (pyepics' names and semantics) on iocgate's client core."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..protocol import _ca_client as wire
from . import _convert
from ._context import cache_lock, default_context, dispatcher, pv_cache
from ._core import ECA_DISCONN, Channel, Context, Subscription
from ._errors import CAError, CATimeoutError, should_raise
from ._pvbase import CTRL_KEYS, TIME_KEYS, PVBase, log

#: Seconds ``wait_for_connection``/``get`` wait when not told (pyepics: 5 s).
DEFAULT_TIMEOUT = 5.0
#: Seconds a ``put(wait=True)`` waits for completion when not told (pyepics: 30 s).
PUT_TIMEOUT = 30.0
MONITOR_MASK = wire.DBE_VALUE | wire.DBE_ALARM


class _Reply:
    """A blocking wait for one completion: ``(status, data_type, count, payload)``."""

    __slots__ = ("event", "result")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.result: Optional[Tuple[int, int, int, Any]] = None

    def __call__(self, status: int, data_type: int, count: int, payload: Any) -> None:
        self.result = (status, data_type, count, payload)
        self.event.set()


class PV(PVBase):
    """A Channel Access PV with pyepics' semantics.

    Creating a PV starts the search and returns at once. On connection the PV reads the control
    metadata (units, precision, limits, enum strings) and, with ``auto_monitor``, subscribes.
    As in pyepics, reading an attribute (``units``, ``precision``, ``enum_strs``, ``count``,
    ``host`` ...) of a PV not yet connected waits for the connection and that metadata.

    Args:
        pvname: the PV name.
        callback: a value callback, or a list of them (see :meth:`add_callback`).
        form: ``'time'`` (default), ``'ctrl'`` or ``'native'``.
        verbose: accepted for pyepics compatibility (no effect).
        auto_monitor: keep a subscription; ``None`` (default) means yes for up to 65536
            elements. ``get()`` then returns the latest monitored value without a round trip
            unless ``use_monitor=False``.
        count: number of waveform elements to ask the server for (reads and monitors).
        connection_callback: ``f(pvname=, conn=, pv=)`` on every connect and disconnect.
        connection_timeout: seconds :meth:`wait_for_connection` waits by default
            (``None`` = :data:`DEFAULT_TIMEOUT`).
        access_callback: ``f(read_access, write_access, pv=)`` when access rights arrive or
            change.
        monitor_delta: skip value callbacks for numeric changes smaller than this
            (client-side; the server's ``MDEL`` is not written).
        context: a client :class:`~iocgate.client._core.Context`; default the shared one.

    Callbacks run on one callback thread, in order; they may read and write other PVs.
    """

    def __init__(self, pvname: str, callback: Any = None, form: str = "time",
                 verbose: bool = False, auto_monitor: Optional[bool] = None,
                 count: Optional[int] = None,
                 connection_callback: Optional[Callable[..., Any]] = None,
                 connection_timeout: Optional[float] = None,
                 access_callback: Optional[Callable[..., Any]] = None,
                 monitor_delta: Optional[float] = None, context: Optional[Context] = None):
        super().__init__(pvname.strip(), form=form, auto_monitor=auto_monitor, count=count,
                         monitor_delta=monitor_delta)
        _convert.data_type_for(_convert.DBR.DOUBLE, form)  # validate early
        self.verbose = verbose
        self.connection_timeout = connection_timeout
        self.context = context if context is not None else default_context()
        self._ready = threading.Event()
        self._monitor_seen = False
        self._subscription: Optional[Subscription] = None
        self._channel: Optional[Channel] = None
        self.access_callbacks: List[Callable[..., Any]] = (
            [] if access_callback is None else [access_callback])
        for func in (callback if isinstance(callback, (list, tuple)) else [callback]):
            if func is not None:
                self.add_callback(func, with_ctrlvars=False)
        if connection_callback is not None:
            self.connection_callbacks.append(connection_callback)
        self._channel = self.context.attach(self.pvname, self)

    # ---- core listener (I/O thread) ---------------------------------------------------------
    def _ca_access(self, channel: Channel, rights: int) -> None:
        read, write = self._apply_access(rights)
        for callback in list(self.access_callbacks):
            dispatcher().call(_safe, callback, (read, write), {"pv": self})

    def _ca_connection(self, channel: Channel, connected: bool) -> None:
        if not connected:
            self._ready.clear()
            self._monitor_seen = False
            self._ctrl_loaded = False
            self._apply_connection(False, notify=False)
            self._notify_connection(False)
            return
        self._apply_connection(True, host=_convert.host_name(channel.address),
                               native=channel.native, nelm=channel.nelm, chid=channel.cid,
                               notify=False)
        self.context.read(channel, self._read_type("ctrl"), 1 if channel.nelm > 1 else 0,
                          self._on_ctrl)
        if self.auto_monitor and self._subscription is None:
            self._subscription = self.context.subscribe(
                channel, self._read_type(), self._request_count(monitor=True), MONITOR_MASK,
                self._on_event)
        self._notify_connection(True)

    def _notify_connection(self, connected: bool) -> None:
        for callback in list(self.connection_callbacks):
            dispatcher().call(_safe, callback, (),
                                  {"pvname": self.pvname, "conn": connected, "pv": self})

    def _on_ctrl(self, status: int, data_type: int, count: int, payload: Any) -> None:
        readable = payload is not None and wire.eca_ok(status)
        if readable:
            self._apply_payload(data_type, count, payload,
                                with_value=(self._args["nelm"] or 1) <= 1)
        self._ctrl_loaded = True
        if self._subscription is None or self._monitor_seen or not readable:
            self._ready.set()

    def _on_event(self, status: int, data_type: int, count: int, payload: Any) -> None:
        if not wire.eca_ok(status):
            return
        self._apply_payload(data_type, count, payload)
        self._monitor_seen = True
        if self._ctrl_loaded:
            self._ready.set()
        if self.callbacks and self._passes_monitor_delta():
            dispatcher().call(self._run_callbacks_with, dict(self._args))

    def _run_callbacks_with(self, args: Dict[str, Any]) -> None:
        for index, (callback, kw) in sorted(self.callbacks.items()):
            self._call_value_callback(index, callback, kw, dict(args))

    # ---- I/O -------------------------------------------------------------------------------
    def _timeout(self, timeout: Optional[float]) -> Optional[float]:
        if timeout is not None:
            return timeout
        return DEFAULT_TIMEOUT if self.connection_timeout is None else self.connection_timeout

    def _fail(self, error: CAError, raise_on_error: Optional[bool]) -> None:
        if should_raise(raise_on_error):
            raise error
        log.warning("%s", error)

    def wait_for_connection(self, timeout: Optional[float] = None,
                            raise_on_error: Optional[bool] = None) -> bool:
        """Wait until connected with the control metadata (and, when monitored, the first
        value) in hand.

        Args:
            timeout: seconds; ``None`` = ``connection_timeout`` or :data:`DEFAULT_TIMEOUT`.
            raise_on_error: ``False`` returns ``False`` on timeout as pyepics does;
                ``None`` follows ``iocgate.client.settings``.

        Returns:
            ``True`` when connected.

        Raises:
            CATimeoutError: not connected within ``timeout`` (names the PV and the seconds).
            CAError: the PV was closed with :meth:`disconnect` (call :meth:`reconnect`).
        """
        timeout = self._timeout(timeout)
        if self._channel is None:
            self._fail(CAError("disconnected by disconnect(); call reconnect()",
                               pvname=self.pvname), raise_on_error)
            return False
        if self._ready.wait(timeout):
            return True
        self._fail(CATimeoutError(self.pvname, timeout), raise_on_error)
        return False

    connect = wait_for_connection

    def _getarg(self, name: str) -> Any:
        value = self._args[name]
        if value is None and self._channel is not None and not self._ready.is_set():
            self.wait_for_connection(raise_on_error=False)
            value = self._args[name]
        if value is None and name in TIME_KEYS and self._ready.is_set():
            self.get_timevars(raise_on_error=False)
            value = self._args[name]
        return value

    def _read(self, form: str, timeout: Optional[float], count: int = 0) -> Any:
        """Read ``form`` now and apply the reply (a read of ``count`` > 0 elements applies
        only its metadata); returns the reply's raw value.

        Raises:
            CATimeoutError: no reply within ``timeout`` seconds.
            CAError: disconnected, or the server refused the read.
        """
        channel = self._channel
        if channel is None:
            raise CAError("disconnected by disconnect(); call reconnect()", pvname=self.pvname)
        reply = _Reply()
        try:
            self.context.read(channel, self._read_type(form), count, reply)
        except ConnectionError:
            raise CAError("not connected", pvname=self.pvname) from None
        if not reply.event.wait(timeout):
            raise CATimeoutError(self.pvname, timeout, "answer a read")
        assert reply.result is not None
        status, data_type, wire_count, payload = reply.result
        if payload is None:
            raise CAError("disconnected before the read was answered", pvname=self.pvname)
        _convert.check_status(self.pvname, status, put=False)
        return self._apply_payload(data_type, wire_count, payload, with_value=count == 0)

    def get(self, count: Optional[int] = None, as_string: bool = False, as_numpy: bool = True,
            timeout: Optional[float] = None, with_ctrlvars: bool = False,
            use_monitor: bool = True, raise_on_error: Optional[bool] = None) -> Any:
        """The value: ``float``/``int``/``str`` for scalars, numpy array for waveforms, enum index
        (or name with ``as_string``), ``str`` for CHAR waveforms with ``as_string``.

        Args:
            count: at most this many waveform elements (asked of the server).
            as_string: return ``char_value`` instead.
            as_numpy: waveforms as numpy arrays (default) or lists.
            timeout: seconds for connection and read; ``None`` = the PV's default.
            with_ctrlvars: accepted as pyepics does; the control metadata is always loaded.
            use_monitor: return the monitored value if there is one (no round trip).
            raise_on_error: ``False`` returns ``None`` on failure (pyepics).

        Raises:
            CATimeoutError: no connection or answer within ``timeout``.
            CAError: the server refused the read, or the PV was disconnected.
        """
        md = self.get_with_metadata(count=count, as_string=as_string, as_numpy=as_numpy,
                                    timeout=timeout, use_monitor=use_monitor,
                                    raise_on_error=raise_on_error)
        return None if md is None else md["value"]

    def get_with_metadata(self, count: Optional[int] = None, as_string: bool = False,
                          as_numpy: bool = True, timeout: Optional[float] = None,
                          with_ctrlvars: bool = False, form: Optional[str] = None,
                          use_monitor: bool = True, as_namespace: bool = False,
                          raise_on_error: Optional[bool] = None) -> Any:
        """The value and the metadata of ``form`` (default the PV's), as pyepics returns
        them: ``{'value': ..., 'status': ..., 'severity': ..., 'timestamp': ...}`` for
        ``'time'``, the control keys for ``'ctrl'``; every key the PV knows with
        ``with_ctrlvars``. ``as_namespace`` returns a ``SimpleNamespace`` instead.

        Raises:
            CATimeoutError, CAError: as :meth:`get` (``None`` returned when not raising).
        """
        form = self.form if form is None else form
        try:
            self.wait_for_connection(timeout, raise_on_error=True)
            cached = self._raw is not None and (count is None or (
                count <= (1 if isinstance(self._raw, str) else len(self._raw))))
            cached = (use_monitor and self.auto_monitor and self._monitor_seen and cached
                      and form == self.form)
            raw = None if cached else self._read(form, self._timeout(timeout),
                                                 self._request_count(count))
        except CAError as exc:
            self._fail(exc, raise_on_error)
            return None
        # as pyepics: a fresh read gives the keys its DBR type carries, the monitored cache
        # every key
        md = dict(self._args) if (with_ctrlvars or cached) else {
            k: self._args[k] for k in self._read_keys}
        md["value"] = self._converted(count=count, as_string=as_string, as_numpy=as_numpy,
                                      raw=raw)
        return SimpleNamespace(**md) if as_namespace else md

    def get_ctrlvars(self, timeout: Optional[float] = None, warn: bool = True,
                     raise_on_error: Optional[bool] = None) -> Optional[Dict[str, Any]]:
        """Read the control metadata now: units, precision, limits, enum strings, alarm state."""
        return self._read_vars("ctrl", CTRL_KEYS, timeout, raise_on_error)

    def get_timevars(self, timeout: Optional[float] = None, warn: bool = True,
                     raise_on_error: Optional[bool] = None) -> Optional[Dict[str, Any]]:
        """Read the time metadata now: status, severity, timestamp, posixseconds, nanoseconds."""
        return self._read_vars("time", TIME_KEYS, timeout, raise_on_error)

    def _read_vars(self, form: str, keys: Any, timeout: Optional[float],
                   raise_on_error: Optional[bool]) -> Optional[Dict[str, Any]]:
        try:
            self.wait_for_connection(timeout, raise_on_error=True)
            self._read(form, self._timeout(timeout), self._request_count())
        except CAError as exc:
            self._fail(exc, raise_on_error)
            return None
        return self._subset(keys)

    def put(self, value: Any, wait: bool = False, timeout: Optional[float] = None,
            use_complete: bool = False, callback: Optional[Callable[..., Any]] = None,
            callback_data: Any = None, raise_on_error: Optional[bool] = None) -> Optional[int]:
        """Write ``value``: enum names or indices, ``str`` to CHAR waveforms, lists/arrays.

        Args:
            wait: block until the server reports the put (and its processing) complete.
            timeout: seconds to wait for completion (``None`` = :data:`PUT_TIMEOUT`).
            use_complete: track completion in ``put_complete`` (always done here).
            callback: run when the put completes, as pyepics does: ``f(pvname=,
                **callback_data)`` for a dict, else ``f(pvname=, data=callback_data)``.
            raise_on_error: ``False`` returns ``None`` on failure (pyepics).

        Returns:
            1 once sent (and, with ``wait``, completed).

        Raises:
            CATimeoutError: no connection, or (``wait``) no completion within ``timeout``; the
                put may still complete later on the server.
            CAPutError: no write access, an unknown enum name, a value the channel cannot
                hold, or the server refused (carries the ECA status). Without ``wait`` a
                server refusal is only logged and kept in ``last_put_error``.
        """
        timeout = PUT_TIMEOUT if timeout is None else timeout
        extra = callback_data if isinstance(callback_data, dict) else {"data": callback_data}
        try:
            self.wait_for_connection(self.connection_timeout, raise_on_error=True)
            data_type, count, payload = self._start_put(value)
            reply = _Reply()
            errors: List[CAError] = []

            def done(status: int, *rest: Any) -> None:
                # The server may confirm the put before its monitor event arrives: until the
                # next event, get() reads from the server instead of returning the old value.
                self._monitor_seen = False
                error = self._finish_put(status)
                if error is not None:
                    errors.append(error)
                    if not wait:
                        log.warning("%s", error)
                if callback is not None:
                    dispatcher().call(_safe, callback, (),
                                          {"pvname": self.pvname, **extra})
                reply(status, *rest)

            assert self._channel is not None
            try:
                self.context.write(self._channel, data_type, count, payload, done)
            except ConnectionError:
                raise CAError("not connected", pvname=self.pvname) from None
            if wait:
                if not reply.event.wait(timeout):
                    raise CATimeoutError(self.pvname, timeout, "complete a put")
                assert reply.result is not None
                if reply.result[0] == ECA_DISCONN and reply.result[3] is None:
                    raise CAError("disconnected before the put completed",
                                  pvname=self.pvname)
                if errors:
                    raise errors[0]
        except CAError as exc:
            self._fail(exc, raise_on_error)
            return None
        return 1

    @property
    def value(self) -> Any:
        """The value, as :meth:`get` returns it; assigning puts without waiting."""
        return self.get()

    @value.setter
    def value(self, value: Any) -> None:
        self.put(value)

    @property
    def info(self) -> Optional[str]:
        """The text report ``cainfo`` prints (reads value and control metadata)."""
        self.get(use_monitor=False, raise_on_error=False)
        self.get_ctrlvars(raise_on_error=False)
        return self._info_text()

    def add_callback(self, callback: Callable[..., Any], index: Optional[int] = None,
                     run_now: bool = False, with_ctrlvars: bool = True, **kw: Any) -> int:
        """Call ``callback(pvname=, value=, char_value=, status=, severity=, timestamp=, ...,
        cb_info=(index, pv), **kw)`` on every new value (pyepics' keyword arguments).

        ``run_now`` calls it at once (after waiting for the connection) if a value is known.

        Returns:
            the index to pass to :meth:`remove_callback`.
        """
        index = super().add_callback(callback, index=index, run_now=False, **kw)
        if run_now and self.wait_for_connection(raise_on_error=False):
            if self._raw is None:
                self.get(raise_on_error=False)
            self.run_callback(index)
        return index

    def wait_for(self, predicate: Callable[[Any], bool], timeout: Optional[float]) -> bool:
        """Block until ``predicate(value)`` holds: checked on a fresh read, then on monitor
        events stamped no earlier than that read (stale queued events are ignored).

        Returns:
            ``True``, or ``False`` when ``timeout`` seconds passed first.

        Raises:
            CATimeoutError: no connection or read reply within ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        hit = threading.Event()
        since: List[float] = []

        def check(value: Any = None, timestamp: Optional[float] = None, **_: Any) -> None:
            if since and predicate(value) and (timestamp is None or timestamp >= since[0]):
                hit.set()

        index = self.add_callback(check, with_ctrlvars=False)
        try:
            if predicate(self.get(timeout=timeout, use_monitor=False, raise_on_error=True)):
                return True
            since.append(self._args["timestamp"] or 0.0)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            return hit.wait(remaining)
        finally:
            self.remove_callback(index)

    def poll(self, evt: float = 1.0e-4, iot: float = 1.0) -> None:
        """Let queued callbacks run (pyepics' ``poll``): waits up to ``iot`` seconds for the
        callback thread to catch up (callbacks also run without it)."""
        poll(evt, iot)

    def force_connect(self) -> None:
        """Run the connection handling again (metadata read, monitor) if connected."""
        channel = self._channel
        if channel is not None and channel.connected:
            self._ca_connection(channel, True)

    def reconnect(self) -> bool:
        """Connect again after :meth:`disconnect` (or re-run the connection handling).

        Returns:
            whether the PV is connected (pyepics); raises on timeout unless told not to.
        """
        if self._channel is None:
            self._ready.clear()
            self._channel = self.context.attach(self.pvname, self)
        else:
            self.force_connect()
        return self.wait_for_connection(raise_on_error=False)

    def clear_callbacks(self, with_access_callback: bool = False,
                        with_connect_callback: bool = False) -> None:
        """Remove every value callback (and, if asked, access/connection callbacks)."""
        super().clear_callbacks()
        if with_access_callback:
            self.access_callbacks.clear()
        if with_connect_callback:
            self.connection_callbacks.clear()

    def clear_auto_monitor(self) -> None:
        """Stop the internal monitor; ``get()`` asks the server from now on."""
        self.auto_monitor = False
        if self._subscription is not None:
            self.context.unsubscribe(self._subscription)
            self._subscription = None
        self._monitor_seen = False

    def disconnect(self, deepclean: bool = True) -> None:
        """Drop this PV, as pyepics does: ``connected`` becomes ``False``, callbacks and the
        monitor go, the ``get_pv`` cache forgets it and the channel is cleared on the server
        when no other PV uses it. Later calls raise :class:`CAError` until :meth:`reconnect`."""
        with cache_lock:
            for key, pv in list(pv_cache.items()):
                if pv is self:
                    del pv_cache[key]
        self.clear_callbacks(True, True)
        if self._subscription is not None:
            self.context.unsubscribe(self._subscription)
            self._subscription = None
        channel, self._channel = self._channel, None
        if channel is not None:
            self.context.detach(channel, self)
        self._ready.clear()
        self._monitor_seen = False
        self._ctrl_loaded = False
        self.connected = False
        self._raw = None
        for key in self._args:
            if key not in ("pvname", "monitor_delta"):
                self._args[key] = None


def _safe(callback: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
    try:
        callback(*args, **kwargs)
    except Exception:
        log.exception("callback %r failed", callback)


def poll(evt: float = 1.0e-4, iot: float = 1.0) -> None:
    """pyepics' ``poll``: callbacks run on their own thread here, so this only waits up to
    ``iot`` seconds for the callbacks queued so far to run (``evt`` is accepted and unused)."""
    dispatcher().drain(iot)
