"""``LoopTask``: a periodic task in the QMI style, run in its own thread or on an event loop."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import inspect
import threading
import time
from typing import Any, Callable, Dict, Generator, Optional, Tuple

from .. import _compat
from ..ioc._scanner import MissedScans
from ._calls import ThreadCaller, call_once
from ._core import STATUS, TaskCore, log
from ._schedule import Schedule, check_period

#: mailbox key prefix of a readout field
READOUT = "readout:"
#: seconds a cancelled event-loop task waits for ``loop_finalize`` in its own thread
FINALIZE_TIMEOUT = 10.0
#: seconds an event-loop task sleeps at most between looks at its stop request
STOP_POLL = 0.05

_CALL, _WAIT = "call", "wait"
#: a step of the loop: ("call", (where, function, repeated)) or ("wait", seconds)
_Step = Tuple[str, Any]


class LoopTask(TaskCore):
    """Calls :meth:`loop_iteration` every :attr:`loop_period` seconds between
    :meth:`loop_prepare` and :meth:`loop_finalize` (each ``def`` or ``async def``).

    Subclass it and override the three methods; set :attr:`loop_period`,
    :attr:`missed_loops` and :attr:`settings` on the class or give them here.

    Args:
        name: for PVs' documentation, logs and thread names (default: the class name).
        loop_period: seconds between iteration starts.
        policy: what an overrun does (:class:`~iocgate.MissedScans`: IMMEDIATE, SKIP,
            TERMINATE; TERMINATE ends the task in the Error state).
        settings: a dataclass instance; its fields are served as PVs, and changes (from
            :meth:`set_settings` or a put) take effect before the next iteration.
        readouts: a dataclass instance of values the task shows (read-only PVs), changed
            with :meth:`publish`.
        on_error: :class:`~iocgate.task.OnError` for exceptions from ``loop_iteration``.
        clock: monotonic seconds; ``sleep``: called instead of waiting in the task's thread
            (both replaceable in tests, e.g. by a fake clock).

    Attributes:
        settings: the settings in effect for the running iteration.
        overruns: iterations that ended after the next start was due.
        iteration_time: duration of the last iteration, s.
        lateness: how late the last iteration started against its schedule, s.

    Stopping (:meth:`stop`, the STOP PV) never interrupts an iteration; :meth:`sleep` (and
    :meth:`asleep` on an event loop) inside one returns ``False`` at once on a stop request.
    """

    loop_period: float = 1.0
    missed_loops: MissedScans = MissedScans.IMMEDIATE
    settings: Any = None
    readouts: Any = None

    def __init__(self, name: Optional[str] = None, *, loop_period: Optional[float] = None,
                 policy: Any = None, settings: Any = None, readouts: Any = None,
                 on_error: Any = "stop",
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Optional[Callable[[float], None]] = None):
        super().__init__(name or type(self).__name__, on_error)
        self.loop_period = check_period(type(self).loop_period if loop_period is None
                                        else loop_period)
        self.policy = MissedScans(type(self).missed_loops if policy is None else policy)
        if settings is not None:
            self.settings = settings
        if readouts is not None:
            self.readouts = readouts
        for what in ("settings", "readouts"):
            value = getattr(self, what)
            if value is not None and not dataclasses.is_dataclass(value):
                raise TypeError(f"{self.name}: {what} must be a dataclass instance")
        self.overruns = 0
        self.iteration_time = 0.0
        self.lateness = 0.0
        self.on_event_loop = False
        self._clock = clock
        self._fake_sleep = sleep
        self._pending: Dict[str, Any] = {}
        self._pending_lock = threading.Lock()
        self._start_request: concurrent.futures.Future = concurrent.futures.Future()

    # -- the user's part ----------------------------------------------------------------------
    def loop_prepare(self) -> Any:
        """Called once before the first iteration (e.g. to open instruments)."""

    def loop_iteration(self) -> Any:
        """One iteration; override it."""
        raise NotImplementedError(f"{type(self).__name__} does not define loop_iteration()")

    def loop_finalize(self) -> Any:
        """Called once at the end, also after an error."""

    # -- settings -------------------------------------------------------------------------------
    def set_settings(self, **changes: Any) -> None:
        """Change settings fields; they take effect before the next iteration.

        Raises:
            TypeError: no settings, or no such field.
            ValueError: a value does not convert to the field's type.
        """
        fields = {f.name: f for f in dataclasses.fields(self.settings or _NoSettings())}
        converted = {}
        for key, value in changes.items():
            if key not in fields:
                raise TypeError(f"{self.name}: no setting {key!r}")
            kind = type(getattr(self.settings, key))
            converted[key] = kind(value) if kind in (int, float, str, bool) else value
        with self._pending_lock:
            self._pending.update(converted)

    def update_settings(self) -> bool:
        """Apply pending setting changes now; returns whether there were any (called before
        every iteration)."""
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        if pending:
            self.settings = dataclasses.replace(self.settings, **pending)
        return bool(pending)

    def publish(self, **values: Any) -> None:
        """Change readouts fields and show them (their PVs update at once).

        Raises:
            TypeError: no readouts, or no such field.
        """
        self.readouts = dataclasses.replace(self.readouts or _NoSettings(), **values)
        for key, value in values.items():
            self.mailbox.post(READOUT + key, value)

    # -- running ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the loop: in its own thread, or (served on an event loop) on the IOC's
        loop. A no-op while it runs."""
        if self.on_event_loop:
            if not self._start_request.done():
                self._start_request.set_result(None)
            return
        super().start()

    def run(self) -> None:
        """Run the loop in the calling thread until stopped (what :meth:`start` runs)."""
        if self._begin():
            self._thread_main()

    async def arun(self) -> None:
        """Run the loop on the running asyncio, trio or curio loop until stopped. Blocking
        ``def`` methods block that loop while they run: prefer ``async def`` there.

        Cancelled (e.g. by the IOC shutting down), it still calls :meth:`loop_finalize`, in
        a thread of its own, waiting up to :data:`FINALIZE_TIMEOUT` s for it.
        """
        if not self._begin():
            return
        ended = False
        try:
            await self._drive_async()
            ended = True
        finally:
            if not ended:
                self._finalize_in_thread()
            self._finish()

    def _finalize_in_thread(self) -> None:
        thread = threading.Thread(
            target=self._guarded, args=("loop_finalize", lambda: call_once(self.loop_finalize)),
            name=f"finalize {self.name}", daemon=True)
        thread.start()
        thread.join(FINALIZE_TIMEOUT)

    async def serve_on_loop(self) -> None:
        """Run the loop each time :meth:`start` is called, until cancelled."""
        while True:
            await _compat.wait_future(self._start_request)
            self._start_request = concurrent.futures.Future()
            await self.arun()

    async def asleep(self, seconds: float) -> bool:
        """:meth:`sleep` for iterations on an event loop."""
        deadline = self._clock() + seconds
        while not self.is_stop_requested():
            remaining = deadline - self._clock()
            if remaining <= 0:
                return True
            await _compat.sleep(min(remaining, STOP_POLL))
        return False

    def _main(self) -> None:
        caller = ThreadCaller()
        steps = self._steps()
        reply: Any = None
        try:
            while True:
                reply = self._perform(caller, *steps.send(reply))
        except StopIteration:
            pass
        finally:
            caller.close()

    def _perform(self, caller: ThreadCaller, kind: str, arg: Any) -> Any:
        if kind is _CALL:
            return _outcome(lambda: caller.call(arg[1]))
        if self._fake_sleep is None:
            return self.sleep(arg)
        self._fake_sleep(arg)
        return not self.is_stop_requested()

    async def _drive_async(self) -> None:
        steps = self._steps()
        reply: Any = None
        with contextlib.suppress(StopIteration):
            while True:
                kind, arg = steps.send(reply)
                reply = await (self._acall(arg[1]) if kind is _CALL else self.asleep(arg))

    @staticmethod
    async def _acall(fn: Callable[[], Any]) -> Optional[BaseException]:
        try:
            result = fn()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            return exc
        return None

    def _steps(self) -> Generator[_Step, Any, None]:
        """The loop as steps, driven by a thread or an event loop: yields ``("call",
        (where, fn, repeated))`` (sent back: the exception or ``None``) and ``("wait",
        seconds)`` (sent back: ``False`` on a stop request)."""
        self.overruns = 0
        error = yield _CALL, ("loop_prepare", self.loop_prepare, False)
        if error is not None:
            self._failed("loop_prepare", error)
        else:
            yield from self._iterations()
        error = yield _CALL, ("loop_finalize", self.loop_finalize, False)
        if error is not None:
            self._failed("loop_finalize", error)

    def _iterations(self) -> Generator[_Step, Any, None]:
        schedule = Schedule(self.loop_period, self.policy, self._clock())
        while not self.is_stop_requested():
            delay = schedule.due - self._clock()
            if delay > 0 and not (yield _WAIT, delay):
                return
            started = self._clock()
            self.lateness = started - schedule.due
            if self._pending:
                self.update_settings()
            error = yield _CALL, ("loop_iteration", self.loop_iteration, True)
            ended = self._clock()
            self.iteration_time = ended - started
            if error is None:
                self._count_loop()
            elif not self._failed("loop_iteration", error, repeated=True):
                return
            schedule.period = self.loop_period
            overran, terminate = schedule.advance(ended)
            if overran:
                self.overruns += 1
                self.mailbox.post(STATUS)
            if terminate:
                self.last_error = (f"iteration took {self.iteration_time:.6g} s, over the "
                                   f"{self.loop_period:g} s period (policy TERMINATE)")
                log.error("%s: %s", self.name, self.last_error)
                self._end_in_error()
                return


def _outcome(call: Callable[[], Any]) -> Optional[BaseException]:
    try:
        call()
    except Exception as exc:
        return exc
    return None


@dataclasses.dataclass
class _NoSettings:
    pass
