"""In-memory and derived nodes: values, read/write-only views, setpoints, ramps, conversion,
and nodes with their own thread."""

from __future__ import annotations

import math
import threading
from typing import Any, Callable

from .._errors import DeviceProtocolError, LimitError
from ..protocol import parse_value
from ._base import ControlNode


class ValueNode(ControlNode):
    """A value held in memory (thread-safe); ``has_data()`` is false while it is ``None``."""

    def __init__(self, initial_value: Any = None, parent: ControlNode | None = None,
                 name: str = "value"):
        super().__init__(parent, name)
        self._value = initial_value
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            return self._value

    def set(self, value: Any) -> None:
        with self._lock:
            self._value = value

    def has_data(self) -> bool:
        return self.get() is not None


class _Wrapper(ControlNode):
    """A node derived from ``target``; it shares the target's endpoint."""

    def __init__(self, target: ControlNode, name: str):
        super().__init__(target, name)
        self.target = target


class ReadonlyNode(_Wrapper):
    """Only ``get()``, passed to the target."""

    def __init__(self, target: ControlNode):
        super().__init__(target, "readonly")

    def get(self) -> Any:
        return self.target.get()


class WriteonlyNode(_Wrapper):
    """Only ``set()``, passed to the target."""

    def __init__(self, target: ControlNode):
        super().__init__(target, "writeonly")

    def set(self, value: Any) -> Any:
        return self.target.set(value)


class ConvertNode(_Wrapper):
    """``get()`` converts the target's reply text with ``type``/``parse``; ``set()`` passes on.

    Raises:
        DeviceProtocolError: the reply does not convert (the raw reply is in the message).
    """

    def __init__(self, target: ControlNode, type: Any = str,
                 parse: Callable[[str], Any] | None = None):
        super().__init__(target, "value")
        self.type = type
        self.parse = parse

    def get(self) -> Any:
        return convert(self.target.get(), self.type, self.parse, self)

    def set(self, value: Any) -> Any:
        return self.target.set(value)


def convert(reply: Any, kind: Any, parse: Callable[[str], Any] | None,
            node: ControlNode, command: str | None = None) -> Any:
    """``parse(reply)`` if given, else ``parse_value(reply, kind)``; failures become
    :class:`~iocgate.DeviceProtocolError` naming the node's endpoint and ``command``
    (default: the node's path)."""
    try:
        return parse(reply) if parse is not None else parse_value(reply, kind)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        endpoint = node.endpoint
        raise DeviceProtocolError(f"cannot convert reply ({exc})", raw=reply,
                                  endpoint=endpoint.name if endpoint else "",
                                  command=node.path if command is None else command) from exc


class SetpointNode(_Wrapper):
    """Holds the last value written; writes are checked against ``limits`` and passed on.

    Raises:
        LimitError: from ``set`` when the value is outside ``limits`` (nothing is sent).
    """

    def __init__(self, target: ControlNode, limits: tuple = (None, None)):
        super().__init__(target, "setpoint")
        self.limits = tuple(limits)
        self._value: Any = None

    def check(self, value: Any) -> None:
        """Raise :class:`~iocgate.LimitError` if ``value`` is outside the limits."""
        low, high = self.limits
        if (low is not None and value < low) or (high is not None and value > high):
            raise LimitError(f"{self.path}: {value!r} outside limits {self.limits!r}")

    def set(self, value: Any) -> Any:
        self.check(value)
        result = self.target.set(value)
        self._value = value
        return result

    def get(self) -> Any:
        return self._value

    def has_data(self) -> bool:
        return self._value is not None


class RampingNode(_Wrapper):
    """``set(target)`` starts a thread that moves the target node towards ``target`` by at
    most ``change_per_sec * interval`` every ``interval`` s; ``get()`` reads the target node.

    Raises:
        TypeError: ``set`` with a non-numeric value.
        LimitError: the target node is a :class:`SetpointNode` and the value is outside its
            limits (checked before ramping starts).
    """

    def __init__(self, target: ControlNode, change_per_sec: float, interval: float = 0.1):
        super().__init__(target, "ramping")
        if change_per_sec <= 0 or interval <= 0:
            raise ValueError("change_per_sec and interval must be positive")
        self.change_per_sec = float(change_per_sec)
        self.interval = float(interval)
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.error: BaseException | None = None

    def get(self) -> Any:
        return self.target.get()

    def set(self, value: Any) -> None:
        goal = float(value)
        if math.isnan(goal):
            raise ValueError("cannot ramp to NaN")
        if isinstance(self.target, SetpointNode):
            self.target.check(goal)
        start = self.target.get()
        if start is None and isinstance(self.target, SetpointNode):  # nothing written yet
            start = self.target.target.get()
        self.stop_ramping()
        self._cancel = threading.Event()
        self.error = None
        self._thread = threading.Thread(target=self._ramp, args=(float(start), goal, self._cancel),
                                        name=f"ramp {self.path}", daemon=True)
        self._thread.start()

    def _ramp(self, value: float, goal: float, cancel: threading.Event) -> None:
        step = self.change_per_sec * self.interval
        try:
            while value != goal and not cancel.is_set() and not self.is_stop_requested():
                value = min(goal, value + step) if goal > value else max(goal, value - step)
                self.target.set(value)
                if value != goal:
                    cancel.wait(self.interval)
        except Exception as exc:  # kept for status readers; the ramp ends
            self.error = exc

    def is_ramping(self) -> bool:
        """True while a ramp is in progress."""
        return self._thread is not None and self._thread.is_alive()

    def stop_ramping(self, timeout: float | None = 5.0) -> None:
        """Stop the current ramp where it is and wait for its thread (``timeout`` s)."""
        self._cancel.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def status(self) -> RampingStatusNode:
        """``get()``: ramping in progress; ``set(0)`` stops the ramp."""
        return RampingStatusNode(self)


class RampingStatusNode(_Wrapper):
    """Status of a :class:`RampingNode`."""

    def __init__(self, target: RampingNode):
        super().__init__(target, "status")
        self.ramp = target

    def get(self) -> bool:
        return self.ramp.is_ramping()

    def set(self, value: Any) -> None:
        if not value:
            self.ramp.stop_ramping()


class ControlThreadNode(ControlNode):
    """A node with its own thread: define ``run()`` (called once) and/or ``loop()`` (called
    repeatedly until a stop request; it must sleep, e.g. with :meth:`sleep`)."""

    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (no-op if already running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        if not (callable(getattr(self, "run", None)) or callable(getattr(self, "loop", None))):
            raise TypeError(f"{type(self).__name__} defines neither run() nor loop()")
        self._stop.clear()
        self._thread = threading.Thread(target=self._main, name=f"node {self.path}",
                                        daemon=True)
        self._thread.start()

    def _main(self) -> None:
        run = getattr(self, "run", None)
        loop = getattr(self, "loop", None)
        if run is not None:
            run()
        while loop is not None and not self.is_stop_requested():
            loop()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Request a stop and wait up to ``timeout`` s for the thread to end."""
        super().stop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def is_running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()


__all__ = ["ControlThreadNode", "ConvertNode", "RampingNode", "RampingStatusNode",
           "ReadonlyNode", "SetpointNode", "ValueNode", "WriteonlyNode", "convert"]
