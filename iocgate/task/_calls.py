"""Calling user functions that may be ``def`` or ``async def`` from a plain thread."""

from __future__ import annotations

import asyncio  # a thread's own loop for user coroutines (the seed scripts await asyncio)
import inspect
from typing import Any, Callable, Optional


class ThreadCaller:
    """Calls functions in the current thread; a coroutine function's result is run to
    completion on an asyncio loop owned by this caller (made on first use).

    Use one per thread; :meth:`close` closes the loop.
    """

    def __init__(self) -> None:
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, awaited if it returns an awaitable."""
        result = fn(*args, **kwargs)
        if not inspect.isawaitable(result):
            return result
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(result)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None


def call_once(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in the calling thread, run to completion if ``async def``."""
    caller = ThreadCaller()
    try:
        return caller.call(fn, *args, **kwargs)
    finally:
        caller.close()


def takes_arguments(fn: Callable[..., Any], count: int) -> bool:
    """Whether ``fn`` accepts ``count`` positional arguments."""
    try:
        inspect.signature(fn).bind(*([None] * count))
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): assume it does
        return True
    return True
