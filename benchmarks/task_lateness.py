"""Loop-task timing: how late iterations start (p50/p99/max) and the CPU the loop costs, at
10 Hz, 100 Hz and 1 kHz, in a thread and on asyncio.

Each case runs a :class:`iocgate.task.LoopTask` whose iteration only records its lateness
(the task's own ``lateness``: start time minus scheduled time), with the SKIP policy, for
``--seconds`` seconds. CPU is this process's user+system CPU seconds over wall seconds.

Run: ``python benchmarks/task_lateness.py [--seconds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import List

from iocgate.task import LoopTask

RATES = (10, 100, 1000)


class Probe(LoopTask):
    """Records the lateness of every iteration; stops after ``count`` of them."""

    def __init__(self, rate: float, seconds: float):
        super().__init__(loop_period=1.0 / rate, policy="skip")
        self.count = int(seconds * rate)
        self.samples: List[float] = []

    def loop_iteration(self) -> None:
        self.samples.append(self.lateness)
        if len(self.samples) >= self.count:
            self.stop()


class AsyncProbe(Probe):
    async def loop_iteration(self) -> None:  # type: ignore[override]
        Probe.loop_iteration(self)


def measure(mode: str, rate: float, seconds: float) -> str:
    task = (AsyncProbe if mode == "asyncio" else Probe)(rate, seconds)
    cpu, wall = time.process_time(), time.perf_counter()
    if mode == "asyncio":
        asyncio.run(task.arun())
    else:
        task.start()
        task.join()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    samples = sorted(task.samples)
    p99 = samples[min(len(samples) - 1, int(0.99 * len(samples)))]
    return (f"| {mode:<7} | {rate:>5g} Hz | {len(samples):>6} | "
            f"{statistics.median(samples) * 1e3:8.3f} | {p99 * 1e3:8.3f} | "
            f"{samples[-1] * 1e3:8.3f} | {task.overruns:>8} | {100 * cpu / wall:5.1f} % |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per case (default 5)")
    args = parser.parse_args()
    print("| mode    | rate     | iters  | p50 ms   | p99 ms   | max ms   | overruns | CPU     |")
    print("|---------|----------|--------|----------|----------|----------|----------|---------|")
    for mode in ("thread", "asyncio"):
        for rate in RATES:
            print(measure(mode, rate, args.seconds), flush=True)


if __name__ == "__main__":
    main()
