"""The PVs of a task: state and control (STATE, START, STOP ...), and the publisher that
copies what a task posts to its mailbox into those PVs on the IOC's event loop."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any, Callable, Optional

from caproto import AlarmSeverity, AlarmStatus, ChannelType

from .. import _compat
from ..ioc import PVGroup, pvproperty
from ..ioc._bound import alarm_status_for
from ._calls import call_once
from ._core import LAST_ERROR_LENGTH, STATUS, TaskCore, TaskState, log
from ._loop import LoopTask

#: seconds between HEARTBEAT increments
HEARTBEAT_PERIOD = 1.0


def in_thread(fn: Callable[..., Any], *args: Any, name: str = "call", **kwargs: Any
              ) -> concurrent.futures.Future:
    """Run ``fn(*args, **kwargs)`` (``def`` or ``async def``) in a new thread; returns the
    future of its result (await it with :func:`iocgate._compat.wait_future`)."""
    future: concurrent.futures.Future = concurrent.futures.Future()

    def main() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(call_once(fn, *args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=main, name=name, daemon=True).start()
    return future


class TaskPVs(PVGroup):
    """STATE, START, STOP, LOOP_COUNT, LAST_ERROR and HEARTBEAT of one task.

    Args:
        task: the task served.
        autostart: start it when the IOC starts.
        prefix, and every other :class:`~iocgate.PVGroup` argument.

    Exported values and status reach the PVs through the task's mailbox, drained here on
    the IOC's event loop (asyncio, trio or curio).
    """

    _trailing_pvs_ = ("state", "start", "stop", "loop_count", "last_error", "heartbeat")

    state = pvproperty(name="STATE", dtype=TaskState, value=TaskState.Stopped, read_only=True,
                       doc="Task state Stopped/Running/Stopping/Error (alarm after an error)")
    start = pvproperty(name="START", value=0, doc="Put 1 to start the task (no-op if running)")
    stop = pvproperty(name="STOP", value=0, doc="Put 1 to stop the task; the put completes "
                                                "when it has ended (after the current call)")
    loop_count = pvproperty(name="LOOP_COUNT", value=0, read_only=True, units="calls",
                            doc="Completed loop calls since the task started")
    last_error = pvproperty(name="LAST_ERROR", dtype=ChannelType.CHAR, value="",
                            max_length=LAST_ERROR_LENGTH, read_only=True,
                            doc="Most recent exception from the task's code")
    heartbeat = pvproperty(name="HEARTBEAT", value=0, read_only=True, units="s",
                           doc="Counts up once a second while the IOC runs")

    def __init__(self, prefix: Optional[str] = None, *, task: TaskCore,
                 autostart: bool = True, **kwargs: Any):
        self.task = task
        self.autostart = autostart
        super().__init__(prefix, **kwargs)

    @start.putter
    async def start(self, instance: Any, value: Any) -> int:
        if value:
            if self.task.state is TaskState.Stopping:
                raise ValueError(f"{self.task.name} is still stopping")
            self.task.start()
            await self.show_status()
        return 0

    @stop.putter
    async def stop(self, instance: Any, value: Any) -> int:
        if value and not self.task.stop():
            await _compat.wait_future(in_thread(self.task.join, name=f"stop {self.task.name}"))
        await self.show_status()
        return 0

    @heartbeat.startup
    async def heartbeat(self, instance: Any, async_lib: Any) -> None:
        await self.on_startup()
        if self.autostart:
            self.task.start()
        await self.show_status()
        beat = time.monotonic() + HEARTBEAT_PERIOD
        mailbox = self.task.mailbox
        while True:
            await mailbox.wait(max(beat - time.monotonic(), 0.0))
            for key, value in mailbox.drain().items():
                try:
                    await (self.show_status() if key == STATUS else self.show_item(key, value))
                except Exception:  # a bug must not freeze every PV of the task
                    log.exception("%s: cannot show %r = %r", self.task.name, key, value)
            if time.monotonic() >= beat:
                beat += HEARTBEAT_PERIOD
                await self.heartbeat.write(self.heartbeat.value + 1, verify_value=False)

    async def on_startup(self) -> None:
        """Hook: the IOC is up, before the task autostarts (e.g. start pollers)."""

    def close(self, timeout: Optional[float] = 10.0) -> bool:
        """Stop the task (after the server stopped) and wait up to ``timeout`` s; returns
        whether it ended."""
        ended = self.task.stop(timeout)
        if not ended:
            log.warning("%s did not stop within %s s", self.task.name, timeout)
        return ended

    async def show_status(self) -> None:
        """Copy the task's state and counters into the PVs."""
        task = self.task
        if task.state is TaskState.Error:
            status, severity = AlarmStatus.STATE, AlarmSeverity.MAJOR_ALARM
        elif task.degraded:
            status, severity = AlarmStatus.STATE, AlarmSeverity.MINOR_ALARM
        else:
            status, severity = AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM
        state = self.state
        if (state.value, state.alarm.severity) != (task.state.name, severity):
            await state.write(task.state.name, verify_value=False, status=status,
                              severity=severity)
        await _update(self.loop_count, task.loop_count)
        await _update(self.last_error, task.last_error)

    async def show_item(self, key: str, value: Any) -> None:
        """Publish a non-status mailbox item (overridden where there are any)."""


async def _update(channel: Any, value: Any) -> None:
    if channel.value != value:
        await channel.write(value, verify_value=False)


async def show_value(channel: Any, value: Any) -> None:
    """Publish ``value`` on ``channel`` (clearing an alarm), or an exception as a COMM or
    TIMEOUT / INVALID alarm with the old value kept."""
    if isinstance(value, BaseException):
        status = alarm_status_for(value)
        if (channel.alarm.status, channel.alarm.severity) != (
                status, AlarmSeverity.INVALID_ALARM):
            await channel.alarm.write(status=status, severity=AlarmSeverity.INVALID_ALARM)
        return
    if channel.alarm.severity != AlarmSeverity.NO_ALARM:
        await channel.write(value, verify_value=False, status=AlarmStatus.NO_ALARM,
                            severity=AlarmSeverity.NO_ALARM)
    elif channel.value != value:
        await channel.write(value, verify_value=False)


class LoopTaskPVs(TaskPVs):
    """:class:`TaskPVs` plus a loop task's PERIOD, OVERRUNS, ITER_TIME and LATENESS.

    With ``on_event_loop=True`` the task runs on the IOC's event loop instead of a thread.
    """

    _trailing_pvs_ = TaskPVs._trailing_pvs_ + ("period", "overruns", "iter_time", "lateness")
    task: LoopTask

    period = pvproperty(name="PERIOD", value=1.0, units="s", precision=4,
                        limits=(1e-4, 86400.0), doc="Seconds between iteration starts")
    overruns = pvproperty(name="OVERRUNS", value=0, read_only=True, units="iterations",
                          doc="Iterations that ended after the next one was due")
    iter_time = pvproperty(name="ITER_TIME", value=0.0, read_only=True, units="s", precision=6,
                           doc="Duration of the last iteration")
    lateness = pvproperty(name="LATENESS", value=0.0, read_only=True, units="s", precision=6,
                          doc="How late the last iteration started against its schedule")

    def __init__(self, prefix: Optional[str] = None, *, task: LoopTask,
                 on_event_loop: bool = False, **kwargs: Any):
        task.on_event_loop = on_event_loop
        super().__init__(prefix, task=task, **kwargs)

    async def on_startup(self) -> None:
        await self.period.write(self.task.loop_period, verify_value=False)

    @period.putter
    async def period(self, instance: Any, value: float) -> float:
        self.task.loop_period = float(value)
        return value

    @overruns.startup
    async def overruns(self, instance: Any, async_lib: Any) -> None:
        if self.task.on_event_loop:
            await self.task.serve_on_loop()

    async def show_status(self) -> None:
        await super().show_status()
        task = self.task
        await _update(self.overruns, task.overruns)
        await _update(self.iter_time, task.iteration_time)
        await _update(self.lateness, task.lateness)
