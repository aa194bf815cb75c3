"""The asyncio ``PV`` on caproto's asyncio client; conversions come from the shared base."""

from __future__ import annotations

import asyncio
import inspect
import weakref
from typing import Any, AsyncIterator, Callable, Dict, Optional

from caproto import SubscriptionType
from caproto.asyncio.client import Context

from .. import _convert
from .._caproto_hooks import patch_circuit
from .._errors import CAError, CATimeoutError, should_raise
from .._pv import DEFAULT_TIMEOUT, PUT_TIMEOUT
from .._pvbase import CTRL_KEYS, TIME_KEYS, PVBase, log

_MONITOR_MASK = SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM
_contexts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Context] = (
    weakref.WeakKeyDictionary())


def default_context() -> Context:
    """The shared asyncio client context of the running event loop (created on first use from
    the ``EPICS_CA_*`` environment then current)."""
    loop = asyncio.get_running_loop()
    context = _contexts.get(loop)
    if context is None:
        context = _contexts[loop] = Context()
    return context


async def reset_default_context() -> None:
    """Disconnect and forget the running loop's shared context (and the PV cache)."""
    from ._procedural import _cache

    context = _contexts.pop(asyncio.get_running_loop(), None)
    if context is not None:
        for pv in _cache.pop(context, {}).values():
            await pv.disconnect()
        await context.disconnect()


class PV(PVBase):
    """An asyncio Channel Access PV with pyepics' attributes (``await pv.get()`` ...).

    Nothing is sent until :meth:`wait_for_connection` (or any awaited call) runs; it returns
    with the control metadata read, so ``units``, ``precision``, ``enum_strs``, limits are set.
    Value callbacks (plain functions or coroutine functions, pyepics' keywords) start a
    monitor; :meth:`monitor` iterates over changes instead.

    Args:
        pvname: the PV name.
        form: ``'time'`` (default), ``'ctrl'`` or ``'native'``.
        count: default element count returned for waveforms.
        connection_timeout: default seconds to wait for the connection.
        monitor_delta: skip value callbacks for numeric changes smaller than this
            (client-side; the server's ``MDEL`` is not written).
        context: a caproto asyncio ``Context``; default the running loop's shared one.
    """

    def __init__(self, pvname: str, form: str = "time", count: Optional[int] = None,
                 connection_timeout: Optional[float] = None,
                 monitor_delta: Optional[float] = None, context: Optional[Context] = None):
        super().__init__(pvname, form=form, auto_monitor=False, count=count,
                         monitor_delta=monitor_delta)
        _convert.data_type_for(_convert.ChannelType.DOUBLE, form)
        self.connection_timeout = connection_timeout
        self.context = context
        self._chan: Any = None
        self._subscription: Any = None
        self._sub_token: Optional[int] = None

    def _timeout(self, timeout: Optional[float]) -> Optional[float]:
        if timeout is not None:
            return timeout
        return DEFAULT_TIMEOUT if self.connection_timeout is None else self.connection_timeout

    async def _on_state(self, chan: Any, state: str) -> None:
        if state != "connected" and self.connected:
            self._apply_connection(False)

    async def _on_access(self, chan: Any, rights: Any) -> None:
        self._apply_access(rights)

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
        if self._chan is None:
            context = self.context if self.context is not None else default_context()
            (self._chan,) = await context.get_pvs(
                self.pvname, connection_state_callback=self._on_state,
                access_rights_callback=self._on_access)
        if self.connected and self._ctrl_loaded:
            return
        await self._chan.wait_for_connection(timeout=timeout)
        self._apply_access(self._chan.access_rights)
        channel = self._chan.channel
        patch_circuit(self._chan.circuit_manager)
        host = _convert.host_name(tuple(self._chan.circuit_manager.circuit.address))
        self._apply_connection(True, host=host, native=channel.native_data_type,
                               nelm=channel.native_data_count, chid=channel.cid)
        await self._read("ctrl", timeout)
        self._ctrl_loaded = True
        if self.callbacks:  # added before the connection
            self._subscribe()

    async def _read(self, form: str, timeout: Optional[float]) -> None:
        try:
            reply = await self._chan.read(data_type=self._read_type(form), timeout=timeout)
        except TimeoutError:
            raise CATimeoutError(self.pvname, timeout, "answer a read") from None
        _convert.check_status(self.pvname, reply.status, put=False)
        self._apply_reply(reply.data, reply.data_type, reply.metadata)

    async def get(self, count: Optional[int] = None, as_string: bool = False,
                  as_numpy: bool = True, timeout: Optional[float] = None,
                  use_monitor: bool = True, raise_on_error: Optional[bool] = None) -> Any:
        """The value, converted as the sync :meth:`iocgate.client.PV.get` does.

        Raises:
            CATimeoutError: no connection or reply within ``timeout`` seconds.
        """
        try:
            await self.wait_for_connection(timeout, raise_on_error=True)
            if not (use_monitor and self._subscription is not None and self._raw is not None):
                await self._read(self.form, self._timeout(timeout))
        except CAError as exc:
            if should_raise(raise_on_error):
                raise
            log.warning("%s", exc)
            return None
        return self._converted(count=count, as_string=as_string, as_numpy=as_numpy)

    async def get_ctrlvars(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Read the control metadata now (units, precision, limits, enum strings, alarm)."""
        await self.wait_for_connection(timeout, raise_on_error=True)
        await self._read("ctrl", self._timeout(timeout))
        return self._subset(CTRL_KEYS)

    async def get_timevars(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Read the time metadata now (status, severity, timestamp ...)."""
        await self.wait_for_connection(timeout, raise_on_error=True)
        await self._read("time", self._timeout(timeout))
        return self._subset(TIME_KEYS)

    async def put(self, value: Any, wait: bool = False, timeout: Optional[float] = None,
                  callback: Optional[Callable[..., Any]] = None, callback_data: Any = None,
                  raise_on_error: Optional[bool] = None) -> Optional[int]:
        """Write ``value`` (enum names, ``str`` to CHAR waveforms, arrays).

        Args:
            wait: await completion of the put and its processing.
            timeout: seconds to wait for completion (``None`` = :data:`PUT_TIMEOUT`).
            callback: ``f(pvname=, data=callback_data)`` on completion.

        Raises:
            CATimeoutError: no connection, or (``wait``) no completion in time; the put may
                still complete on the server.
            CAPutError: no write access, unknown enum name, or refused by the server (with
                ``wait``; otherwise logged and kept in ``last_put_error``).
        """
        timeout = PUT_TIMEOUT if timeout is None else timeout
        try:
            await self.wait_for_connection(None, raise_on_error=True)
            payload = self._start_put(value)

            async def done(reply: Any) -> Optional[CAError]:
                error = self._finish_put(reply)
                if error is not None and not wait:
                    log.warning("%s", error)
                if callback is not None:
                    await _call(callback, pvname=self.pvname, data=callback_data)
                return error

            try:
                reply = await self._chan.write(payload, wait=wait,
                                               callback=None if wait else done,
                                               timeout=timeout, notify=True)
            except TimeoutError:
                raise CATimeoutError(self.pvname, timeout, "complete a put") from None
            if wait:
                error = await done(reply)
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
        if self._subscription is None:
            self._subscription = self._chan.subscribe(data_type=self._read_type(),
                                                      mask=_MONITOR_MASK)
            self._sub_token = self._subscription.add_callback(self._on_event)

    async def _on_event(self, sub: Any, response: Any) -> None:
        self._apply_reply(response.data, response.data_type, response.metadata)
        if not self._passes_monitor_delta():
            return
        kwargs = dict(self._args)
        for index, (callback, kw) in list(self.callbacks.items()):
            try:
                await _call(callback, **{**kwargs, **kw, "cb_info": (index, self)})
            except Exception:
                log.exception("value callback %s for %s failed", index, self.pvname)

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
        """Stop the monitor and drop every callback."""
        self.clear_callbacks()
        if self._subscription is not None:  # shared with other PVs of the same name
            await self._subscription.remove_callback(self._sub_token)
            self._subscription = None


async def _call(callback: Callable[..., Any], **kwargs: Any) -> None:
    result = callback(**kwargs)
    if inspect.isawaitable(result):
        await result
