"""curio back-end of :mod:`iocgate._compat`."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import curio
from curio.traps import _future_wait


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
            async with curio.ignore_after(timeout):
                await _future_wait(relay)
    finally:
        fut.cancel()  # no-op once done; a job not yet started never runs
    if fut.cancelled() or not fut.done():  # a running job is left to finish on its thread
        raise TimeoutError(f"no result within {timeout:g} s")
    return fut.result()


async def sleep(seconds: float) -> None:
    await curio.sleep(seconds)
