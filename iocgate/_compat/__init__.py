"""A small shim so that one piece of code can await worker-thread results under asyncio,
trio or curio.

Only this package (and server back-ends) import an event-loop library. Each library has one
module (``_asyncio``, ``_trio``, ``_curio``) with the same three coroutines/functions; the
functions here detect the running library and dispatch.

Public API:
    current_library() -> str          "asyncio", "trio" or "curio"
    await wait_future(fut, timeout)   result of a ``concurrent.futures.Future``
    await sleep(seconds)
"""

from __future__ import annotations

import concurrent.futures
import importlib
import sys
from types import ModuleType
from typing import Any


def current_library() -> str:
    """Name of the async library running in the current thread.

    Returns:
        ``"asyncio"``, ``"trio"`` or ``"curio"``.

    Raises:
        RuntimeError: called outside any supported running event loop.
    """
    # Only libraries already imported can be running; this keeps detection import-free.
    if "trio" in sys.modules:
        import trio

        try:
            trio.lowlevel.current_task()
            return "trio"
        except RuntimeError:
            pass
    if "curio" in sys.modules:
        from curio.meta import curio_running

        if curio_running():
            return "curio"
    if "asyncio" in sys.modules:
        import asyncio

        try:
            asyncio.get_running_loop()
            return "asyncio"
        except RuntimeError:
            pass
    raise RuntimeError("no asyncio, trio or curio event loop is running in this thread")


def _backend() -> ModuleType:
    return importlib.import_module(f"{__name__}._{current_library()}")


async def wait_future(fut: concurrent.futures.Future, timeout: float | None = None) -> Any:
    """Wait, without blocking the event loop, for ``fut`` and return its result.

    Args:
        fut: a future completed by another thread (e.g. an endpoint worker).
        timeout: seconds to wait; ``None`` waits as long as it takes.

    Returns:
        ``fut.result()``; the future's exception is raised as is.

    Raises:
        TimeoutError: (the builtin) ``timeout`` elapsed first; ``fut`` is cancelled if it has not
            started, otherwise it runs to completion in its thread and its result is dropped.
            A future already done gives its result even when ``timeout`` is 0.

    Cancelling the awaiting task behaves like the timeout: a job that has not started never
    runs, a running one finishes (the worker keeps the stream consistent) and is ignored.
    """
    if fut.done() and not fut.cancelled():
        return fut.result()
    return await _backend().wait_future(fut, timeout)


async def sleep(seconds: float) -> None:
    """Sleep ``seconds`` (s) under the running library."""
    await _backend().sleep(seconds)


__all__ = ["current_library", "sleep", "wait_future"]
