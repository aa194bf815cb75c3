"""What every task has: a state, a stop request, error bookkeeping, and a mailbox that tells
the IOC serving it what changed. No PVs and no event loop here."""

from __future__ import annotations

import concurrent.futures
import enum
import logging
import threading
import traceback
from typing import Any, Callable, Dict, Optional

from .. import _compat

log = logging.getLogger("iocgate.task")

#: characters of an error message kept for LAST_ERROR (a long-string CHAR waveform)
LAST_ERROR_LENGTH = 256
#: key posted to a task's mailbox when its state or counters changed
STATUS = "\0status"


class TaskState(enum.IntEnum):
    """A task's life cycle, served as the ``STATE`` PV."""

    Stopped = 0
    Running = 1
    Stopping = 2
    Error = 3


class OnError(str, enum.Enum):
    """What a task does when user code raises in a repeated call (``_loop``,
    ``loop_iteration``); an error in set-up or ``_run`` always ends the task.

    STOP: finalize and end in the Error state.
    CONTINUE: log it, show it (LAST_ERROR, a MINOR alarm on STATE) and call again at the next
    period; a later call that succeeds clears the alarm.
    """

    STOP = "stop"
    CONTINUE = "continue"


class Mailbox:
    """Latest value per key, posted from any thread, awaited under asyncio, trio or curio.

    Posting a key again before the IOC drained it replaces the value (as an EPICS monitor
    queue keeps the newest), so a fast producer never grows the mailbox.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: Dict[str, Any] = {}
        self._wake: concurrent.futures.Future = concurrent.futures.Future()

    def post(self, key: str, value: Any = None) -> None:
        """Store ``value`` under ``key`` and wake the waiter; never blocks."""
        with self._lock:
            self._items[key] = value
            wake = self._wake
        if not wake.done():
            try:
                wake.set_result(None)
            except concurrent.futures.InvalidStateError:  # another poster won the race
                pass

    def drain(self) -> Dict[str, Any]:
        """Take everything posted since the last drain."""
        with self._lock:
            items, self._items = self._items, {}
            return items

    async def wait(self, timeout: Optional[float]) -> bool:
        """Wait up to ``timeout`` s (``None``: no limit) for a post; ``True`` if one came."""
        with self._lock:
            if self._items:
                return True
            if self._wake.done():  # set without items left, or cancelled by a timeout
                self._wake = concurrent.futures.Future()
            wake = self._wake
        try:
            await _compat.wait_future(wake, timeout)
        except TimeoutError:
            return False
        return True


class TaskCore:
    """State, stop request and error handling shared by script and loop tasks.

    Args:
        name: for thread names, logs and messages.
        on_error: the :class:`OnError` policy for repeated calls.

    Attributes:
        state: the :class:`TaskState`.
        loop_count: repeated calls (``_loop``/``loop_iteration``) completed since start.
        last_error: text of the most recent exception from user code ("" if none).
        degraded: the last repeated call raised (CONTINUE policy); STATE shows a MINOR alarm.
        mailbox: where changes are posted for the IOC.
    """

    def __init__(self, name: str, on_error: Any = OnError.STOP):
        self.name = name
        self.on_error = OnError(on_error)
        self.state = TaskState.Stopped
        self.loop_count = 0
        self.last_error = ""
        self.degraded = False
        self.mailbox = Mailbox()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._state_lock = threading.Lock()  # state changes race between stop() and the end
        self._thread: Optional[threading.Thread] = None

    # -- control ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the task in its own thread; a no-op while it runs (or is stopping).

        Clears the stop request, LAST_ERROR stays until the next error.
        """
        if not self._begin():
            return
        self._thread = threading.Thread(target=self._thread_main, name=f"task {self.name}",
                                        daemon=True)
        self._thread.start()

    def _begin(self) -> bool:
        """Claim the start; False if the task is already running or stopping."""
        with self._state_lock:
            if not self._done.is_set():
                return False
            self._done.clear()
            self._stop.clear()
            self.loop_count = 0
            self.degraded = False
            self._set_state(TaskState.Running)
        return True

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Request a stop and wait up to ``timeout`` s (``None``: no wait) for the task to
        end; returns whether it has ended. A running repeated call is not interrupted: it
        ends when it returns (:meth:`sleep` returns early on a stop request)."""
        with self._state_lock:
            requested = not self._done.is_set() and not self._stop.is_set()
            if requested:
                self._stop.set()
                if self.state is not TaskState.Error:  # ending after an error: keep showing it
                    self._set_state(TaskState.Stopping)
        if requested:
            self._on_stop_request()
        return self.join(timeout) if timeout is not None else self._done.is_set()

    def _on_stop_request(self) -> None:
        """Hook: a stop was requested (script tasks call ``_halt()`` here)."""

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait up to ``timeout`` s (``None``: indefinitely) for the task to end; returns
        whether it has ended."""
        return self._done.wait(timeout)

    def is_running(self) -> bool:
        """True from :meth:`start` until the task has ended."""
        return not self._done.is_set()

    def is_stop_requested(self) -> bool:
        """True once a stop was requested, until the next start."""
        return self._stop.is_set()

    def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds`` in the task's thread; returns ``False`` at once on a stop
        request, else ``True``."""
        return not self._stop.wait(max(seconds, 0.0))

    # -- for subclasses -----------------------------------------------------------------------
    def _thread_main(self) -> None:
        try:
            self._main()
        finally:
            self._finish()

    def _main(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def _finish(self) -> None:
        with self._state_lock:
            self._set_state(TaskState.Error if self.state is TaskState.Error
                            else TaskState.Stopped)
            self._done.set()

    def _set_state(self, state: TaskState) -> None:
        if state is not self.state:
            log.info("%s: %s", self.name, state.name)
        self.state = state
        self.mailbox.post(STATUS)

    def _count_loop(self) -> None:
        self.loop_count += 1
        self.degraded = False
        self.mailbox.post(STATUS)

    def _failed(self, where: str, exc: BaseException, repeated: bool = False) -> bool:
        """Log ``exc`` (with its traceback), show it, and decide: returns True if the task
        goes on (a repeated call under the CONTINUE policy), else puts it in Error."""
        text = f"{where}: {type(exc).__name__}: {exc}"[:LAST_ERROR_LENGTH - 1]
        again = self.degraded and text == self.last_error  # the same error, call after call
        log.log(logging.DEBUG if again else logging.ERROR, "%s: %s raised:\n%s", self.name,
                where, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        self.last_error = text
        if repeated and self.on_error is OnError.CONTINUE:
            self.degraded = True
            self.mailbox.post(STATUS)
            return True
        self._end_in_error()
        return False

    def _end_in_error(self) -> None:
        """Show the Error state (the task is ending)."""
        with self._state_lock:
            self._set_state(TaskState.Error)

    def _guarded(self, where: str, call: Callable[[], Any]) -> bool:
        """Run ``call``; an exception is handled by :meth:`_failed` (not repeated). Returns
        whether it succeeded."""
        try:
            call()
        except Exception as exc:
            self._failed(where, exc)
            return False
        return True

