"""Reading many nodes at once: one worker job per endpoint, endpoints in parallel.

Within an endpoint's job the reads go one after another (several per message where the
protocol allows it, see :meth:`ScpiNode.read_compound`); puts queued meanwhile go in between
two reads; the first timeout or lost link ends the job's I/O, and while the link is down only
one probe per backoff step is sent (the rest is refused with
:class:`~iocgate.DeviceLinkDown`, without I/O).
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

from .._compat import wait_future
from .._errors import DeviceDisconnected, DeviceTimeout, IocgateError
from ..transports import Endpoint
from ._base import ControlNode

#: ``(period, callback)``: while waiting, every ``period`` s ``await callback(elapsed_s)``
Heartbeat = Tuple[float, Callable[[float], Awaitable[None]]]


def _read_one(node: ControlNode) -> Any:
    try:
        return node.get()
    except IocgateError as exc:
        return exc


def _chunks(nodes: Sequence[ControlNode]) -> List[Tuple[Any, List[ControlNode]]]:
    """``(group, nodes)``: consecutive nodes that one message of ``group`` can read
    together (see ``ScpiNode.compound``); ``group`` is ``None`` for a single node."""
    chunks: List[Tuple[Any, List[ControlNode]]] = []
    for node in nodes:
        group = getattr(node, "compound_group", None)
        if group is not None and chunks and chunks[-1][0] is group and len(
                chunks[-1][1]) < group.compound:
            chunks[-1][1].append(node)
        else:
            chunks.append((group, [node]))
    return chunks


def _read_chunk(group: Any, chunk: Sequence[ControlNode]) -> List[Any]:
    if len(chunk) > 1 and group.compound > 1:  # (it may have given up on compound queries)
        values = group.read_compound(chunk)
        if values is not None:
            return values
    return [_read_one(node) for node in chunk]


def _read_all(endpoint: Optional[Endpoint], nodes: Sequence[ControlNode]) -> List[Any]:
    """Read ``nodes`` of one endpoint back to back (on its worker, for async callers)."""
    if endpoint is None:
        return [_read_one(node) for node in nodes]
    results: List[Any] = []
    refused = None if endpoint.attempt_due() else endpoint.link_error()
    for group, chunk in _chunks(nodes):
        if refused is not None:
            results.extend([refused] * len(chunk))
            continue
        endpoint.run_urgent_jobs()  # puts go ahead of every read not sent yet
        for value in _read_chunk(group, chunk):
            results.append(value)
            if refused is None and isinstance(value, (DeviceTimeout, DeviceDisconnected)):
                refused = endpoint.link_error() or value  # the rest is not sent
    return results


def _start(nodes: Sequence[ControlNode]
           ) -> Tuple[List[Any], List[Tuple[List[int], concurrent.futures.Future]]]:
    """Submit one job per endpoint, read in-memory nodes inline; return results so far and
    the jobs as ``(indices, future)``."""
    groups: Dict[Endpoint | None, List[int]] = {}
    for index, node in enumerate(nodes):
        groups.setdefault(node.endpoint, []).append(index)
    jobs = [(indices, endpoint.submit_call(_read_all, endpoint, [nodes[i] for i in indices]))
            for endpoint, indices in groups.items() if endpoint is not None]
    results: List[Any] = [None] * len(nodes)
    local = groups.get(None, [])
    for index, value in zip(local, _read_all(None, [nodes[i] for i in local])):
        results[index] = value
    return results, jobs


def read_many(nodes: Sequence[ControlNode]) -> List[Any]:
    """Read every node; one worker job per endpoint reads its nodes back to back, and the
    endpoints work in parallel.

    Returns:
        A list aligned with ``nodes``: each value, or the :class:`~iocgate.IocgateError`
        (normally a :class:`~iocgate.DeviceError`) that node's read raised; errors are
        returned, not raised. After the first timeout or lost link of an endpoint, its
        remaining nodes get :class:`~iocgate.DeviceLinkDown` without being sent; so do all
        of them while its link is down and no attempt is due. Other exceptions (bugs)
        propagate.
    """
    results, jobs = _start(nodes)
    for indices, future in jobs:
        for index, value in zip(indices, future.result()):
            results[index] = value
    return results


async def aread_many(nodes: Sequence[ControlNode], timeout: float | None = None, *,
                     heartbeat: Optional[Heartbeat] = None) -> List[Any]:
    """:func:`read_many` for asyncio, trio or curio without blocking the loop.

    Args:
        timeout: seconds to wait for all endpoints; ``None``: as long as their own reply
            timeouts take.
        heartbeat: ``(period, callback)``: while the reads are under way, every ``period``
            s ``await callback(elapsed)`` (seconds since the call); e.g. to publish that a
            scan pass runs late before it ends.

    Raises:
        TimeoutError: ``timeout`` elapsed (jobs not started are cancelled).
    """
    started = time.monotonic()
    results, jobs = _start(nodes)
    deadline = None if timeout is None else started + timeout
    try:
        for indices, future in jobs:  # all run concurrently; waiting in turn costs nothing
            values = await _wait(future, deadline, heartbeat, started)
            for index, value in zip(indices, values):
                results[index] = value
    finally:
        for _, future in jobs:
            future.cancel()
    return results


async def _wait(future: concurrent.futures.Future, deadline: Optional[float],
                heartbeat: Optional[Heartbeat], started: float) -> Any:
    if heartbeat is None:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return await wait_future(future, remaining)
    period, callback = heartbeat
    watched = _uncancellable(future)  # a heartbeat's wake-up must not cancel the job
    beat = started + period
    while True:
        now = time.monotonic()
        wake = beat if deadline is None else min(beat, deadline)
        try:
            return await wait_future(watched, max(0.0, wake - now))
        except TimeoutError:
            if watched.done():  # it ended as the wait did (or raised a TimeoutError itself)
                return watched.result()
            if deadline is not None and time.monotonic() >= deadline:
                raise
        beat += period
        await callback(time.monotonic() - started)


def _uncancellable(future: concurrent.futures.Future) -> concurrent.futures.Future:
    """A future with ``future``'s outcome that ``cancel()`` leaves alone."""
    watched: concurrent.futures.Future = concurrent.futures.Future()
    watched.set_running_or_notify_cancel()

    def copy(done: concurrent.futures.Future) -> None:
        if done.cancelled():
            watched.set_exception(concurrent.futures.CancelledError())
        elif done.exception() is not None:
            watched.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            watched.set_result(done.result())

    future.add_done_callback(copy)
    return watched


__all__ = ["aread_many", "read_many"]
