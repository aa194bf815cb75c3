"""Loop tasks in-process: missed-loop policies and settings on a fake clock, errors, stopping
during a slow iteration, and running on asyncio, trio and curio."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import List

import pytest

from iocgate.task import LoopTask, MissedScans, Schedule, TaskState


class FakeClock:
    """Monotonic seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Settings:
    gain: float = 1.0


class Scripted(LoopTask):
    """Iterations that take the given durations (fake seconds), then a stop."""

    def __init__(self, clock: FakeClock, durations: List[float], **kwargs):
        super().__init__(clock=clock, sleep=clock.advance, settings=Settings(), **kwargs)
        self.fake = clock
        self.durations = list(durations)
        self.starts: List[float] = []
        self.gains: List[float] = []
        self.calls: List[str] = []

    def loop_prepare(self):
        self.calls.append("prepare")

    def loop_iteration(self):
        self.starts.append(self.fake.now - 1000.0)
        self.gains.append(self.settings.gain)
        self.fake.advance(self.durations.pop(0))
        if not self.durations:
            self.stop()

    def loop_finalize(self):
        self.calls.append("finalize")


@pytest.mark.parametrize("policy, starts, overruns", [
    (MissedScans.IMMEDIATE, [0, 1, 3.5, 3.7, 4, 5], 2),
    (MissedScans.SKIP, [0, 1, 4, 5, 6, 7], 1),
])
def test_missed_loop_policies_on_a_fake_clock(policy, starts, overruns):
    clock = FakeClock()
    task = Scripted(clock, [0.5, 2.5, 0.2, 0.1, 0.1, 0.1], loop_period=1.0, policy=policy)
    task.run()
    assert task.starts == pytest.approx(starts)
    assert task.overruns == overruns
    assert task.state is TaskState.Stopped and task.loop_count == 6
    assert task.calls == ["prepare", "finalize"]


def test_terminate_policy_ends_in_error_and_says_why():
    clock = FakeClock()
    task = Scripted(clock, [0.5, 2.5, 0.1, 0.1], loop_period=1.0, policy="terminate")
    task.run()
    assert task.starts == [0, 1]
    assert task.state is TaskState.Error
    assert "over the 1 s period" in task.last_error and "TERMINATE" in task.last_error
    assert task.calls == ["prepare", "finalize"]


def test_lateness_is_measured_against_the_schedule():
    clock = FakeClock()
    task = Scripted(clock, [1.25, 0.1], loop_period=1.0, policy="immediate")
    task.run()
    assert task.starts == [0, 1.25]
    assert task.lateness == pytest.approx(0.25)
    assert task.iteration_time == pytest.approx(0.1)


def test_schedule_alone():
    schedule = Schedule(0.5, "skip", start=10.0)
    assert schedule.advance(10.1) == (False, False) and schedule.due == 10.5
    assert schedule.advance(11.7) == (True, False) and schedule.due == 12.0
    with pytest.raises(ValueError):
        Schedule(0, "skip", 0.0)
    with pytest.raises(ValueError):
        Schedule(1, "sometimes", 0.0)


def test_settings_change_at_the_next_iteration():
    clock = FakeClock()

    class Tuned(Scripted):
        def loop_iteration(self):
            super().loop_iteration()
            if len(self.starts) == 2:
                self.set_settings(gain="2.5")  # as a put gives it; converted to float
                assert self.settings.gain == 1.0  # not within this iteration

    task = Tuned(clock, [0.1, 0.1, 0.1, 0.1], loop_period=1.0)
    task.run()
    assert task.gains == [1.0, 1.0, 2.5, 2.5]
    with pytest.raises(TypeError):
        task.set_settings(nonsense=1)


@pytest.mark.parametrize("on_error, state, count", [("stop", TaskState.Error, 1),
                                                    ("continue", TaskState.Stopped, 3)])
def test_an_exception_in_an_iteration_follows_the_policy(on_error, state, count):
    clock = FakeClock()

    class Failing(Scripted):
        def loop_iteration(self):
            super().loop_iteration()
            if len(self.starts) == 2:
                raise RuntimeError("sensor exploded")

    task = Failing(clock, [0.1, 0.1, 0.1, 0.1], loop_period=1.0, on_error=on_error)
    task.run()
    assert task.state is state and task.loop_count == count
    assert task.last_error == "loop_iteration: RuntimeError: sensor exploded"
    assert task.calls == ["prepare", "finalize"]


def test_an_exception_in_prepare_skips_the_loop_but_finalizes():
    class Broken(LoopTask):
        def loop_prepare(self):
            raise OSError("no instrument")

        def loop_iteration(self):  # pragma: no cover - must not run
            raise AssertionError("iterated")

        def loop_finalize(self):
            self.finalized = True

    task = Broken(loop_period=0.01)
    task.start()
    assert task.join(10)
    assert task.state is TaskState.Error and task.finalized
    assert task.last_error == "loop_prepare: OSError: no instrument"


def test_stop_during_a_slow_iteration_ends_it_early_and_finalizes():
    entered = threading.Event()

    class Slow(LoopTask):
        loop_period = 0.01

        def loop_iteration(self):
            entered.set()
            self.slept = self.sleep(60)

        def loop_finalize(self):
            self.finalized = True

    task = Slow()
    task.start()
    assert entered.wait(10)
    task.stop()
    assert task.state in (TaskState.Stopping, TaskState.Stopped)
    assert task.join(10), "the stop request did not end the 60 s iteration"
    assert task.slept is False and task.finalized
    assert task.state is TaskState.Stopped and task.loop_count == 1
    task.start()  # and it starts again
    assert entered.wait(10)
    assert task.stop(10)


@pytest.mark.parametrize("library", ["asyncio", "trio", "curio"])
def test_a_loop_task_runs_on_an_event_loop(library):
    class Counting(LoopTask):
        loop_period = 0.01

        async def loop_iteration(self):
            if self.loop_count >= 4:
                self.stop()
            await self.asleep(0)

    task = Counting()
    run_on(library, task.arun)
    assert task.state is TaskState.Stopped and task.loop_count == 5


def test_a_cancelled_event_loop_task_still_finalizes():
    import asyncio

    class Forever(LoopTask):
        loop_period = 0.01
        finalized_in = None

        async def loop_iteration(self):
            self.entered.set()
            await self.asleep(60)

        async def loop_finalize(self):  # run in a thread of its own after the cancellation
            self.finalized_in = threading.current_thread().name

    task = Forever()

    async def main():
        task.entered = asyncio.Event()
        runner = asyncio.ensure_future(task.arun())
        await asyncio.wait_for(task.entered.wait(), 10)
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner

    asyncio.run(main())
    assert task.finalized_in == "finalize Forever"
    assert task.state is TaskState.Stopped and not task.is_running()


@pytest.mark.parametrize("library", ["asyncio", "trio", "curio"])
def test_the_mailbox_wakes_its_reader_on_every_event_loop(library):
    from iocgate.task._core import Mailbox

    mailbox = Mailbox()
    results = []

    async def reader():
        results.append(await mailbox.wait(0.01))  # nothing posted: times out
        threading.Timer(0.05, mailbox.post, args=("A", 1)).start()
        results.append(await mailbox.wait(30))
        results.append(mailbox.drain())
        mailbox.post("B", 1)
        mailbox.post("B", 2)  # the newest value replaces the unread one
        results.append(await mailbox.wait(0))
        results.append(mailbox.drain())

    run_on(library, reader)
    assert results == [False, True, {"A": 1}, True, {"B": 2}]


def run_on(library, fn):
    if library == "asyncio":
        import asyncio
        asyncio.run(fn())
    elif library == "trio":
        import trio
        trio.run(fn)
    else:
        import curio
        curio.run(fn)
