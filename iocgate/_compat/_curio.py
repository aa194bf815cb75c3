"""curio back-end of :mod:`iocgate._compat`."""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any, Set

import curio
from curio.traps import _future_wait

#: tasks inside :func:`wait_future`'s timeout block
_WAITING: Set[Any] = set()


class _OwnLateWakeups(logging.Filter):
    """Drops curio's "took longer than an enclosing timeout" warning for a wait of ours: the
    job ended after the deadline but before the kernel could deliver the timeout (a busy
    loop), and :func:`wait_future` returns its result, as intended. Other tasks' warnings
    pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, tuple) and args and args[0] in _WAITING)


logging.getLogger("curio.time").addFilter(_OwnLateWakeups())


async def wait_future(fut: concurrent.futures.Future, timeout: float | None) -> Any:
    # curio's kernel wakes the task through a done-callback and, on a timeout or
    # cancellation, cancels the future waited on. Wait on a private relay future instead of
    # ``fut``: the relay is cancelled (abandoned) then, so a job finishing later - even after
    # the kernel has closed - wakes nobody.
    relay: concurrent.futures.Future = concurrent.futures.Future()

    def wake(_: concurrent.futures.Future) -> None:
        if relay.set_running_or_notify_cancel():
            relay.set_result(None)

    fut.add_done_callback(wake)
    try:
        if timeout is None:
            await _future_wait(relay)
        else:
            # The context-manager form: the function form of ignore_after() returns None on
            # expiry whatever ``timeout_result`` says. An enclosing timeout still propagates.
            task = await curio.current_task()
            _WAITING.add(task)
            try:
                async with curio.ignore_after(timeout):
                    await _future_wait(relay)
            finally:
                _WAITING.discard(task)
    finally:
        fut.cancel()  # no-op once done; a job not yet started never runs
    if fut.cancelled() or not fut.done():  # a running job is left to finish on its thread
        raise TimeoutError(f"no result within {timeout:g} s")
    return fut.result()


async def sleep(seconds: float) -> None:
    await curio.sleep(seconds)
