"""The control-node base class: get/set, conversions, async faces, waiting and stop requests."""

from __future__ import annotations

import inspect
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .._compat import wait_future
from .._errors import DeviceTimeout, NodeAccessError
from ..transports import Endpoint
from ._plugins import load_control_module

if TYPE_CHECKING:
    from ._value import RampingNode, ReadonlyNode, SetpointNode, WriteonlyNode

_MISSING: Any = object()
_GLOBAL_STOP = threading.Event()


def request_global_stop() -> None:
    """Ask every node's thread, ``wait()`` and ``sleep()`` in this process to stop."""
    _GLOBAL_STOP.set()


def global_stop_requested() -> bool:
    """True after :func:`request_global_stop` (until :func:`clear_global_stop`)."""
    return _GLOBAL_STOP.is_set()


def clear_global_stop() -> None:
    """Withdraw a global stop request (e.g. before starting again)."""
    _GLOBAL_STOP.clear()


def _takes_an_argument(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` can be called with one positional argument."""
    try:
        inspect.signature(fn).bind(None)
    except (TypeError, ValueError):  # it takes none or several; or has no signature
        return False
    return True


class ControlNode:
    """A node of the control tree: something with ``get()`` and/or ``set(value)``.

    Subclasses override :meth:`get` and/or :meth:`set`; a node that does neither raises
    :class:`~iocgate.NodeAccessError`. Methods named by a noun (``scpi()``, ``setpoint()``)
    return child nodes.

    Attributes:
        parent: the node this one hangs from (``None`` for a root).
        name: this node's part of :attr:`path`.
    """

    def __init__(self, parent: ControlNode | None = None, name: str = ""):
        self.parent = parent
        self.name = name or type(self).__name__
        self._stop = threading.Event()

    # -- identity ---------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """Where this node is, for messages: ``"tcp://127.0.0.1:5025 scpi VOLT"``."""
        if self.parent is None or not self.parent.path:
            return self.name
        return f"{self.parent.path} {self.name}"

    @property
    def endpoint(self) -> Endpoint | None:
        """The instrument link this node's I/O goes through (``None`` for in-memory nodes)."""
        return self.parent.endpoint if self.parent is not None else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path}>"

    # -- access -----------------------------------------------------------------------------
    def get(self) -> Any:
        """Read the node's value.

        Raises:
            NodeAccessError: the node cannot be read.
            DeviceError: (device nodes) the instrument failed; see the subclass.
        """
        raise NodeAccessError(f"{self.path} is not readable")

    def set(self, value: Any) -> Any:
        """Write ``value`` to the node.

        Raises:
            NodeAccessError: the node cannot be written.
            DeviceError: (device nodes) the instrument failed; see the subclass.
        """
        raise NodeAccessError(f"{self.path} is not writable")

    def __call__(self, value: Any = _MISSING) -> Any:
        """``node()`` is ``node.get()``; ``node(value)`` is ``node.set(value)``."""
        return self.get() if value is _MISSING else self.set(value)

    def __float__(self) -> float:
        return float(self.get())

    def __int__(self) -> int:
        return int(self.get())

    def __str__(self) -> str:
        return str(self.get())

    async def aget(self, timeout: float | None = None) -> Any:
        """:meth:`get` for asyncio, trio or curio, without blocking the event loop.

        Device nodes run on their endpoint's worker thread; in-memory nodes run inline.
        Cancelling the awaiting task before the worker starts the read means it never
        happens; once started it completes on the worker and the value is dropped.

        Args:
            timeout: seconds to wait in all, including time queued behind other callers of
                the endpoint; ``None``: bounded only by the endpoint's own timeouts.

        Raises:
            DeviceTimeout: ``timeout`` elapsed (as if cancelled at that moment).
        """
        return await self._on_worker(timeout, self.get)

    async def aset(self, value: Any, timeout: float | None = None) -> Any:
        """:meth:`set` for asyncio, trio or curio, without blocking the event loop.

        What a cancelled (or timed-out) ``aset`` leaves behind: if the worker had not
        started it, nothing was sent; if it had, the whole command is sent and its reply (if
        any) consumed, so the instrument got the new value and the link stays in step. A
        half-written command is never left on the wire by cancellation.

        Args:
            timeout: as for :meth:`aget`.
        """
        return await self._on_worker(timeout, self.set, value)

    async def aput(self, value: Any, timeout: float | None = None) -> Any:
        """:meth:`aset` as an EPICS record processes a put (the IOC's put path).

        It goes to the instrument before every queued read (a batched read lets it in
        between two reads); puts to this node queued and not started yet coalesce: the
        newest value is written once and every caller gets that write's result.

        Args:
            timeout: as for :meth:`aget`.

        Raises:
            DeviceLinkDown: the link is down: refused at once, and never sent later.
        """
        endpoint = self.endpoint
        if endpoint is None:
            return self.set(value)
        return await self._wait(endpoint, endpoint.submit_put(self, self.set, value), timeout)

    async def _on_worker(self, timeout: float | None, fn: Callable[..., Any], *args: Any
                         ) -> Any:
        endpoint = self.endpoint
        if endpoint is None:
            return fn(*args)
        return await self._wait(endpoint, endpoint.submit_call(fn, *args), timeout)

    async def _wait(self, endpoint: Endpoint, future: Any, timeout: float | None) -> Any:
        try:
            return await wait_future(future, timeout)
        except TimeoutError as exc:
            if isinstance(exc, DeviceTimeout):
                raise
            raise DeviceTimeout("no result", timeout=timeout, endpoint=endpoint.name,
                                command=self.path) from None

    # -- derived nodes ----------------------------------------------------------------------
    def readonly(self) -> ReadonlyNode:
        """A view with only ``get()``."""
        from ._value import ReadonlyNode

        return ReadonlyNode(self)

    def writeonly(self) -> WriteonlyNode:
        """A view with only ``set()``."""
        from ._value import WriteonlyNode

        return WriteonlyNode(self)

    def setpoint(self, limits: tuple = (None, None)) -> SetpointNode:
        """A node holding the last value written (checked against ``limits``) and passing
        writes on to this node."""
        from ._value import SetpointNode

        return SetpointNode(self, limits)

    def ramping(self, change_per_sec: float, interval: float = 0.1) -> RampingNode:
        """A node whose ``set(target)`` moves this node towards ``target`` at
        ``change_per_sec`` (units/s), in steps every ``interval`` s."""
        from ._value import RampingNode

        return RampingNode(self, change_per_sec, interval)

    def load_control_module(self, name: str, search_path: Iterable[str] | None = None
                            ) -> ControlNode:
        """Add the branches of control module ``name`` to this node (see
        :mod:`iocgate.nodes._plugins`); returns ``self`` for chaining.

        Raises:
            ModuleNotFoundError: no ``control_<name>.py`` on the search path and no entry
                point ``name`` in group ``iocgate.control_modules``.
        """
        load_control_module(self, name, search_path)
        return self

    # -- waiting and stopping ---------------------------------------------------------------
    def has_data(self) -> bool:
        """True if :meth:`get` has a value to return (device nodes: always)."""
        return True

    def is_stop_requested(self) -> bool:
        """True after :meth:`stop` on this node or a global stop request."""
        return self._stop.is_set() or global_stop_requested()

    def sleep(self, duration: float) -> bool:
        """Sleep ``duration`` seconds; return early with ``False`` on a stop request, else
        ``True``."""
        deadline = time.monotonic() + duration
        while not self.is_stop_requested():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            self._stop.wait(min(remaining, 0.05))
        return False

    def wait(self, condition: Callable[..., bool] | None = None,
             polling_interval: float = 0.1, timeout: float | None = None) -> bool | None:
        """Block until ``condition`` holds (default: until :meth:`has_data`).

        Args:
            condition: polled every ``polling_interval`` s. A callable taking one argument
                is given this node's value, as in SlowPy (``node.wait(lambda x: x > 100)``),
                and is polled only while :meth:`has_data`; one taking none, or a node (whose
                ``node()`` is its ``get()``), is just called.
            polling_interval: seconds between polls.
            timeout: seconds to wait at most; ``None`` waits indefinitely.

        Returns:
            ``True`` when the condition held, ``None`` on timeout, ``False`` on a stop request.
        """
        if condition is None:
            check = self.has_data
        elif not isinstance(condition, ControlNode) and _takes_an_argument(condition):
            def check() -> bool:
                return self.has_data() and condition(self.get())
        else:
            check = condition
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if check():
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return None
            step = polling_interval
            if deadline is not None:
                step = min(step, max(0.0, deadline - time.monotonic()))
            if not self.sleep(step):
                return False

    def stop(self) -> None:
        """Request this node's thread (if any) to stop; see :class:`ControlThreadNode`."""
        self._stop.set()


__all__ = ["ControlNode", "clear_global_stop", "global_stop_requested", "request_global_stop"]
