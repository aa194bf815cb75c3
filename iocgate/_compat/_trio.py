"""trio back-end of :mod:`iocgate._compat`."""

from __future__ import annotations

import concurrent.futures
import math
from typing import Any

import trio


async def wait_future(fut: concurrent.futures.Future, timeout: float | None) -> Any:
    done = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def wake(_: concurrent.futures.Future) -> None:
        try:
            token.run_sync_soon(done.set)
        except trio.RunFinishedError:  # the run ended meanwhile; nobody waits any more
            pass

    fut.add_done_callback(wake)
    try:
        with trio.move_on_after(math.inf if timeout is None else timeout) as scope:
            await done.wait()
    finally:
        fut.cancel()  # no-op once done; a job not yet started never runs
    if scope.cancelled_caught:
        raise TimeoutError(f"no result within {timeout:g} s")
    return fut.result()


async def sleep(seconds: float) -> None:
    await trio.sleep(seconds)
