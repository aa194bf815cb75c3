"""Deferred device writes of one PV, as an EPICS record with asynchronous device support
processes puts (PACT/RPRO): one write in flight; puts meanwhile replace one pending value.

Memory per PV is bounded whatever the number of puts: at most two :class:`Completion`
objects (the write in flight and the pending one) and one coroutine driving the writes;
each put adds only its caller's callback to the completion it shares.
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any, Awaitable, Callable, List, Optional

from .. import _compat
from ..server import PutCompletion

log = logging.getLogger("iocgate.ioc")

Callback = Callable[[Optional[BaseException]], None]


class Completion:
    """The end of one device write, shared by every put it carries.

    Callbacks run in the event loop's thread when :meth:`finish` is called; a server that
    awaits completions instead (``await completion``) waits without a task of its own.
    """

    __slots__ = ("_callbacks", "_done", "error")

    def __init__(self) -> None:
        self._callbacks: List[Callback] = []
        self._done = False
        self.error: Optional[BaseException] = None

    def when_done(self, callback: Callback) -> None:
        """Call ``callback(None)`` when the write succeeds, ``callback(error)`` when it
        fails (at once if it has ended)."""
        if self._done:
            callback(self.error)
        else:
            self._callbacks.append(callback)

    def finish(self, error: Optional[BaseException] = None) -> None:
        """End the write: report ``error`` (or success) to every caller."""
        self._done, self.error = True, error
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(error)
            except Exception:  # one caller's reply must not stop the others'
                log.exception("reporting a put's completion failed")

    def __await__(self) -> Any:
        return self._wait().__await__()

    async def _wait(self) -> None:
        if not self._done:
            ended: concurrent.futures.Future = concurrent.futures.Future()
            self.when_done(ended.set_result)
            await _compat.wait_future(ended)
        if self.error is not None:
            raise self.error


class _Write:
    """A value waiting for the device, and the completion of the puts that asked for it."""

    __slots__ = ("pv_value", "device_value", "done")

    def __init__(self, pv_value: Any, device_value: Any):
        self.pv_value = pv_value
        self.device_value = device_value
        self.done = Completion()


class WriteQueue:
    """One PV's device writes: one in flight, the newest put's value pending.

    Args:
        write: ``await write(pv_value, device_value)`` sends one value to the device (and
            waits for the readback to settle); its exception fails the write.
        failed: ``await failed(error, newer_pending)`` after a failed write, before its
            callers are told (the PV's value and alarm are put right there).
        succeeded: ``await succeeded(pv_value)`` after a write the device acknowledged.
    """

    def __init__(self, write: Callable[[Any, Any], Awaitable[Any]],
                 failed: Callable[[BaseException, bool], Awaitable[None]],
                 succeeded: Callable[[Any], Awaitable[None]]):
        self._write = write
        self._failed = failed
        self._succeeded = succeeded
        self._pending: Optional[_Write] = None
        self._driver: Any = None  # the coroutine sending the writes, while it lives

    @property
    def busy(self) -> bool:
        """Whether a write is in flight or pending."""
        return self._driver is not None and self._driver.cr_frame is not None

    def submit(self, pv_value: Any, device_value: Any) -> PutCompletion:
        """Queue a put: its value replaces the pending one (the newest is written when the
        device is free). Returns the :class:`PutCompletion` the putter hands back: it
        completes when the write carrying this value or a newer one ends; it starts the
        writes when none is going on."""
        write = self._pending
        if write is None:
            write = self._pending = _Write(pv_value, device_value)
        else:
            write.pv_value, write.device_value = pv_value, device_value
        work = None
        if not self.busy:
            work = self._driver = self._drive()
        return PutCompletion(pv_value, write.done, work)

    async def _drive(self) -> None:
        """Send the pending value until none is left (never raises: it runs as a task)."""
        while self._pending is not None:
            write, self._pending = self._pending, None
            error: Optional[BaseException] = None
            try:
                await self._write(write.pv_value, write.device_value)
            except Exception as exc:
                error = exc
            try:
                if error is None:
                    await self._succeeded(write.pv_value)
                else:
                    await self._failed(error, self._pending is not None)
            except Exception:
                log.exception("updating the PV after a put failed")
            write.done.finish(error)
