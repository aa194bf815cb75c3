"""The device path in real time: how fast a hung instrument shows red, how soon a put reaches
the device under scan load, what a put flood does to other clients, and how soon every PV is
fresh once the device is back.

Usage::

    python benchmarks/device_path.py faults [--pvs 10 100 500] [--transport tcp serial]
                                            [--timeout 1.0] [--period 0.5]
    python benchmarks/device_path.py puts   [--pvs 100] [--reply 0.02 0.05] [--period 0.1]
    python benchmarks/device_path.py flood  [--flood 100000] [--reply 0.01]

Each case runs an instrument (:class:`iocgate.sim.LineSimulator`, ``CH<k>?`` -> a
number, ``SP?``/``SP <v>`` a setpoint answered ``OK``; every reply after ``--reply`` s) in one
child process, and an IOC (one :class:`~iocgate.DeviceGroup`: ``CH0..CH<n-1>`` read-only,
``SP`` writable; iocgate's server on asyncio) in another, on free loopback ports:

* **faults**: the instrument process is frozen with SIGSTOP; a ``camonitor`` on every PV gives
  the time until the last PV shows INVALID (and CONNECTED Disconnected); then SIGCONT and
  the time until every PV is fresh (NO_ALARM) again. Repeated ``--repeat`` times.
* **puts**: ``SP`` is written with pyepics (``put(wait=True)``, i.e. ``caput -c``) at random
  moments while every PV is scanned (a pass takes longer than the period: full load);
  completion time against the instrument's reply time.
* **flood**: one client sends ``--flood`` puts to ``SP`` without waiting (``caput``), then
  one ``put(wait=True)``, while another client times ``put(wait=True)`` to ``SP`` for
  ``--seconds``; the IOC's peak RSS, the number of ``SP`` writes the instrument received and
  the time from its first to its last (how long the flood kept the instrument busy).

Set ``IOCGATE_SRC=/path/to/other/checkout`` to measure another version of iocgate (the
instrument and the client side stay the same).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

SOURCE = os.environ.get("IOCGATE_SRC", str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, SOURCE)
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # devices/, the test kit

from iocgate.testing import (  # noqa: E402
    LOOPBACK,
    ca_repeater,
    epics_tool,
    free_port,
    subprocess_env,
)

#: seconds a child may take to come up
START_TIMEOUT = 30.0


# ------------------------------------------------------------------ instrument (child)
class Setpoint:
    """The instrument's state: a setpoint, how many times it was written, and when."""

    def __init__(self) -> None:
        self.value = 0.0
        self.writes = 0
        self.first_write = self.last_write = 0.0  # time.time() of the first/last SP write

    def reply(self, line: str) -> str:
        if line == "SP?":
            return f"{self.value:g}"
        if line.startswith("SP "):
            self.value = float(line[3:])
            self.writes += 1
            self.last_write = time.time()
            self.first_write = self.first_write or self.last_write
            return "OK"
        if line == "WRITES?":
            return str(self.writes)
        if line == "BUSY?":
            return f"{self.last_write - self.first_write:.3f}"
        if line.startswith("CH") and line.endswith("?"):
            return f"{int(line[2:-1]) + random.random():.6f}"
        raise ValueError(f"unknown command {line!r}")


def instrument_main(reply: float) -> None:
    """Serve one instrument on TCP and a pty; print both addresses; stop at stdin EOF."""
    from iocgate.sim import LineSimulator

    state = Setpoint()
    sim = LineSimulator(state.reply, name="bench")
    sim.faults.delay = reply
    try:
        print(json.dumps({"port": sim.start_tcp(0, LOOPBACK), "pty": sim.start_pty()}),
              flush=True)
        sys.stdin.read()
    finally:
        sim.stop()


# ------------------------------------------------------------------ IOC (child)
def ioc_main(args: argparse.Namespace) -> None:
    import asyncio
    import logging

    from iocgate import DeviceGroup, pvproperty
    from iocgate.nodes import ControlSystem
    from iocgate.server import start_server

    logging.basicConfig(level=logging.WARNING, format="[%(levelname)s %(asctime)s] %(message)s")
    attrs: Dict[str, Any] = {"scan_period": args.period}
    for k in range(args.pvs):
        attrs[f"ch{k}"] = pvproperty(name=f"CH{k}", node={"get": f"CH{k}?"}, value=0.0,
                                     read_only=True, precision=3, doc=f"Channel {k}")
    attrs["sp"] = pvproperty(name="SP", node={"get": "SP?", "set": "SP {value}",
                                              "set_reply": True},
                             value=0.0, precision=3, doc="Setpoint")
    attrs["writes"] = pvproperty(name="WRITES", node={"get": "WRITES?"}, value=0,
                                 read_only=True, doc="SP writes the instrument received")
    attrs["busy"] = pvproperty(name="BUSY", node={"get": "BUSY?"}, value=0.0, read_only=True,
                               units="s", precision=3,
                               doc="Seconds from the first SP write to the last")
    meter = type("Meter", (DeviceGroup,), attrs)
    control = ControlSystem()
    if args.transport == "tcp":
        link = control.tcp(LOOPBACK, int(args.address), timeout=args.timeout)
    else:
        link = control.serial(args.address, timeout=args.timeout)
    group = meter("B:", device=link.lines())
    asyncio.run(start_server(group.pvdb, interfaces=[LOOPBACK]))


# ------------------------------------------------------------------ parent helpers
class Rig:
    """The instrument and IOC child processes of one case."""

    def __init__(self, pvs: int, reply: float, period: float, timeout: float,
                 transport: str = "tcp"):
        self.pvs = pvs
        self.instrument = subprocess.Popen(
            [sys.executable, __file__, "instrument", "--reply", str(reply)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.instrument.stdout is not None
        where = json.loads(self.instrument.stdout.readline())
        self.env = subprocess_env(free_port())
        self.env["PYTHONPATH"] = SOURCE
        address = str(where["port"]) if transport == "tcp" else where["pty"]
        self.ioc = subprocess.Popen(
            [sys.executable, __file__, "ioc", "--pvs", str(pvs), "--period", str(period),
             "--timeout", str(timeout), "--transport", transport, "--address", address],
            env=self.env, stderr=subprocess.PIPE, text=True)
        self.stderr: List[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while self.tool("caget", "-w", "1", "B:CONNECTED").stdout.split()[-1:] != [
                "Connected"]:
            assert time.monotonic() < deadline, "IOC did not connect:\n" + "".join(self.stderr)
        self.names = [f"B:CH{k}" for k in range(pvs)]

    def _pump(self) -> None:
        assert self.ioc.stderr is not None
        for line in self.ioc.stderr:
            self.stderr.append(line)

    def tool(self, name: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(epics_tool(name)), *args], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def rss_mb(self) -> float:
        """The IOC's peak resident set size (VmHWM), MB."""
        for line in Path(f"/proc/{self.ioc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        self.ioc.send_signal(signal.SIGINT)
        try:
            self.ioc.wait(20)
        except subprocess.TimeoutExpired:
            self.ioc.kill()
            self.ioc.wait(10)
        self.instrument.send_signal(signal.SIGCONT)
        self.instrument.communicate(timeout=20)


class Monitor:
    """``camonitor`` on PVs; remembers the arrival time and alarm state of every line."""

    def __init__(self, rig: Rig, names: Sequence[str]):
        self.lines: List[tuple] = []  # (arrival s, name, invalid?)
        self.proc = subprocess.Popen([str(epics_tool("camonitor")), *names], env=rig.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            fields = line.split()
            if len(fields) >= 4:
                with self.cond:
                    self.lines.append((time.monotonic(), fields[0], "INVALID" in fields))
                    self.cond.notify_all()

    def wait_all(self, names: Sequence[str], invalid: bool, since: float,
                 timeout: float = 60.0) -> float:
        """Monotonic time of the line that brought the last of ``names`` to the state."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                state: Dict[str, tuple] = {}
                for stamp, name, bad in self.lines:
                    if stamp >= since:
                        state[name] = (stamp, bad)
                if all(name in state and state[name][1] == invalid for name in names):
                    return max(state[name][0] for name in names)
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"not all {'INVALID' if invalid else 'valid'} in time"
                self.cond.wait(remaining)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# ------------------------------------------------------------------ cases
def faults(args: argparse.Namespace) -> None:
    print(f"reply timeout {args.timeout:g} s, scan period {args.period:g} s; "
          f"seconds from SIGSTOP to the last PV INVALID / from SIGCONT to the last PV fresh")
    print(f"{'transport':<10} {'PVs':>5} {'alarm s (each run)':>28} {'fresh s (each run)':>28}")
    for transport in args.transport:
        for pvs in args.pvs:
            rig = Rig(pvs, args.reply[0], args.period, args.timeout, transport)
            names = rig.names + ["B:SP", "B:CONNECTED"]
            monitor = Monitor(rig, names)
            alarms, fresh = [], []
            try:
                monitor.wait_all(names, invalid=False, since=0.0)
                for _ in range(args.repeat):
                    time.sleep(random.uniform(0.5, 1.5) * args.period)
                    stopped = time.monotonic()
                    rig.instrument.send_signal(signal.SIGSTOP)
                    last = monitor.wait_all(names[:-1], invalid=True, since=stopped)
                    alarms.append(last - stopped)
                    time.sleep(args.down)
                    resumed = time.monotonic()
                    rig.instrument.send_signal(signal.SIGCONT)
                    back = monitor.wait_all(names[:-1], invalid=False, since=resumed)
                    fresh.append(back - resumed)
            finally:
                monitor.close()
                rig.close()
            print(f"{transport:<10} {pvs:>5} {' '.join(f'{a:.2f}' for a in alarms):>28} "
                  f"{' '.join(f'{f:.2f}' for f in fresh):>28}", flush=True)


PUT_SCRIPT = """
import epics, json, random, sys, time
sp = epics.PV("B:SP")
assert sp.wait_for_connection(10)
times = []
for i in range(int(sys.argv[1])):
    time.sleep(random.uniform(0.05, 0.3))
    start = time.monotonic()
    sp.put(round(random.uniform(0, 10), 3), wait=True, timeout=60)
    times.append(time.monotonic() - start)
print(json.dumps(times))
"""


def puts(args: argparse.Namespace) -> None:
    print(f"{args.pvs[0]} PVs scanned every {args.period:g} s; put(wait=True) to SP at random "
          f"moments, {args.count} each")
    print(f"{'reply s':>8} {'pass s':>8} {'put median s':>13} {'put max s':>10} "
          f"{'median/reply':>13}")
    for reply in args.reply:
        rig = Rig(args.pvs[0], reply, args.period, args.timeout)
        try:
            out = subprocess.run([sys.executable, "-c", PUT_SCRIPT, str(args.count)],
                                 env=rig.env, capture_output=True, text=True, timeout=600)
            assert out.returncode == 0, out.stderr
            times = json.loads(out.stdout.strip().splitlines()[-1])
            scan = float(rig.tool("caget", "-t", "B:SCAN_TIME").stdout)
        finally:
            rig.close()
        median = statistics.median(times)
        print(f"{reply:>8.3f} {scan:>8.2f} {median:>13.3f} {max(times):>10.3f} "
              f"{median / reply:>13.1f}", flush=True)


FLOOD_SCRIPT = """
import epics, json, sys, time
sp = epics.PV("B:SP")
assert sp.wait_for_connection(10)
start = time.monotonic()
for i in range(int(sys.argv[1])):
    sp.put(i % 1000 / 100.0 + 0.001, wait=False)
epics.ca.flush_io()
sent = time.monotonic() - start
sp.put(42.0, wait=True, timeout=600)
print(json.dumps({"sent_s": sent, "done_s": time.monotonic() - start}))
"""

PROBE_SCRIPT = """
import epics, json, sys, time
sp = epics.PV("B:SP")
assert sp.wait_for_connection(10)
times = []
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    start = time.monotonic()
    sp.put(7.0, wait=True, timeout=600)
    times.append(time.monotonic() - start)
    time.sleep(0.1)
print(json.dumps(times))
"""


def flood(args: argparse.Namespace) -> None:
    rig = Rig(args.pvs[0], args.reply[0], args.period, args.timeout)
    try:
        idle_rss = rig.rss_mb()
        probe = subprocess.Popen([sys.executable, "-c", PROBE_SCRIPT, str(args.seconds)],
                                 env=rig.env, stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        flooder = subprocess.run([sys.executable, "-c", FLOOD_SCRIPT, str(args.flood)],
                                 env=rig.env, capture_output=True, text=True, timeout=900)
        assert flooder.returncode == 0, flooder.stderr
        out, _ = probe.communicate(timeout=900)
        probe_times = json.loads(out.strip().splitlines()[-1])
        result = json.loads(flooder.stdout.strip().splitlines()[-1])
        time.sleep(2 * args.period + 1.0)  # a scan reads WRITES after the last put
        writes = int(float(rig.tool("caget", "-t", "B:WRITES").stdout))
        busy = float(rig.tool("caget", "-t", "B:BUSY").stdout)
        rss = rig.rss_mb()
    finally:
        rig.close()
    print(f"{args.flood} puts to SP without waiting (reply {args.reply[0]:g} s), "
          f"{args.pvs[0]} PVs scanned every {args.period:g} s")
    print(f"flood sent in {result['sent_s']:.2f} s; its final put(wait=True) done after "
          f"{result['done_s']:.2f} s; SP writes the instrument received: {writes} "
          f"(first to last {busy:.2f} s)")
    print(f"other client's put(wait=True) during the flood: median "
          f"{statistics.median(probe_times):.3f} s, max {max(probe_times):.3f} s "
          f"({len(probe_times)} puts); IOC peak RSS {rss:.0f} MB ({idle_rss:.0f} MB before "
          f"the flood)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=("faults", "puts", "flood", "instrument", "ioc"))
    parser.add_argument("--pvs", type=int, nargs="+", default=None)
    parser.add_argument("--transport", nargs="+", default=["tcp", "serial"])
    parser.add_argument("--timeout", type=float, default=1.0, help="reply timeout, s")
    parser.add_argument("--period", type=float, default=0.5, help="scan period, s")
    parser.add_argument("--reply", type=float, nargs="+", default=None,
                        help="instrument reply time(s), s")
    parser.add_argument("--repeat", type=int, default=3, help="faults: freezes per row")
    parser.add_argument("--down", type=float, default=3.0, help="faults: s frozen")
    parser.add_argument("--count", type=int, default=20, help="puts: puts per row")
    parser.add_argument("--flood", type=int, default=100_000, help="flood: puts sent")
    parser.add_argument("--seconds", type=float, default=20.0, help="flood: probe time, s")
    parser.add_argument("--address", help=argparse.SUPPRESS)  # internal (ioc)
    args = parser.parse_args()
    if args.case == "instrument":
        instrument_main(args.reply[0] if args.reply else 0.0)
        return
    if args.case == "ioc":
        args.transport, args.pvs = args.transport[0], args.pvs[0]
        ioc_main(args)
        return
    args.pvs = args.pvs or {"faults": [10, 100, 500], "puts": [100], "flood": [10]}[args.case]
    args.reply = args.reply or {"faults": [0.0], "puts": [0.02, 0.05],
                                "flood": [0.01]}[args.case]
    with ca_repeater():
        {"faults": faults, "puts": puts, "flood": flood}[args.case](args)


if __name__ == "__main__":
    main()
