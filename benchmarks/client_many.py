"""Benchmark: iocgate.client vs pyepics on the same softIoc (loopback only).

1. connect-and-read N PVs with ``caget_many`` (cold: new channels; warm: second call);
2. monitor events per second received from M records that each process at 10 Hz.

pyepics runs in a child process (libca reads the EPICS environment once per process);
iocgate runs in this process afterwards, so the two never compete for the CPU.

Usage::

    python benchmarks/client_many.py [--pvs 10000] [--monitors 2000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from iocgate.testing import ca_repeater, epics_tool, free_port, loopback_env


def write_db(path: Path, npvs: int, nmon: int) -> None:
    with path.open("w") as fh:
        for i in range(npvs):
            fh.write(f'record(ao, "BM:ao{i}") {{ field(VAL, "{i}.5") field(PINI, "YES") '
                     f'field(PREC, "2") field(EGU, "mm") }}\n')
        for i in range(nmon):
            fh.write(f'record(calc, "BM:tick{i}") {{ field(SCAN, ".1 second") '
                     f'field(CALC, "A+1") field(INPA, "BM:tick{i}") }}\n')


CHILD = r"""
import json, sys, threading, time
import epics
names, ticks, seconds = json.loads(sys.stdin.read())
t0 = time.perf_counter(); values = epics.caget_many(names, connection_timeout=60, timeout=60)
cold = time.perf_counter() - t0
t0 = time.perf_counter(); epics.caget_many(names, connection_timeout=60, timeout=60)
warm = time.perf_counter() - t0
bad = sum(v is None for v in values)
count = [0]
lock = threading.Lock()
def cb(**kw):
    with lock:
        count[0] += 1
pvs = [epics.PV(n, callback=cb) for n in ticks]
for pv in pvs:
    pv.wait_for_connection(timeout=30)
time.sleep(1.0)
with lock: count[0] = 0
time.sleep(seconds)
with lock: n = count[0]
print(json.dumps({"cold": cold, "warm": warm, "bad": bad, "events_per_s": n / seconds}))
"""


def run_iocgate(names: list, ticks: list, seconds: float) -> dict:
    from iocgate.client import PV, caget_many, reset_default_context

    t0 = time.perf_counter()
    values = caget_many(names, connection_timeout=60, timeout=60, raise_on_error=False)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    caget_many(names, connection_timeout=60, timeout=60)
    warm = time.perf_counter() - t0
    count = [0]
    lock = threading.Lock()

    def cb(**kw: object) -> None:
        with lock:
            count[0] += 1

    pvs = [PV(n, callback=cb) for n in ticks]
    for pv in pvs:
        pv.wait_for_connection(timeout=30)
    time.sleep(1.0)  # let initial events drain before counting
    with lock:
        count[0] = 0
    time.sleep(seconds)  # the measurement window
    with lock:
        n = count[0]
    for pv in pvs:  # unsubscribe first: events on closing channels make caproto log errors
        pv.disconnect()
    reset_default_context()  # close the circuit before the IOC goes away
    return {"cold": cold, "warm": warm, "bad": sum(v is None for v in values),
            "events_per_s": n / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pvs", type=int, default=10000)
    parser.add_argument("--monitors", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    port = free_port()
    env = loopback_env(port)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        write_db(db, args.pvs, args.monitors)
        ioc = subprocess.Popen([str(epics_tool("softIoc")), "-S", "-d", str(db)],
                               env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            os.environ.update(env)
            names = [f"BM:ao{i}" for i in range(args.pvs)]
            ticks = [f"BM:tick{i}" for i in range(args.monitors)]
            child = subprocess.run([sys.executable, "-c", CHILD],
                                   input=json.dumps([names, ticks, args.seconds]),
                                   env={**os.environ, **env}, capture_output=True, text=True,
                                   timeout=600)
            if child.returncode:
                raise SystemExit(child.stderr)
            pyepics = json.loads(child.stdout.strip().splitlines()[-1])
            print("pyepics:", pyepics, file=sys.stderr)
            ours = run_iocgate(names, ticks, args.seconds)
            print("iocgate:", ours, file=sys.stderr)
        finally:
            ioc.terminate()
            ioc.wait(timeout=10)
    expected = args.monitors * 10
    print(f"{args.pvs} PVs, {args.monitors} monitored records at 10 Hz "
          f"({expected} events/s offered), {args.seconds:g} s window")
    print(f"{'':28s}{'iocgate.client':>16s}{'pyepics':>12s}")
    print(f"{'caget_many cold (s)':28s}{ours['cold']:16.2f}{pyepics['cold']:12.2f}")
    print(f"{'caget_many warm (s)':28s}{ours['warm']:16.2f}{pyepics['warm']:12.2f}")
    print(f"{'failed reads':28s}{ours['bad']:16d}{pyepics['bad']:12d}")
    print(f"{'monitor events/s received':28s}{ours['events_per_s']:16.0f}"
          f"{pyepics['events_per_s']:12.0f}")


if __name__ == "__main__":
    with ca_repeater():  # no client may spawn a repeater that keeps our pipes open
        main()
