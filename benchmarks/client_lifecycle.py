"""Benchmark: iocgate.client vs pyepics over a client's life, against one C softIoc.

1. reconnect: seconds from a restarted softIoc being ready to the client's connection
   callback (the client process watches one PV while the server is stopped and started);
2. RSS after rounds of creating and disconnecting PVs;
3. script start-up and exit: wall time of ``python -c "caget(...)"`` with live monitors,
   and how many runs printed a traceback or an "Exception ignored" line.

Every client runs in its own child process (libca reads the environment once per process);
a private CA repeater relays the server's beacons, as ``caRepeater`` does on a real host.

Usage::

    python benchmarks/client_lifecycle.py [--restarts 5] [--exits 1000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from iocgate.testing import ca_repeater, epics_tool, free_port, loopback_env

NAMES = 200

# The same script for both clients: ``lib`` is "iocgate.client" or "epics".
WATCH = r"""
import sys, time, importlib
lib = importlib.import_module(sys.argv[1])
def on_conn(pvname=None, conn=None, **kw):
    print(("up" if conn else "down"), repr(time.monotonic()), flush=True)
pv = lib.PV("LC:ao", connection_callback=on_conn)
pv.wait_for_connection(timeout=30)
sys.stdin.readline()  # until the parent is done
"""

RSS = r"""
import sys, importlib
lib = importlib.import_module(sys.argv[1])
rounds, count = int(sys.argv[2]), int(sys.argv[3])
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
first = None
for r in range(rounds):
    pvs = [lib.PV(f"LC:ao{i}") for i in range(count)]
    for pv in pvs:
        pv.wait_for_connection(timeout=30)
        pv.get()
    for pv in pvs:
        pv.disconnect()
    if r == 0:
        first = rss()
print(first, rss())
"""

EXIT = r"""
import sys, threading, importlib
lib = importlib.import_module(sys.argv[1])
seen = threading.Event()
lib.camonitor("LC:tick", writer=lambda line: seen.set())
pv = lib.PV("LC:ao", callback=lambda **kw: None)
pv.wait_for_connection(10)
try:  # iocgate raises by default, pyepics returns None
    lib.caget("LC:missing", connection_timeout=0.2)
except Exception:
    pass
seen.wait(10)
print(lib.caget("LC:ao"))
"""


def write_db(path: Path) -> None:
    with path.open("w") as fh:
        fh.write('record(ao, "LC:ao") { field(VAL, "1.5") field(PINI, "YES") }\n')
        fh.write('record(calc, "LC:tick") { field(SCAN, ".1 second") field(CALC, "A+1") '
                 'field(INPA, "LC:tick") }\n')
        for i in range(NAMES):
            fh.write(f'record(ao, "LC:ao{i}") {{ field(VAL, "{i}") field(PINI, "YES") }}\n')


class SoftIoc:
    def __init__(self, db: Path, env: dict) -> None:
        self.db, self.env, self.proc = db, env, None

    def start(self) -> float:
        """Start and return the monotonic time at which it said it was ready."""
        self.proc = subprocess.Popen([str(epics_tool("softIoc")), "-S", "-d", str(self.db)],
                                     env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        for line in self.proc.stdout:
            if "iocRun: All initialization complete" in line:
                return time.monotonic()
        raise RuntimeError("softIoc did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def reconnect(lib: str, ioc: SoftIoc, env: dict, restarts: int) -> list:
    child = subprocess.Popen([sys.executable, "-c", WATCH, lib], env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    delays = []
    try:
        assert child.stdout.readline().startswith("up")
        for _ in range(restarts):
            ioc.stop()
            assert child.stdout.readline().startswith("down")
            time.sleep(1.0)  # the server stays away for a second
            ready = ioc.start()
            line = child.stdout.readline()
            assert line.startswith("up"), line
            delays.append(float(line.split()[1]) - ready)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    return delays


def rss(lib: str, env: dict, rounds: int) -> list:
    out = subprocess.run([sys.executable, "-c", RSS, lib, str(rounds), str(NAMES)], env=env,
                         capture_output=True, text=True, timeout=600)
    return [float(x) for x in out.stdout.split()]


def one_exit(lib: str, env: dict) -> tuple:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", EXIT, lib], env=env, capture_output=True,
                         text=True, timeout=120)
    bad = ("Traceback" in out.stderr or "Exception ignored" in out.stderr
           or out.returncode != 0 or out.stdout.strip().splitlines()[-1:] != ["1.5"])
    report = f"exit status {out.returncode}, stdout {out.stdout!r}\n{out.stderr}"
    return time.perf_counter() - start, bad, report


def exits(lib: str, env: dict, runs: int) -> dict:
    results = []
    with ThreadPoolExecutor(2) as pool:
        for result in pool.map(lambda _: one_exit(lib, env), range(runs)):
            results.append(result)
            if len(results) % 50 == 0:  # progress, so a long run can be judged part-way
                print(f"{lib}: {len(results)} runs, {sum(r[1] for r in results)} bad",
                      file=sys.stderr, flush=True)
    bad = [r for r in results if r[1]]
    if bad:
        print(f"{lib}: first bad exit:\n{bad[0][2]}", file=sys.stderr)
    times = [r[0] for r in results]
    return {"runs": runs, "bad": len(bad), "median_s": statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--exits", type=int, default=1000)
    parser.add_argument("--pyepics-exits", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, **loopback_env(port)}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "lifecycle.db"
        write_db(db)
        ioc = SoftIoc(db, env)
        ioc.start()
        try:
            report = {}
            for lib in ("iocgate.client", "epics"):
                delays = reconnect(lib, ioc, env, args.restarts) or [float("nan")]
                sizes = rss(lib, env, args.rounds) if args.rounds else [float("nan")] * 2
                report[lib] = {"reconnect_s": delays, "rss_mb": sizes}
                print(lib, report[lib], file=sys.stderr, flush=True)
            report["iocgate.client"]["exit"] = exits("iocgate.client", env, args.exits)
            report["epics"]["exit"] = exits("epics", env, args.pyepics_exits)
        finally:
            ioc.stop()
    print(json.dumps(report, indent=1))
    ours, theirs = report["iocgate.client"], report["epics"]
    print(f"{'':36s}{'iocgate.client':>16s}{'pyepics':>12s}")
    for name, key in (("reconnect after restart, median (s)", "reconnect_s"),):
        print(f"{name:36s}{statistics.median(ours[key]):16.2f}"
              f"{statistics.median(theirs[key]):12.2f}")
        print(f"{'reconnect after restart, max (s)':36s}{max(ours[key]):16.2f}"
              f"{max(theirs[key]):12.2f}")
    print(f"{'RSS after 1 / all rounds (MB)':36s}"
          f"{ours['rss_mb'][0]:8.0f}/{ours['rss_mb'][1]:.0f}"
          f"{theirs['rss_mb'][0]:7.0f}/{theirs['rss_mb'][1]:.0f}")
    print(f"{'script run, median (s)':36s}{ours['exit']['median_s']:16.2f}"
          f"{theirs['exit']['median_s']:12.2f}")
    print(f"{'runs with a traceback / runs':36s}"
          f"{ours['exit']['bad']:>11d}/{ours['exit']['runs']:<4d}"
          f"{theirs['exit']['bad']:>7d}/{theirs['exit']['runs']}")


if __name__ == "__main__":
    with ca_repeater():  # relays beacons to the clients; no client spawns a stray one
        main()
