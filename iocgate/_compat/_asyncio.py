"""asyncio back-end of :mod:`iocgate._compat`."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any


async def wait_future(fut: concurrent.futures.Future, timeout: float | None) -> Any:
    # wrap_future propagates cancellation of the wrapper to ``fut`` (effective if not started).
    try:
        return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
    except asyncio.TimeoutError:
        fut.cancel()
        raise TimeoutError(f"no result within {timeout:g} s") from None


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
