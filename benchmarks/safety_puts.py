#!/usr/bin/env python
"""What access security and the put log cost per put.

Runs the safety test IOC (``tests/safety/safety_ioc.py``) as a subprocess on a free loopback
port in each configuration, and for each: one raw CA client sends WRITEs to ``SAFE:SETPOINT``
in batches of 100, then one READ_NOTIFY on the same circuit (so every put was applied).
Reported: server CPU (utime+stime from /proc) per put, and puts per second (wall time).
Configurations are measured in turn, ``--repeat`` times, and the median is printed; then the
put log's own work per put (``AccessGuard.audit``) is timed in this process, which is
steadier than CPU figures on a loaded machine::

    python benchmarks/safety_puts.py               # 100,000 puts, 3 repeats
    python benchmarks/safety_puts.py --puts 20000 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "server"))
sys.path.insert(0, str(HERE))

import rawca  # noqa: E402
from rawca import Cmd  # noqa: E402
from server_compare import cpu_seconds  # noqa: E402

from iocgate.security import AccessGuard, PutLog  # noqa: E402
from iocgate.testing import LOOPBACK, free_port, subprocess_env  # noqa: E402

IOC = HERE.parent / "tests" / "safety" / "safety_ioc.py"
ACF = """
UAG(operators) {alice, bob, carol}
ASG(DEFAULT) {
    RULE(1, READ)
    RULE(1, WRITE) {UAG(operators)}
}
"""
BATCH = 100
START_TIMEOUT = 30.0


def configurations(work: Path) -> Dict[str, List[str]]:
    acf = work / "bench.acf"
    acf.write_text(ACF)
    return {
        "off": [],
        "acf": ["--acf", str(acf)],
        "acf + put log": ["--acf", str(acf), "--put-log", str(work / "puts.log")],
    }


def measure(args: List[str], puts: int) -> Dict[str, float]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(IOC), "-q", "--interfaces", LOOPBACK,
                                *args], env=subprocess_env(port),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                circuit = rawca.Circuit(port, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the IOC did not start") from None
                time.sleep(0.05)
        with circuit:
            circuit.send(rawca.frame(Cmd.HOST_NAME, b"bench\0")
                         + rawca.frame(Cmd.CLIENT_NAME, b"alice\0"))
            chan = circuit.create_channel("SAFE:SETPOINT")
            assert chan.access == 3, chan
            frames = [b"".join(rawca.frame(Cmd.WRITE, rawca.encode_values(6, [float(i % 4)]),
                                           6, 1, chan.sid, i) for i in range(BATCH))]
            for _ in range(2000 // BATCH):  # warm-up
                circuit.send(frames[0])
            circuit.get(chan)
            cpu0, wall0 = cpu_seconds(process.pid), time.perf_counter()
            for _ in range(puts // BATCH):
                circuit.send(frames[0])
            circuit.get(chan)
            wall, cpu = time.perf_counter() - wall0, cpu_seconds(process.pid) - cpu0
        return {"cpu_us": cpu / puts * 1e6, "rate": puts / wall}
    finally:
        process.terminate()
        process.wait(30)


def audit_cost(work: Path, calls: int = 200_000) -> float:
    """Microseconds per ``AccessGuard.audit`` call, the put log's work on each put."""
    guard = AccessGuard({})
    guard.put_log = PutLog(os.path.join(work, "micro.log"))
    values = [float(i % 4) for i in range(calls)]
    start = time.perf_counter()
    for value in values:
        guard.audit("SAFE:SETPOINT", "bench", "alice", 0.0, value, 1)
    elapsed = time.perf_counter() - start
    loop = timeit.timeit(lambda: None, number=calls) / 2  # roughly the loop's own cost
    return max(0.0, elapsed - loop) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--puts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        configs = configurations(Path(tmp))
        results: Dict[str, List[Dict[str, float]]] = {name: [] for name in configs}
        for _ in range(options.repeat):
            for name, args in configs.items():
                results[name].append(measure(args, options.puts))
        audit = audit_cost(Path(tmp))
    base = statistics.median(r["cpu_us"] for r in results["off"])
    print("| configuration | server CPU µs/put | cost vs off | puts/s (wall) |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        cpu = statistics.median(r["cpu_us"] for r in runs)
        rate = statistics.median(r["rate"] for r in runs)
        print(f"| {name} | {cpu:.2f} | {100 * (cpu / base - 1):+.1f} % | {rate:,.0f} |")
    print(f"\nput log work per put (in-process): {audit:.2f} µs = "
          f"{100 * audit / base:.1f} % of the server CPU per put with everything off")


if __name__ == "__main__":
    main()
