"""Two loop tasks in one IOC, one in a thread and one on the IOC's event loop, driven over CA
by the C tools: settings PVs, readouts, PERIOD, START/STOP, and PV name clashes."""

from __future__ import annotations

import types
from dataclasses import dataclass, field

import pytest

from iocgate.task import LoopTask, loop_task_ioc, serve_groups
from iocgate.testing import RunningIOC, subprocess_env
from tests.ioc._cli_process import camonitor, monitored_values


@dataclass
class Step:
    step: float = field(default=1.0, metadata={"units": "a.u.", "limits": (-10.0, 10.0),
                                               "doc": "Added every iteration"})


@dataclass
class Total:
    total: float = field(default=0.0, metadata={"units": "a.u.", "precision": 1})


class Adder(LoopTask):
    loop_period = 0.05

    def loop_iteration(self):
        self.publish(total=self.readouts.total + self.settings.step)


class AsyncAdder(Adder):
    async def loop_iteration(self):  # on the IOC's event loop
        super().loop_iteration()


def monitor(ioc: RunningIOC, pvs, done):
    return camonitor(subprocess_env(ioc.port), pvs, done)


def test_two_loop_tasks_in_one_ioc(ca_env, ca_port):  # ca_env: the server's port
    threaded = loop_task_ioc(Adder(settings=Step(), readouts=Total()), "A:")
    looped = loop_task_ioc(AsyncAdder(settings=Step(-1.0), readouts=Total()), "B:",
                           on_event_loop=True)
    both = types.SimpleNamespace(pvdb={**threaded.pvdb, **looped.pvdb}, prefix="")
    ioc = RunningIOC(both, ca_port).start()
    try:
        for prefix in ("A:", "B:"):
            lines = monitor(ioc, [f"{prefix}LOOP_COUNT"], lambda lines: len(lines) >= 3)
            assert len(set(monitored_values(lines))) >= 3
        assert ioc.run_tool("caget", "-t", "B:STATE").stdout.strip() == "Running"
        assert float(ioc.run_tool("caget", "-t", "B:TOTAL").stdout) < 0 < float(
            ioc.run_tool("caget", "-t", "A:TOTAL").stdout)
        assert ioc.caput("A:STEP", "11").returncode != 0  # outside the setting's limits
        assert ioc.caput("B:STEP", "0").returncode == 0
        monitor(ioc, ["B:LOOP_COUNT"], lambda lines: len(lines) >= 2)  # the new step in use
        total = ioc.run_tool("caget", "-t", "B:TOTAL").stdout
        monitor(ioc, ["B:LOOP_COUNT"], lambda lines: len(lines) >= 3)
        assert ioc.run_tool("caget", "-t", "B:TOTAL").stdout == total
        assert ioc.caput("B:STOP", "1").returncode == 0
        monitor(ioc, ["B:STATE"], lambda lines: "Stopped" in lines[-1])
        assert ioc.caput("B:PERIOD", "0.01").returncode == 0
        assert ioc.caput("B:START", "1").returncode == 0
        monitor(ioc, ["B:STATE"], lambda lines: "Running" in lines[-1])
        assert ioc.run_tool("caget", "-t", "A:STATE").stdout.strip() == "Running"
    finally:
        for group in (threaded, looped):
            group.close(10)
        ioc.stop()


def test_groups_serving_one_name_twice_are_refused():
    first = loop_task_ioc(Adder(), "SAME:")
    second = loop_task_ioc(Adder(), "SAME:")
    with pytest.raises(ValueError, match="served twice"):
        serve_groups([first, second])
