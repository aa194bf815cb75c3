"""Wait for a condition with a deadline (for state that only a poll can observe)."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(probe: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Call ``probe`` until it returns something truthy; return that.

    Raises:
        AssertionError: still falsy after ``timeout`` seconds (the last value is shown).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {result!r})")
        time.sleep(interval)
