"""1,000 scanned PVs on 10 simulated instruments: iocgate's batched DeviceGroup scanner against
a typical hand-written caproto IOC (one scan hook and one query per PV).

Usage::

    python benchmarks/scan_bound_pvs.py [--devices 10] [--pvs 100] [--period 0.1]
                                        [--seconds 15] [--warmup 3] [--case both]
                                        [--server caproto|iocgate] [--compound N]
                                        [--missed skip|restart|immediate|terminate]

The instruments are :class:`iocgate.sim.LineSimulator` threads in one child process on
127.0.0.1, answering ``CH<k>?`` with a fresh number every time (so every read changes its PV).
Each IOC runs in another child process, served (``--server``) by caproto's asyncio server or
iocgate's on a free loopback port:

* **iocgate**: one :class:`~iocgate.DeviceGroup` per instrument, 100 read-only
  ``pvproperty(node={"get": "CH<k>?"}, period=0.1)``; its scheduler reads all due PVs of an
  instrument in one batched worker pass (``aread_many``).
* **caproto**: one caproto ``PVGroup`` per instrument, 100 ``pvproperty`` each with
  ``@prop.scan(period=0.1)``; every hook awaits its own query on the instrument's one asyncio
  TCP connection, shared under an ``asyncio.Lock``.

The child measures, after ``--warmup`` s, for ``--seconds`` s: device reads/s (scan passes x
PVs read), scan passes/s per instrument, and its own CPU (user+system s / wall s, from
``resource.getrusage``). This process counts the monitor events ``camonitor`` receives for one
PV per instrument, to show the updates reach CA clients, and the simulators' CPU over the
same window (from /proc; near 100 % means they, not the IOC, set the pace). Prints one table,
and for iocgate the timing of its scan passes (see :func:`pass_stats`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iocgate.testing import (  # noqa: E402
    LOOPBACK,
    ca_repeater,
    epics_tool,
    free_port,
    subprocess_env,
)

CASES = ("iocgate", "caproto")
#: seconds the child may take beyond warm-up + measurement before it is killed
CHILD_GRACE = 60.0
#: seconds between samples of the simulators' CPU time
SAMPLE_PERIOD = 0.5


# ------------------------------------------------------------------ instruments (child)
def channel_reply(line: str) -> str:
    """``CH<k>?`` -> a new reading near k (every read differs, as a noisy meter's would);
    SCPI compound queries ``CH1?;:CH2?`` -> ``r1;r2``."""
    replies = []
    for unit in line.split(";"):
        unit = unit.lstrip(":")
        if not (unit.startswith("CH") and unit.endswith("?")):
            raise ValueError(f"unknown command {unit!r}")
        replies.append(f"{int(unit[2:-1]) + random.random():.6f}")
    return ";".join(replies)


def instruments_main(count: int) -> None:
    """Serve ``count`` instruments; print their ports as JSON; stop when stdin closes."""
    from iocgate.sim import LineSimulator

    sims = [LineSimulator(channel_reply, name=f"meter{i}") for i in range(count)]
    try:
        print(json.dumps([sim.start_tcp(0, LOOPBACK) for sim in sims]), flush=True)
        sys.stdin.read()
    finally:
        for sim in sims:
            sim.stop()


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ the two IOCs (child side)
def iocgate_pvdb(ports: Sequence[int], pvs: int, period: float, compound: int = 1,
                 missed: str = "") -> Tuple[Dict[str, Any], Any]:
    """One DeviceGroup per instrument; returns the pvdb and ``passes() -> (passes, reads)``.
    With ``compound`` > 1 the instruments are read as SCPI, that many queries per message."""
    from iocgate import DeviceGroup, pvproperty
    from iocgate.nodes import ControlSystem

    attrs: Dict[str, Any] = {"scan_period": period}
    if missed:
        attrs["missed_scans"] = missed
    for k in range(pvs):
        node = f"CH{k}" if compound > 1 else {"get": f"CH{k}?"}
        attrs[f"ch{k}"] = pvproperty(name=f"CH{k}", node=node, value=0.0,
                                     read_only=True, precision=3, doc=f"Channel {k}")
    meter = type("Meter", (DeviceGroup,), attrs)
    control = ControlSystem()

    def bridge(port: int) -> Any:
        link = control.tcp(LOOPBACK, port, timeout=2.0)
        return link.scpi(compound=compound) if compound > 1 else link.lines()

    groups = [meter(f"DEV{i}:", device=bridge(port)) for i, port in enumerate(ports)]
    pvdb: Dict[str, Any] = {}
    for group in groups:
        pvdb.update(group.pvdb)

    def passes() -> Tuple[int, int]:
        done = sum(group.scanner.passes for group in groups)
        return done, done * pvs

    passes.timings = [time_passes(group.scanner) for group in groups]  # type: ignore
    return pvdb, passes


def time_passes(scanner: Any) -> List[Tuple[float, float, float]]:
    """Record ``(due, start, end)`` (monotonic s) of every pass of ``scanner``: how late it
    started against its grid point, and how long its device reads and publishing took."""
    timings: List[Tuple[float, float, float]] = []
    scan_once = scanner.scan_once

    async def timed(due: Any) -> None:
        grid, start = min(item.next_due for item in due), time.monotonic()
        try:
            await scan_once(due)
        finally:
            timings.append((grid, start, time.monotonic()))

    scanner.scan_once = timed
    return timings


def pass_stats(timings: Sequence[Sequence[Tuple[float, float, float]]], t0: float,
               t1: float, period: float) -> Dict[str, float]:
    """Per-pass figures over the window [t0, t1] (monotonic s), all devices pooled: start
    lateness against the grid and pass duration (median, 90th percentile, max, in ms), the
    share of passes that ended past their next grid point, and the passes/s per device these
    same durations give under each missed-scan policy (``skip``: a pass holds its period
    rounded up to whole periods; ``restart``: the longer of its duration and the period;
    ``back to back``: its duration alone, the bound of the device reads themselves)."""
    rows = [row for device in timings for row in device if t0 <= row[1] <= t1]
    if not rows:
        return {}
    late = sorted(start - grid for grid, start, _ in rows)
    took = sorted(end - start for _, start, end in rows)
    over = sum(1 for grid, _, end in rows if end > grid + period)
    skip = sum(period * max(1, math.ceil((end - grid) / period - 1e-9))
               for grid, _, end in rows)
    restart = sum(max(end - start, period) for _, start, end in rows)

    def pct(values: List[float], q: float) -> float:
        return 1000 * values[min(len(values) - 1, int(q * len(values)))]

    return {"late_ms_p50": pct(late, 0.5), "late_ms_p90": pct(late, 0.9),
            "late_ms_max": pct(late, 1.0), "took_ms_p50": pct(took, 0.5),
            "took_ms_p90": pct(took, 0.9), "took_ms_max": pct(took, 1.0),
            "overran": over / len(rows), "skip_hz": len(rows) / skip,
            "restart_hz": len(rows) / restart, "back_to_back_hz": len(rows) / sum(took)}


def caproto_pvdb(ports: Sequence[int], pvs: int, period: float
                 ) -> Tuple[Dict[str, Any], Any]:
    """The hand-written caproto IOC: a scan hook per PV, one locked connection per device."""
    from caproto.server import PVGroup, pvproperty

    reads = [0]

    class Meter(PVGroup):
        def __init__(self, prefix: str, port: int):
            super().__init__(prefix)
            self.port = port
            self.lock = asyncio.Lock()
            self.stream: Any = None

        async def query(self, text: str) -> float:
            async with self.lock:
                if self.stream is None:
                    self.stream = await asyncio.open_connection(LOOPBACK, self.port)
                reader, writer = self.stream
                writer.write(text.encode() + b"\n")
                reply = await asyncio.wait_for(reader.readline(), 2.0)
            reads[0] += 1
            return float(reply)

    def channel(k: int) -> Any:
        prop = pvproperty(name=f"CH{k}", value=0.0, read_only=True, precision=3,
                          doc=f"Channel {k}")

        @prop.scan(period=period)
        async def prop(self: Meter, instance: Any, async_lib: Any) -> None:
            await instance.write(await self.query(f"CH{k}?"))

        return prop

    meter = type("Meter", (Meter,), {f"ch{k}": channel(k) for k in range(pvs)})
    pvdb: Dict[str, Any] = {}
    for i, port in enumerate(ports):
        pvdb.update(meter(f"DEV{i}:", port).pvdb)
    return pvdb, lambda: (reads[0] / pvs, reads[0])


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def serve_and_measure(case: str, ports: Sequence[int], pvs: int, period: float,
                            warmup: float, seconds: float, server_core: str = "caproto",
                            compound: int = 1, missed: str = "") -> Dict[str, float]:
    if server_core == "iocgate":
        from iocgate.server import start_server
    else:
        from caproto.asyncio.server import start_server

    if case == "iocgate":
        pvdb, passes = iocgate_pvdb(ports, pvs, period, compound, missed)
    else:
        pvdb, passes = caproto_pvdb(ports, pvs, period)
    server = asyncio.ensure_future(start_server(pvdb, interfaces=[LOOPBACK]))
    try:
        await asyncio.sleep(warmup)
        passes0, reads0 = passes()
        wall0, cpu0, t0 = time.monotonic(), cpu_seconds(), time.time()
        await asyncio.sleep(seconds)
        passes1, reads1 = passes()
        wall = time.monotonic() - wall0
        cpu = cpu_seconds() - cpu0
    finally:
        server.cancel()
    stats = pass_stats(getattr(passes, "timings", []), wall0, wall0 + wall, period)
    return {"t0": t0, "t1": t0 + wall, "wall": wall, "cpu": cpu,
            "passes_per_device_s": (passes1 - passes0) / len(ports) / wall,
            "reads_s": (reads1 - reads0) / wall, **stats}


def child_main(args: argparse.Namespace) -> None:
    import logging
    logging.getLogger("caproto").setLevel(logging.ERROR)  # no "High load" chatter
    ports = [int(port) for port in args.child.split(",")]
    result = asyncio.run(serve_and_measure(args.case, ports, args.pvs, args.period,
                                           args.warmup, args.seconds, args.server,
                                           args.compound, args.missed))
    print(json.dumps(result), flush=True)


# ------------------------------------------------------------------ driver (parent side)
def count_monitor_events(env: Dict[str, str], pvs: List[str], stamps: List[float],
                         stop: threading.Event) -> subprocess.Popen:
    """Start camonitor on ``pvs``; a thread appends each line's arrival time to ``stamps``."""
    proc = subprocess.Popen([str(epics_tool("camonitor")), *pvs], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def pump() -> None:
        assert proc.stdout is not None
        for _ in proc.stdout:
            if not stop.is_set():
                stamps.append(time.time())

    threading.Thread(target=pump, daemon=True).start()
    return proc


def run_case(case: str, ports: Sequence[int], sims_pid: int, args: argparse.Namespace
             ) -> Dict[str, float]:
    ca_port = free_port()
    env = subprocess_env(ca_port)
    cmd = [sys.executable, __file__, "--child", ",".join(map(str, ports)), "--case", case,
           "--pvs", str(args.pvs), "--period", str(args.period), "--warmup", str(args.warmup),
           "--seconds", str(args.seconds), "--server", args.server,
           "--compound", str(args.compound), "--missed", args.missed]
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    stamps: List[float] = []
    stop = threading.Event()
    sample = [f"DEV{i}:CH{args.pvs - 1}" for i in range(len(ports))]
    monitor = count_monitor_events(env, sample, stamps, stop)
    sim_cpu: List[Tuple[float, float]] = []

    def sample_sim_cpu() -> None:  # (wall time, CPU s) every SAMPLE_PERIOD s
        while not stop.wait(SAMPLE_PERIOD):
            sim_cpu.append((time.time(), process_cpu_seconds(sims_pid)))

    threading.Thread(target=sample_sim_cpu, daemon=True).start()
    try:
        out, _ = child.communicate(timeout=args.warmup + args.seconds + CHILD_GRACE)
    finally:
        stop.set()
        monitor.terminate()
        monitor.wait(10)
        if child.poll() is None:
            child.kill()
            child.wait(10)
    if child.returncode != 0:
        raise RuntimeError(f"{case} IOC exited with {child.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    events = sum(1 for stamp in stamps if result["t0"] <= stamp <= result["t1"])
    result["monitor_events_per_pv_s"] = events / len(sample) / result["wall"]
    window = [(wall, cpu) for wall, cpu in sim_cpu if result["t0"] <= wall <= result["t1"]]
    if len(window) >= 2:
        (w0, c0), (w1, c1) = window[0], window[-1]
        result["sim_cpu"] = (c1 - c0) / (w1 - w0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--pvs", type=int, default=100, help="PVs per device")
    parser.add_argument("--period", type=float, default=0.1, help="scan period, s")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per case")
    parser.add_argument("--warmup", type=float, default=3.0, help="s before measuring")
    parser.add_argument("--case", choices=CASES + ("both",), default="both")
    parser.add_argument("--server", choices=("caproto", "iocgate"), default="caproto",
                        help="CA server core serving both cases (default: %(default)s)")
    parser.add_argument("--compound", type=int, default=1,
                        help="iocgate: SCPI queries per message (default: %(default)s)")
    parser.add_argument("--missed", default="",
                        choices=("", "skip", "immediate", "restart", "terminate"),
                        help="iocgate: missed-scan policy (default: DeviceGroup's own)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one IOC
    parser.add_argument("--instruments", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    if args.instruments:
        instruments_main(args.devices)
        return
    with ca_repeater():  # no client may spawn a repeater that keeps our pipes open
        compare(args)


def compare(args: argparse.Namespace) -> None:
    """Run the instruments, then each IOC case against them, and print the table."""
    sims = subprocess.Popen([sys.executable, __file__, "--instruments", "--devices",
                             str(args.devices)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert sims.stdout is not None
        ports = json.loads(sims.stdout.readline())
        cases = CASES if args.case == "both" else (args.case,)
        results = {case: run_case(case, ports, sims.pid, args) for case in cases}
    finally:
        sims.communicate(timeout=30)  # closes its stdin: it stops
    target = 1.0 / args.period
    print(f"{args.devices} devices x {args.pvs} PVs at {target:g} Hz "
          f"({args.devices * args.pvs * target:g} reads/s wanted), {args.seconds:g} s each")
    print(f"{'IOC':<10} {'reads/s':>9} {'passes/s/dev':>13} {'monitor ev/s/PV':>16} "
          f"{'IOC CPU':>8} {'sim CPU':>8}")
    for case, res in results.items():
        print(f"{case:<10} {res['reads_s']:>9.0f} {res['passes_per_device_s']:>13.2f} "
              f"{res['monitor_events_per_pv_s']:>16.2f} {res['cpu'] / res['wall']:>7.0%} "
              f"{res.get('sim_cpu', float('nan')):>7.0%}")
    for case, res in results.items():
        if "overran" in res:
            print(f"{case}: pass start late vs grid p50/p90/max "
                  f"{res['late_ms_p50']:.1f}/{res['late_ms_p90']:.1f}/{res['late_ms_max']:.1f} ms;"
                  f" pass took p50/p90/max {res['took_ms_p50']:.1f}/{res['took_ms_p90']:.1f}/"
                  f"{res['took_ms_max']:.1f} ms; {res['overran']:.0%} of passes ended past "
                  f"their period; these durations give {res['skip_hz']:.2f} passes/s/dev "
                  f"under skip, {res['restart_hz']:.2f} under restart, "
                  f"{res['back_to_back_hz']:.2f} back to back")


if __name__ == "__main__":
    main()
