"""Asynchronous put completion, as an EPICS record with asynchronous processing.

A putter returns :class:`PutCompletion` to say "store this value now, complete the put
later". iocgate's circuit then goes on serving the client's later requests at once (a read
sees the new value) and sends the put-callback reply (WRITE_NOTIFY) when ``wait`` ends.
Servers that do not ask for deferral (:func:`deferring`) get a ChannelData that awaits the
completion itself before its write returns.
"""

from __future__ import annotations

import contextvars
from typing import Any, Coroutine, Optional


class Deferral:
    """A server's request that a write hand its :class:`PutCompletion` back.

    Attributes:
        completion: set by the write (through caproto's ``write_from_dbr``, which drops
            return values), else None.
    """

    __slots__ = ("completion", "open")

    def __init__(self) -> None:
        self.completion: Optional[PutCompletion] = None
        self.open = True  # False once its write returned (a context that kept it is stale)


_DEFER: contextvars.ContextVar[Optional[Deferral]] = contextvars.ContextVar(
    "iocgate_defer_completion", default=None)


class PutCompletion:
    """A put accepted now and completed when ``wait`` ends.

    Args:
        value: the PV's new value, stored at once.
        wait: awaited to complete the put (e.g. a ramp or a move); its exception fails the
            put (the value stays stored, as an EPICS record's VAL does). Or an object with
            ``when_done(callback)`` that calls ``callback(None)`` (done) or
            ``callback(exception)`` (failed) once, in the event loop's thread: the server
            then keeps no task per put (puts that coalesce share one such object).
        work: a coroutine the server starts as a background task and does not wait for
            (e.g. the device writes that end ``wait``); ``None``: nothing to start. It must
            not raise.
    """

    __slots__ = ("value", "wait", "work")

    def __init__(self, value: Any, wait: Any, work: Optional[Coroutine[Any, Any, Any]] = None):
        self.value = value
        self.wait = wait
        self.work = work


async def deferring(coro: Coroutine[Any, Any, Any]) -> Any:
    """Await a ChannelData write, asking it to hand back a :class:`PutCompletion` instead
    of awaiting it; returns that completion, else the write's result.

    Set inside the awaiting task (curio's tasks do not inherit context variables); the write
    takes the request with :func:`take_deferral` before its first ``await``."""
    deferral = Deferral()
    _DEFER.set(deferral)
    try:
        result = await coro
    finally:
        deferral.open = False
        _DEFER.set(None)
    return deferral.completion if deferral.completion is not None else result


def take_deferral() -> Optional[Deferral]:
    """The server's request to hand the completion back (store it in ``.completion``),
    or None: await it. Clears the request, so writes nested in the putter complete before
    they return."""
    deferral = _DEFER.get()
    if deferral is None:
        return None
    _DEFER.set(None)
    return deferral if deferral.open else None
