"""The asyncio ``PV`` on the shared client core; conversions come from the shared base.

The core's I/O thread hands replies to the PV's event loop (``call_soon_threadsafe``), so
the same searches, circuits and subscriptions serve the thread face and every loop.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Tuple

from ...protocol import _ca_client as wire
from .. import _convert
from .._context import default_context as _shared_context
from .._core import Channel, Context, Subscription
from .._errors import CAError, CATimeoutError, should_raise
from .._pv import DEFAULT_TIMEOUT, MONITOR_MASK, PUT_TIMEOUT
from .._pvbase import CTRL_KEYS, TIME_KEYS, PVBase, log

#: Per event loop: ``{(pvname, form): PV}`` (see :func:`iocgate.client.aio.get_pv`).
pv_caches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dict[Tuple[str, str], Any]] = (
    weakref.WeakKeyDictionary())


def default_context() -> Context:
    """The client core shared with the thread face (one per process)."""
    return _shared_context()


async def reset_default_context() -> None:
    """Disconnect the running loop's cached PVs (the core stays shared with the thread
    face; :func:`iocgate.client.reset_default_context` resets it)."""
    for pv in list(pv_caches.pop(asyncio.get_running_loop(), {}).values()):
        await pv.disconnect()


def _post(loop: asyncio.AbstractEventLoop, func: Callable[..., Any], *args: Any) -> None:
    """Run ``func(*args)`` on ``loop`` (dropped if that loop has closed)."""
    try:
        loop.call_soon_threadsafe(func, *args)
    except RuntimeError:
        pass


def _resolve(future: asyncio.Future, result: Any) -> None:
    if not future.done():
        future.set_result(result)


class PV(PVBase):
    """An asyncio Channel Access PV with pyepics' attributes (``await pv.get()`` ...).

    Nothing is sent until :meth:`wait_for_connection` (or any awaited call) runs; it returns
    with the control metadata read, so ``units``, ``precision``, ``enum_strs``, limits are set.
    Value callbacks (plain functions or coroutine functions, pyepics' keywords) start a
    monitor; :meth:`monitor` iterates over changes instead.

    Args:
        pvname: the PV name.
        form: ``'time'`` (default), ``'ctrl'`` or ``'native'``.
        count: number of waveform elements to ask the server for.
        connection_timeout: default seconds to wait for the connection.
        connection_callback: ``f(pvname=, conn=, pv=)`` on every connect and disconnect.
        access_callback: ``f(read_access, write_access, pv=)`` when access rights arrive or
            change. Callbacks run on the PV's event loop; coroutine functions are scheduled.
        monitor_delta: skip value callbacks for numeric changes smaller than this
            (client-side; the server's ``MDEL`` is not written).
        context: a client core; default the shared one.
    """

    def __init__(self, pvname: str, form: str = "time", count: Optional[int] = None,
                 connection_timeout: Optional[float] = None,
                 monitor_delta: Optional[float] = None, context: Optional[Context] = None,
                 connection_callback: Optional[Callable[..., Any]] = None,
                 access_callback: Optional[Callable[..., Any]] = None):
        super().__init__(pvname, form=form, auto_monitor=False, count=count,
                         monitor_delta=monitor_delta)
        if connection_callback is not None:
            self.connection_callbacks.append(connection_callback)
        self.access_callbacks: List[Callable[..., Any]] = (
            [] if access_callback is None else [access_callback])
        _convert.data_type_for(_convert.DBR.DOUBLE, form)
        self.connection_timeout = connection_timeout
        self.context = context
        self._channel: Optional[Channel] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._connected_event: Optional[asyncio.Event] = None
        self._subscription: Optional[Subscription] = None

    def _timeout(self, timeout: Optional[float]) -> Optional[float]:
        if timeout is not None:
            return timeout
        return DEFAULT_TIMEOUT if self.connection_timeout is None else self.connection_timeout

    # ---- core listener (I/O thread) -> this PV's loop -------------------------------------
    def _ca_access(self, channel: Channel, rights: int) -> None:
        assert self._loop is not None
        _post(self._loop, self._on_access, rights)

    def _on_access(self, rights: int) -> None:
        read, write = self._apply_access(rights)
        for callback in list(self.access_callbacks):
            _run_callback(callback, f"access callback for {self.pvname}", read, write,
                          pv=self)

    def _ca_connection(self, channel: Channel, connected: bool) -> None:
        assert self._loop is not None
        _post(self._loop, self._on_connection, channel, connected)

    def _on_connection(self, channel: Channel, connected: bool) -> None:
        assert self._connected_event is not None
        if connected and channel.connected:
            self._apply_connection(True, host=_convert.host_name(channel.address),
                                   native=channel.native, nelm=channel.nelm, chid=channel.cid,
                                   notify=False)
            self._connected_event.set()
        elif not connected and self.connected:
            self._connected_event.clear()
            self._ctrl_loaded = False
            self._apply_connection(False, notify=False)
        else:
            return
        for callback in list(self.connection_callbacks):
            _run_callback(callback, f"connection callback for {self.pvname}",
                          pvname=self.pvname, conn=connected, pv=self)

    def _on_event(self, status: int, data_type: int, count: int, payload: Any) -> None:
        assert self._loop is not None
        if wire.eca_ok(status):
            _post(self._loop, self._deliver, data_type, count, payload)

    def _deliver(self, data_type: int, count: int, payload: Any) -> None:
        self._apply_payload(data_type, count, payload)
        if not self._passes_monitor_delta():
            return
        args = dict(self._args)
        for index, (callback, kw) in list(self.callbacks.items()):
            _run_callback(callback, f"value callback {index} for {self.pvname}",
                          **{**args, **kw, "cb_info": (index, self)})

    # ---- I/O -------------------------------------------------------------------------------
    async def wait_for_connection(self, timeout: Optional[float] = None,
                                  raise_on_error: Optional[bool] = None) -> bool:
        """Connect and read the control metadata.

        Returns:
            ``True``; ``False`` on timeout when not raising.

        Raises:
            CATimeoutError: no connection within ``timeout`` seconds (names the PV).
        """
        timeout = self._timeout(timeout)
        try:
            await asyncio.wait_for(self._connect(timeout), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            error = CATimeoutError(self.pvname, timeout)
            if should_raise(raise_on_error):
                raise error from None
            log.warning("%s", error)
            return False
        return True

    connect = wait_for_connection

    async def _connect(self, timeout: Optional[float]) -> None:
        if self._channel is None:
            self._loop = asyncio.get_running_loop()
            self._connected_event = asyncio.Event()
            context = self.context if self.context is not None else default_context()
            self.context = context
            self._channel = context.attach(self.pvname, self)
        assert self._connected_event is not None
        if self.connected and self._ctrl_loaded:
            return
        await self._connected_event.wait()
        await self._read("ctrl", timeout, 1 if (self._args["nelm"] or 1) > 1 else 0,
                         with_value=(self._args["nelm"] or 1) <= 1)
        self._ctrl_loaded = True
        if self.callbacks:  # added before the connection
            self._subscribe()

    async def _request(self, send: Callable[[Any], None],
                       timeout: Optional[float], what: str) -> Tuple[int, int, int, Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        try:
            send(lambda *result: _post(loop, _resolve, future, result))
        except ConnectionError:
            raise CAError("not connected", pvname=self.pvname) from None
        try:
            return await asyncio.wait_for(future, timeout)
        except (asyncio.TimeoutError, TimeoutError):
            raise CATimeoutError(self.pvname, timeout, what) from None

    async def _read(self, form: str, timeout: Optional[float], count: int = 0,
                    with_value: bool = True) -> Any:
        """Read ``form`` now and apply the reply (see the thread face's ``_read``); returns
        the reply's raw value."""
        channel = self._channel
        assert channel is not None and self.context is not None
        context = self.context
        status, data_type, wire_count, payload = await self._request(
            lambda done: context.read(channel, self._read_type(form), count, done),
            timeout, "answer a read")
        if payload is None:
            raise CAError("disconnected before the read was answered", pvname=self.pvname)
        _convert.check_status(self.pvname, status, put=False)
        return self._apply_payload(data_type, wire_count, payload,
                                   with_value=with_value and count == 0)

    async def get(self, count: Optional[int] = None, as_string: bool = False,
                  as_numpy: bool = True, timeout: Optional[float] = None,
                  use_monitor: bool = True, raise_on_error: Optional[bool] = None) -> Any:
        """The value, converted as the sync :meth:`iocgate.client.PV.get` does.

        Raises:
            CATimeoutError: no connection or reply within ``timeout`` seconds.
        """
        try:
            await self.wait_for_connection(timeout, raise_on_error=True)
            raw = None
            if not (use_monitor and self._subscription is not None and self._raw is not None):
                raw = await self._read(self.form, self._timeout(timeout),
                                       self._request_count(count))
        except CAError as exc:
            if should_raise(raise_on_error):
                raise
            log.warning("%s", exc)
            return None
        return self._converted(count=count, as_string=as_string, as_numpy=as_numpy, raw=raw)

    async def get_ctrlvars(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Read the control metadata now (units, precision, limits, enum strings, alarm)."""
        await self.wait_for_connection(timeout, raise_on_error=True)
        await self._read("ctrl", self._timeout(timeout), self._request_count())
        return self._subset(CTRL_KEYS)

    async def get_timevars(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Read the time metadata now (status, severity, timestamp ...)."""
        await self.wait_for_connection(timeout, raise_on_error=True)
        await self._read("time", self._timeout(timeout), self._request_count())
        return self._subset(TIME_KEYS)

    async def put(self, value: Any, wait: bool = False, timeout: Optional[float] = None,
                  callback: Optional[Callable[..., Any]] = None, callback_data: Any = None,
                  raise_on_error: Optional[bool] = None) -> Optional[int]:
        """Write ``value`` (enum names, ``str`` to CHAR waveforms, arrays).

        Args:
            wait: await completion of the put and its processing.
            timeout: seconds to wait for completion (``None`` = :data:`PUT_TIMEOUT`).
            callback: on completion, ``f(pvname=, **callback_data)`` for a dict, else
                ``f(pvname=, data=callback_data)`` (pyepics).

        Raises:
            CATimeoutError: no connection, or (``wait``) no completion in time; the put may
                still complete on the server.
            CAPutError: no write access, unknown enum name, or refused by the server (with
                ``wait``; otherwise logged and kept in ``last_put_error``).
        """
        timeout = PUT_TIMEOUT if timeout is None else timeout
        extra = callback_data if isinstance(callback_data, dict) else {"data": callback_data}
        try:
            await self.wait_for_connection(None, raise_on_error=True)
            data_type, count, payload = self._start_put(value)
            channel, context = self._channel, self.context
            assert channel is not None and context is not None
            request = asyncio.ensure_future(self._request(
                lambda done: context.write(channel, data_type, count, payload, done),
                timeout, "complete a put"))

            async def finish() -> Optional[CAError]:
                status, *_, reply = await request
                error = self._finish_put(status)
                if reply is None and error is None and not wire.eca_ok(status):
                    error = CAError("disconnected before the put completed",
                                    pvname=self.pvname)
                if callback is not None:
                    await _call(callback, pvname=self.pvname, **extra)
                return error

            if not wait:
                task = asyncio.ensure_future(finish())
                task.add_done_callback(_log_put_failure)
                return 1
            error = await finish()
            if error is not None:
                raise error
        except CAError as exc:
            if should_raise(raise_on_error):
                raise
            log.warning("%s", exc)
            return None
        return 1

    def add_callback(self, callback: Callable[..., Any], index: Optional[int] = None,
                     run_now: bool = False, with_ctrlvars: bool = True, **kw: Any) -> int:
        """Add a value callback (function or coroutine function, pyepics' keywords); the
        monitor starts now if connected, else when :meth:`wait_for_connection` connects."""
        index = super().add_callback(callback, index=index, run_now=False, **kw)
        if self._ctrl_loaded:
            self._subscribe()
        return index

    def _subscribe(self) -> None:
        if self._subscription is None and self._channel is not None:
            assert self.context is not None
            self._subscription = self.context.subscribe(
                self._channel, self._read_type(), self._request_count(monitor=True), MONITOR_MASK,
                self._on_event)

    async def monitor(self, timeout: Optional[float] = None) -> AsyncIterator[Dict[str, Any]]:
        """Iterate over changes: each item is the pyepics callback dict (``value``,
        ``char_value``, ``timestamp``, ``severity`` ...), starting with the current value.

        Raises:
            CATimeoutError: no connection within ``timeout`` seconds.
        """
        queue: asyncio.Queue[Dict[str, Any]] = asyncio.Queue()
        await self.wait_for_connection(timeout, raise_on_error=True)
        index = self.add_callback(lambda **kw: queue.put_nowait(kw))
        try:
            while True:
                yield await queue.get()
        finally:
            self.remove_callback(index)

    async def disconnect(self) -> None:
        """Stop the monitor, drop every callback and release the channel."""
        self.clear_callbacks()
        if self.context is not None:
            if self._subscription is not None:
                self.context.unsubscribe(self._subscription)
                self._subscription = None
            if self._channel is not None:
                self.context.detach(self._channel, self)
        self._channel = None
        self._ctrl_loaded = False
        self.connected = False


def _log_put_failure(task: asyncio.Future) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.warning("%s", exc)
    elif task.result() is not None:
        log.warning("%s", task.result())


async def _call(callback: Callable[..., Any], **kwargs: Any) -> None:
    result = callback(**kwargs)
    if inspect.isawaitable(result):
        await result


def _run_callback(callback: Callable[..., Any], what: str, *args: Any, **kwargs: Any) -> None:
    """Call a user callback on the loop; a coroutine it returns is scheduled. Its exception
    is logged (naming ``what``), never raised into the client core."""
    try:
        result = callback(*args, **kwargs)
        if inspect.isawaitable(result):
            asyncio.ensure_future(result)
    except Exception:
        log.exception("%s failed", what)
