"""curio back-end of :mod:`iocgate._compat`."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import curio
from curio.traps import _future_wait

_TIMED_OUT = object()


async def _wait(fut: concurrent.futures.Future) -> None:
    # curio's kernel cancels ``fut`` itself when the waiting task is cancelled.
    await _future_wait(fut)


async def wait_future(fut: concurrent.futures.Future, timeout: float | None) -> Any:
    if timeout is None:
        await _wait(fut)
    # ignore_after handles only its own expiry; an enclosing timeout still propagates.
    else:
        waited = await curio.ignore_after(timeout, _wait, fut, timeout_result=_TIMED_OUT)
        # On expiry curio cancels ``fut``, which may wake the wait normally: check both.
        if waited is _TIMED_OUT or fut.cancelled():
            fut.cancel()
            raise TimeoutError(f"no result within {timeout:g} s")
    return fut.result()


async def sleep(seconds: float) -> None:
    await curio.sleep(seconds)
