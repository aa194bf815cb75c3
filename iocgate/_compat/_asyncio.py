"""asyncio back-end of :mod:`iocgate._compat`."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any


async def wait_future(fut: concurrent.futures.Future, timeout: float | None) -> Any:
    # wrap_future propagates cancellation of the wrapper to ``fut`` (effective if not started).
    wrapped = asyncio.wrap_future(fut)
    try:
        return await asyncio.wait_for(wrapped, timeout)
    except asyncio.TimeoutError:
        # Since Python 3.11 this is the builtin TimeoutError, which the job's own
        # DeviceTimeout also is: that one is the job's result, passed on as raised.
        if wrapped.done() and not wrapped.cancelled():
            raise
        fut.cancel()
        raise TimeoutError(f"no result within {timeout:g} s") from None


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
