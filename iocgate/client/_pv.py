"""The synchronous ``PV`` (pyepics semantics) on caproto's threading client."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional

from caproto import SubscriptionType
from caproto._utils import CaprotoTimeoutError
from caproto.threading.client import Context

from . import _convert
from ._caproto_hooks import patch_circuit, patch_context
from ._context import default_context
from ._errors import CAError, CATimeoutError, should_raise
from ._pvbase import CTRL_KEYS, TIME_KEYS, PVBase, log

#: Seconds ``wait_for_connection``/``get`` wait when not told (pyepics: 5 s).
DEFAULT_TIMEOUT = 5.0
#: Seconds a ``put(wait=True)`` waits for completion when not told (pyepics: 30 s).
PUT_TIMEOUT = 30.0
_MONITOR_MASK = SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM
#: Name prefix of caproto's threads that run the callbacks (one per circuit).
_CALLBACK_THREAD = "user-callback-executor"


class PV(PVBase):
    """A Channel Access PV with pyepics' semantics, on caproto's threading client.

    Creating a PV starts the search and returns at once. On connection the PV reads the control
    metadata (units, precision, limits, enum strings) and, with ``auto_monitor``, subscribes;
    :meth:`wait_for_connection` returns once both arrived, so every attribute is filled then.

    Args:
        pvname: the PV name.
        callback: a value callback, or a list of them (see :meth:`add_callback`).
        form: ``'time'`` (default), ``'ctrl'`` or ``'native'``.
        auto_monitor: keep a subscription (default ``True``); ``get()`` then returns the latest
            monitored value without a round trip unless ``use_monitor=False``.
        count: default element count returned for waveforms.
        connection_callback: ``f(pvname=, conn=, pv=)`` on every connect and disconnect.
        connection_timeout: seconds :meth:`wait_for_connection` waits by default
            (``None`` = :data:`DEFAULT_TIMEOUT`).
        monitor_delta: skip value callbacks for numeric changes smaller than this
            (client-side; the server's ``MDEL`` is not written).
        context: a caproto threading ``Context``; default the shared one.

    Callbacks run on caproto's callback thread (one per server, in order): keep them short.
    They may read and write other PVs, new ones included, as pyepics allows; a blocking call
    there delays the callbacks queued behind it.
    """

    def __init__(self, pvname: str, callback: Optional[Any] = None, form: str = "time",
                 auto_monitor: Optional[bool] = None, count: Optional[int] = None,
                 connection_callback: Optional[Callable[..., Any]] = None,
                 connection_timeout: Optional[float] = None,
                 monitor_delta: Optional[float] = None, context: Optional[Context] = None):
        super().__init__(pvname, form=form, auto_monitor=auto_monitor, count=count,
                         monitor_delta=monitor_delta)
        _convert.data_type_for(_convert.ChannelType.DOUBLE, form)  # validate early
        self.connection_timeout = connection_timeout
        self.context = context if context is not None else default_context()
        patch_context(self.context)
        self._ready = threading.Event()
        self._monitor_seen = False
        self._subscription: Any = None
        self._sub_token: Optional[int] = None
        self._announced_cid: Optional[int] = None
        for func in (callback if isinstance(callback, (list, tuple)) else [callback]):
            if func is not None:
                self.add_callback(func)
        if connection_callback is not None:
            self.connection_callbacks.append(connection_callback)
        (self._chan,) = self.context.get_pvs(
            pvname, connection_state_callback=self._on_state,
            access_rights_callback=self._on_access)

    # ---- caproto callbacks (caproto's callback thread) --------------------------------------
    def _on_state(self, chan: Any, state: str) -> None:
        # caproto replays the last state to every PV of a name whenever another PV of that
        # name is created: act on changes only.
        cid = chan.channel.cid if state == "connected" else None
        if cid == self._announced_cid:
            return
        self._announced_cid = cid
        if state != "connected":
            self._ready.clear()
            self._monitor_seen = False
            self._apply_connection(False)
            return
        self._apply_connection(True, **self._channel_info(chan))
        try:
            chan.read(wait=False, callback=self._on_ctrl, data_type=self._read_type("ctrl"),
                      timeout=self._timeout(None))
        except Exception:
            log.exception("metadata read for %s failed", self.pvname)

    @staticmethod
    def _channel_info(chan: Any) -> Dict[str, Any]:
        channel = chan.channel
        patch_circuit(chan.circuit_manager)
        host = _convert.host_name(tuple(chan.circuit_manager.circuit.address))
        return dict(host=host, native=channel.native_data_type,
                    nelm=channel.native_data_count, chid=channel.cid)

    def _on_access(self, chan: Any, rights: Any) -> None:
        self._apply_access(rights)

    def _on_ctrl(self, response: Any) -> None:
        self._apply_reply(response.data, response.data_type, response.metadata)
        self._ctrl_loaded = True
        if not self.auto_monitor:
            self._ready.set()
            return
        if self._subscription is None:
            self._subscription = self._chan.subscribe(data_type=self._read_type(),
                                                      mask=_MONITOR_MASK)
            self._sub_token = self._subscription.add_callback(self._on_event)
        elif self._monitor_seen:
            self._ready.set()

    def _on_event(self, sub: Any, response: Any) -> None:
        self._apply_reply(response.data, response.data_type, response.metadata)
        self._monitor_seen = True
        if self._ctrl_loaded:
            self._ready.set()
        if self._passes_monitor_delta():
            self.run_callbacks()

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
        """Wait until connected with metadata (and first monitor value) in hand.

        Args:
            timeout: seconds; ``None`` = ``connection_timeout`` or :data:`DEFAULT_TIMEOUT`.
            raise_on_error: ``False`` returns ``False`` on timeout as pyepics does;
                ``None`` follows ``iocgate.client.settings``.

        Returns:
            ``True`` when connected.

        Raises:
            CATimeoutError: not connected within ``timeout`` (names the PV and the seconds).
        """
        timeout = self._timeout(timeout)
        on_callback_thread = threading.current_thread().name.startswith(_CALLBACK_THREAD)
        if self._ready.wait(0 if on_callback_thread else timeout) or (
                on_callback_thread and self._connect_here(timeout)):
            return True
        self._fail(CATimeoutError(self.pvname, timeout), raise_on_error)
        return False

    connect = wait_for_connection

    def _connect_here(self, timeout: Optional[float]) -> bool:
        """Connect from caproto's callback thread (a callback reading another PV, as pyepics
        allows): ``_on_state``/``_on_ctrl`` are queued behind the running callback there, so
        read the metadata with blocking reads instead. The queued callbacks still run later
        (connection callbacks, subscription)."""
        if self.connected and self._ctrl_loaded:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._chan.channel_ready.wait(timeout):
            return False
        self._apply_access(self._chan.access_rights)
        self._apply_connection(True, notify=False, **self._channel_info(self._chan))
        try:
            for form in ("ctrl", self.form):
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                reply = self._read(form, remaining)
                self._apply_reply(reply.data, reply.data_type, reply.metadata)
        except CAError:
            return False
        self._ctrl_loaded = True
        return True

    def _read(self, form: str, timeout: Optional[float]) -> Any:
        try:
            reply = self._chan.read(data_type=self._read_type(form), timeout=timeout)
        except CaprotoTimeoutError:
            raise CATimeoutError(self.pvname, timeout, "answer a read") from None
        _convert.check_status(self.pvname, reply.status, put=False)
        return reply

    def get(self, count: Optional[int] = None, as_string: bool = False, as_numpy: bool = True,
            timeout: Optional[float] = None, use_monitor: bool = True,
            raise_on_error: Optional[bool] = None) -> Any:
        """The value: ``float``/``int``/``str`` for scalars, numpy array for waveforms, enum index
        (or name with ``as_string``), ``str`` for CHAR waveforms with ``as_string``.

        Args:
            count: at most this many waveform elements.
            as_string: return ``char_value`` instead.
            as_numpy: waveforms as numpy arrays (default) or lists.
            timeout: seconds for connection and read; ``None`` = the PV's default.
            use_monitor: return the monitored value if there is one (no round trip).
            raise_on_error: ``False`` returns ``None`` on failure (pyepics).

        Raises:
            CATimeoutError: no connection or no answer within ``timeout``.
        """
        try:
            self.wait_for_connection(timeout, raise_on_error=True)
            if not (use_monitor and self.auto_monitor and self._monitor_seen):
                reply = self._read(self.form, self._timeout(timeout))
                self._apply_reply(reply.data, reply.data_type, reply.metadata)
        except CAError as exc:
            self._fail(exc, raise_on_error)
            return None
        return self._converted(count=count, as_string=as_string, as_numpy=as_numpy)

    def get_with_metadata(self, count: Optional[int] = None, as_string: bool = False,
                          as_numpy: bool = True, timeout: Optional[float] = None,
                          form: Optional[str] = None, use_monitor: bool = True,
                          raise_on_error: Optional[bool] = None) -> Optional[Dict[str, Any]]:
        """Like :meth:`get` but returns the dict of value and metadata pyepics returns."""
        value = self.get(count=count, as_string=as_string, as_numpy=as_numpy, timeout=timeout,
                         use_monitor=use_monitor and form is None,
                         raise_on_error=raise_on_error)
        if value is None and self._raw is None:
            return None
        if form is not None and form != self.form:
            reply = self._read(form, self._timeout(timeout))
            self._apply_reply(reply.data, reply.data_type, reply.metadata)
        md = dict(self._args)
        md["value"] = value
        return md

    def get_ctrlvars(self, timeout: Optional[float] = None,
                     raise_on_error: Optional[bool] = None) -> Optional[Dict[str, Any]]:
        """Read the control metadata now: units, precision, limits, enum strings, alarm state."""
        return self._read_vars("ctrl", CTRL_KEYS, timeout, raise_on_error)

    def get_timevars(self, timeout: Optional[float] = None,
                     raise_on_error: Optional[bool] = None) -> Optional[Dict[str, Any]]:
        """Read the time metadata now: status, severity, timestamp, posixseconds, nanoseconds."""
        return self._read_vars("time", TIME_KEYS, timeout, raise_on_error)

    def _read_vars(self, form: str, keys: Any, timeout: Optional[float],
                   raise_on_error: Optional[bool]) -> Optional[Dict[str, Any]]:
        try:
            self.wait_for_connection(timeout, raise_on_error=True)
            reply = self._read(form, self._timeout(timeout))
        except CAError as exc:
            self._fail(exc, raise_on_error)
            return None
        self._apply_reply(reply.data, reply.data_type, reply.metadata)
        return self._subset(keys)

    def put(self, value: Any, wait: bool = False, timeout: Optional[float] = None,
            use_complete: bool = False, callback: Optional[Callable[..., Any]] = None,
            callback_data: Any = None, raise_on_error: Optional[bool] = None) -> Optional[int]:
        """Write ``value``: enum names or indices, ``str`` to CHAR waveforms, lists/arrays.

        Args:
            wait: block until the server reports the put (and its processing) complete.
            timeout: seconds to wait for completion (``None`` = :data:`PUT_TIMEOUT`).
            use_complete: accepted for pyepics compatibility; ``put_complete`` is always
                tracked (``False`` until the server confirms the put).
            callback: ``f(pvname=, data=callback_data)`` when the put completes.
            raise_on_error: ``False`` returns ``None`` on failure (pyepics).

        Returns:
            1 once sent (and, with ``wait``, completed).

        Raises:
            CATimeoutError: no connection, or (``wait``) no completion within ``timeout``; the
                put may still complete later on the server.
            CAPutError: no write access, an unknown enum name, or the server refused (carries
                the ECA status). Without ``wait``/``callback``/``use_complete`` a server refusal
                is only logged and kept in ``last_put_error``.
        """
        timeout = PUT_TIMEOUT if timeout is None else timeout
        try:
            self.wait_for_connection(self.connection_timeout, raise_on_error=True)
            payload = self._start_put(value)

            def done(reply: Any) -> Optional[CAError]:
                # The server may confirm the put before its monitor event arrives: until the
                # next event, get() reads from the server instead of returning the old value.
                self._monitor_seen = False
                error = self._finish_put(reply)
                if error is not None and not wait:
                    log.warning("%s", error)
                if callback is not None:
                    try:
                        callback(pvname=self.pvname, data=callback_data)
                    except Exception:
                        log.exception("put callback for %s failed", self.pvname)
                return error

            if wait:
                try:
                    reply = self._chan.write(payload, wait=True, timeout=timeout)
                except CaprotoTimeoutError:
                    raise CATimeoutError(self.pvname, timeout, "complete a put") from None
                error = done(reply)
                if error is not None:
                    raise error
            else:
                self._chan.write(payload, wait=False, callback=done, timeout=timeout)
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

        index = self.add_callback(check)
        try:
            if predicate(self.get(timeout=timeout, use_monitor=False, raise_on_error=True)):
                return True
            since.append(self.timestamp or 0.0)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            return hit.wait(remaining)
        finally:
            self.remove_callback(index)

    def disconnect(self) -> None:
        """Stop monitoring and drop every callback (the channel stays cached in the context)."""
        self.clear_callbacks()
        self.connection_callbacks.clear()
        if self._subscription is not None:  # shared with other PVs of the same name
            self._subscription.remove_callback(self._sub_token)
            self._subscription = None
        self.auto_monitor = False
        self._monitor_seen = False
