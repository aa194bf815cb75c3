"""Reading many nodes at once: one worker job per endpoint, endpoints in parallel."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any, Dict, List, Sequence, Tuple

from .._compat import wait_future
from .._errors import IocgateError
from ..transports import Endpoint
from ._base import ControlNode


def _read_all(nodes: Sequence[ControlNode]) -> List[Any]:
    results: List[Any] = []
    for node in nodes:
        try:
            results.append(node.get())
        except IocgateError as exc:
            results.append(exc)
    return results


def _start(nodes: Sequence[ControlNode]
           ) -> Tuple[List[Any], List[Tuple[List[int], concurrent.futures.Future]]]:
    """Submit one job per endpoint, read in-memory nodes inline; return results so far and
    the jobs as ``(indices, future)``."""
    groups: Dict[Endpoint | None, List[int]] = {}
    for index, node in enumerate(nodes):
        groups.setdefault(node.endpoint, []).append(index)
    jobs = [(indices, endpoint.submit_call(_read_all, [nodes[i] for i in indices]))
            for endpoint, indices in groups.items() if endpoint is not None]
    results: List[Any] = [None] * len(nodes)
    local = groups.get(None, [])
    for index, value in zip(local, _read_all([nodes[i] for i in local])):
        results[index] = value
    return results, jobs


def read_many(nodes: Sequence[ControlNode]) -> List[Any]:
    """Read every node; one worker job per endpoint reads its nodes back to back, and the
    endpoints work in parallel.

    Returns:
        A list aligned with ``nodes``: each value, or the :class:`~iocgate.IocgateError`
        (normally a :class:`~iocgate.DeviceError`) that node's read raised; errors are
        returned, not raised. Other exceptions (bugs) propagate.
    """
    results, jobs = _start(nodes)
    for indices, future in jobs:
        for index, value in zip(indices, future.result()):
            results[index] = value
    return results


async def aread_many(nodes: Sequence[ControlNode], timeout: float | None = None
                     ) -> List[Any]:
    """:func:`read_many` for asyncio, trio or curio without blocking the loop.

    Args:
        timeout: seconds to wait for all endpoints; ``None``: as long as their own reply
            timeouts take.

    Raises:
        TimeoutError: ``timeout`` elapsed (jobs not started are cancelled).
    """
    results, jobs = _start(nodes)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for indices, future in jobs:  # all run concurrently; waiting in turn costs nothing
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            for index, value in zip(indices, await wait_future(future, remaining)):
                results[index] = value
    finally:
        for _, future in jobs:
            future.cancel()
    return results


__all__ = ["aread_many", "read_many"]
