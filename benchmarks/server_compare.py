#!/usr/bin/env python
"""Compare CA servers side by side: C softIoc (reference), caproto's server and iocgate's.

One command runs every benchmark against every server and prints a table::

    python benchmarks/server_compare.py                      # all servers, all benchmarks
    python benchmarks/server_compare.py --servers iocgate,softioc --only catime,waveform

Each server is the IOC of ``tests/server/ioc_under_test.py`` (``ioc_under_test.db`` for softIoc)
plus 10,000 ``BULK:n`` doubles, started as a subprocess on a free loopback port. Every
benchmark is bounded in time; a benchmark that fails or times out shows ``error`` and the
reason is printed below the table. Results depend heavily on machine load.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import selectors
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "server"))

import rawca  # noqa: E402
from rawca import Cmd  # noqa: E402
from servers_under_test import KINDS, ServerProcess  # noqa: E402

from iocgate.testing import ca_repeater, epics_tool  # noqa: E402

BULK = 10_000
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- process measurements --------------------------------------------------------------------
def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (from /proc/<pid>/status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_tool(server: ServerProcess, args: List[str], timeout: float) -> str:
    done = subprocess.run(args, env=server.env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} exited {done.returncode}: {done.stderr[-500:]}")
    return done.stdout


# -- benchmarks: each returns {metric: value} ------------------------------------------------
def bench_catime(server: ServerProcess) -> Dict[str, float]:
    """``catime DOUBLE 1000``: connect, async get and async put per operation (DBR_DOUBLE)."""
    out = run_tool(server, [str(epics_tool("catime")), server.pv("DOUBLE"), "1000"], 120)
    per_op = lambda text: float(re.search(r"Per Op,\s+([\d.]+) uS", text).group(1))  # noqa: E731
    connect = out.split("Channel Connect Test", 1)[1]
    double = out.split("DBR_DOUBLE Test", 1)[1]
    return {"catime connect µs/op": per_op(connect),
            "catime async get µs/op": per_op(double.split("async get test", 1)[1]),
            "catime async put µs/op": per_op(double.split("async put test", 1)[1])}


PYEPICS_10K = textwrap.dedent("""
    import sys, time, epics
    prefix, count = sys.argv[1], int(sys.argv[2])
    epics.ca.initialize_libca()
    names = [f"{prefix}BULK:{i}" for i in range(count)]
    start = time.perf_counter()
    values = epics.caget_many(names, timeout=30, connection_timeout=30)
    elapsed = time.perf_counter() - start
    bad = sum(v is None or float(v) != i for i, v in enumerate(values))
    print(elapsed, bad)
""")


def bench_pyepics_10k(server: ServerProcess) -> Dict[str, float]:
    """pyepics ``caget_many`` of 10,000 PVs in a child process (connect + read, wall s)."""
    cpu = cpu_seconds(server.proc.pid)
    out = run_tool(server, [sys.executable, "-c", PYEPICS_10K, server.prefix, str(BULK)], 120)
    cpu = cpu_seconds(server.proc.pid) - cpu
    elapsed, bad = out.split()
    if int(bad):
        raise RuntimeError(f"{bad} of {BULK} pyepics reads wrong or missing")
    return {"pyepics 10k connect+read s": float(elapsed), "pyepics 10k server CPU s": cpu}


def bench_caget_10k(server: ServerProcess) -> Dict[str, float]:
    """One C ``caget -t`` invocation with 10,000 names (process start included, wall s)."""
    names = [server.pv(f"BULK:{i}") for i in range(BULK)]
    cpu, start = cpu_seconds(server.proc.pid), time.perf_counter()
    out = run_tool(server, [str(epics_tool("caget")), "-t", *names], 120)
    elapsed, cpu = time.perf_counter() - start, cpu_seconds(server.proc.pid) - cpu
    if len(out.split()) != BULK:
        raise RuntimeError(f"caget printed {len(out.split())} values for {BULK} names")
    return {"caget 10k names s": elapsed, "caget 10k server CPU s": cpu}


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return handle.read().count(b"\n")


def _wait_stable(read: Callable[[], int], settle: float, timeout: float) -> int:
    """Poll ``read()`` until it has not changed for ``settle`` s (or ``timeout`` s passed)."""
    value, changed, deadline = read(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline and time.monotonic() - changed < settle:
        time.sleep(0.05)
        now = read()
        if now != value:
            value, changed = now, time.monotonic()
    return value


def _timed_get(server: ServerProcess, timeout: float = 30.0) -> float:
    start = time.perf_counter()
    with rawca.Circuit(server.port, timeout=timeout) as circuit:
        circuit.get(circuit.create_channel(server.pv("DOUBLE")))
    return time.perf_counter() - start


def bench_flood(server: ServerProcess, seconds: float = 3.0) -> Dict[str, float]:
    """Flat-out WRITEs to LONG for ``seconds`` with a camonitor subscriber.

    Reports the % of accepted puts that camonitor received as events, the latency of a
    READ_NOTIFY sent on the flooding circuit right after the last put (queued behind the
    flood), that of a fresh client's get, and the server RSS before and after.
    """
    out = Path(tempfile.mkstemp(prefix="flood-", suffix=".txt")[1])
    with open(out, "wb") as sink:
        monitor = subprocess.Popen([str(epics_tool("camonitor")), "-t", "n", "-n",
                                    server.pv("LONG")], env=server.env, stdout=sink)
    try:
        with rawca.Circuit(server.port, timeout=30) as circuit:
            chan = circuit.create_channel(server.pv("LONG"))
            circuit.write(chan, [0])
            deadline = time.monotonic() + 10
            while _count_lines(out) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            before = _count_lines(out)
            rss_before = rss_mib(server.proc.pid)
            value, end = 0, time.monotonic() + seconds
            while time.monotonic() < end:
                circuit.send(b"".join(rawca.frame(Cmd.WRITE, rawca.encode_values(5, [value + i]),
                                                  5, 1, chan.sid, 1) for i in range(1, 101)))
                value += 100
            start = time.perf_counter()
            _, got = circuit.get(chan)
            queued_get = time.perf_counter() - start
        fresh_get = _timed_get(server)
        events = _wait_stable(lambda: _count_lines(out), 1.0, 30) - before
        return {"flood puts sent": value, "flood accepted (last value)": int(got[0]),
                "flood % delivered": 100.0 * events / max(int(got[0]), 1),
                "flood queued get s": queued_get, "flood fresh get s": fresh_get,
                "flood RSS before MiB": rss_before, "flood RSS after MiB": rss_mib(server.proc.pid)}
    finally:
        monitor.kill()
        monitor.wait(5)
        out.unlink()


def _fanout_subscriber(port: int, names: List[str], clients: int, ready, stop, result) -> None:
    """Child process: ``clients`` circuits each subscribed to every name; counts events."""
    circuits = [rawca.Circuit(port, timeout=60) for _ in range(clients)]
    for circuit in circuits:
        for chan in circuit.create_channels(names):
            circuit.subscribe(chan, rawca.DBE_VALUE, 6, 1)
    for circuit in circuits:  # the initial events
        for _ in names:
            circuit.expect(Cmd.EVENT_ADD)
    selector = selectors.DefaultSelector()
    counts = {}
    for circuit in circuits:
        circuit.sock.setblocking(False)
        selector.register(circuit.sock, selectors.EVENT_READ, circuit)
        counts[circuit] = 0
    ready.set()
    buffers = {circuit: b"" for circuit in circuits}
    while not stop.is_set():
        for key, _ in selector.select(0.1):
            circuit = key.data
            messages, buffers[circuit] = rawca.parse(buffers[circuit] + circuit.sock.recv(1 << 20))
            counts[circuit] += sum(m.command == Cmd.EVENT_ADD for m in messages)
    result.put(sum(counts.values()))


def bench_fanout(server: ServerProcess, clients: int = 20, pvs: int = 500, rate: int = 2000,
                 seconds: float = 5.0) -> Dict[str, float]:
    """``clients`` × ``pvs`` subscriptions while one client puts ``rate`` updates/s in all.

    Reports the % of expected events (puts × clients) received, and the server's CPU use in
    % of one core during the updates (plus a 2 s drain).
    """
    names = [server.pv(f"BULK:{i}") for i in range(pvs)]
    ctx = multiprocessing.get_context("fork")
    ready, stop, result = ctx.Event(), ctx.Event(), ctx.Queue()
    child = ctx.Process(target=_fanout_subscriber,
                        args=(server.port, names, clients, ready, stop, result))
    child.start()
    try:
        deadline = time.monotonic() + 120
        while not ready.wait(0.5):
            if not child.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the subscribers failed to connect and subscribe")
        with rawca.Circuit(server.port, timeout=30) as writer:
            chans = writer.create_channels(names)
            cpu0, wall0 = cpu_seconds(server.proc.pid), time.monotonic()
            batch, puts = rate // 100, 0
            while time.monotonic() - wall0 < seconds:
                writer.send(b"".join(
                    rawca.frame(Cmd.WRITE, rawca.encode_values(6, [puts + i]), 6, 1,
                                chans[(puts + i) % pvs].sid, 1) for i in range(batch)))
                puts += batch
                time.sleep(max(0.0, wall0 + puts / rate - time.monotonic()))
            writer.echo(timeout=30)
        time.sleep(2.0)  # drain window for in-flight events, part of the measurement
        cpu = 100.0 * (cpu_seconds(server.proc.pid) - cpu0) / (time.monotonic() - wall0)
        stop.set()
        received = result.get(timeout=30)
        return {"fan-out updates/s achieved": puts / seconds,
                "fan-out % delivered": 100.0 * received / (puts * clients),
                "fan-out server CPU % of a core": cpu}
    finally:
        stop.set()
        child.join(10)
        if child.is_alive():
            child.kill()


def bench_waveform(server: ServerProcess, reads: int = 10) -> Dict[str, float]:
    """``reads`` gets of the 1,000,000-element double waveform over one circuit (MB/s)."""
    with rawca.Circuit(server.port, timeout=60) as circuit:
        chan = circuit.create_channel(server.pv("WF1M"))
        circuit.read(chan, 6, 1_000_000)  # warm-up
        start = time.perf_counter()
        for _ in range(reads):
            message = circuit.read(chan, 6, 1_000_000)
            if message.count != 1_000_000 or len(message.payload) < 8_000_000:
                raise RuntimeError(f"short waveform reply {message!r}")
        elapsed = time.perf_counter() - start
    return {"1M waveform get MB/s": reads * 8.0 / elapsed}


# The flood runs last: a server still digesting its backlog would spoil what follows.
def bench_putcost(server: ServerProcess, puts: int = 100_000) -> Dict[str, float]:
    """Server CPU per put, independent of how fast the client sends: ``puts`` WRITEs in
    batches of 100, then a READ_NOTIFY on the same circuit; the server's utime+stime over
    that span divided by ``puts``. DOUBLE gets values 0..3 (no alarm change, no monitor);
    LONG gets increasing values while a second circuit watches it with DBR_TIME_LONG."""
    results = {}
    for pv, dbr, value, monitored in (("DOUBLE", 6, lambda i: float(i % 4), False),
                                      ("LONG", 5, lambda i: i, True)):
        with rawca.Circuit(server.port, timeout=60) as circuit, \
                rawca.Circuit(server.port, timeout=60) as watcher:
            chan = circuit.create_channel(server.pv(pv))
            if monitored:
                watcher.subscribe(watcher.create_channel(server.pv(pv)),
                                  rawca.DBE_VALUE | rawca.DBE_ALARM, 14 + dbr, 1)
            batches = [b"".join(rawca.frame(Cmd.WRITE, rawca.encode_values(dbr, [value(i + j)]),
                                            dbr, 1, chan.sid, 1) for j in range(100))
                       for i in range(0, puts, 100)]
            start = cpu_seconds(server.proc.pid)
            for batch in batches:
                circuit.send(batch)
            circuit.get(chan)
            used = cpu_seconds(server.proc.pid) - start
        label = "TIME monitor" if monitored else "no monitor"
        results[f"put cost {pv}, {label}: server CPU µs"] = 1e6 * used / puts
    return results


BENCHMARKS = {"catime": bench_catime, "pyepics": bench_pyepics_10k, "caget": bench_caget_10k,
              "fanout": bench_fanout, "waveform": bench_waveform, "flood": bench_flood,
              "putcost": bench_putcost}
TARGETS = {
    "catime connect µs/op": "≤ 60", "catime async get µs/op": "≤ 12",
    "catime async put µs/op": "≤ 12", "pyepics 10k × softIoc": "≤ 1.2",
    "caget 10k × softIoc": "≤ 1.5", "flood % delivered": "≥ 95", "flood queued get s": "≤ 0.1",
    "flood fresh get s": "≤ 1", "fan-out % delivered": "≥ 99",
    "fan-out server CPU % of a core": "≤ 40", "1M waveform × softIoc": "≥ 0.9",
}
RATIOS = {"1M waveform get MB/s": "1M waveform × softIoc",
          "pyepics 10k connect+read s": "pyepics 10k × softIoc",
          "caget 10k names s": "caget 10k × softIoc"}
"""Metrics also shown as a ratio to softIoc's figure of the same run."""


def run_all(kinds: List[str], only: List[str]) -> Dict[str, Dict[str, object]]:
    """{server kind: {metric: value or 'error'}}, errors printed to stderr as they happen."""
    results: Dict[str, Dict[str, object]] = {}
    for kind in kinds:
        results[kind] = {}
        server = ServerProcess(kind, bulk=BULK, startup_timeout=120)
        try:
            for name in only:
                print(f"[{kind}] {name} ...", file=sys.stderr, flush=True)
                try:
                    results[kind].update(BENCHMARKS[name](server))
                except Exception:
                    results[kind][f"{name} (error)"] = "error"
                    traceback.print_exc()
                if not server.alive():
                    print(f"[{kind}] server died: {server.output()[-1000:]}", file=sys.stderr)
                    server.stop()
                    server = ServerProcess(kind, bulk=BULK, startup_timeout=120)
        finally:
            server.stop()
    return results


def format_table(results: Dict[str, Dict[str, object]]) -> str:
    """A Markdown table: one row per metric, one column per server, plus the target."""
    kinds = list(results)
    metrics: List[str] = []
    for values in results.values():
        metrics += [m for m in values if m not in metrics]
    rows = ["| metric | " + " | ".join(kinds) + " | target (iocgate) |",
            "|---" * (len(kinds) + 2) + "|"]
    for metric in metrics:
        cells = [_cell(results[k].get(metric)) for k in kinds]
        rows.append(f"| {metric} | " + " | ".join(cells) + f" | {TARGETS.get(metric, '')} |")
    return "\n".join(rows)


def _cell(value: Optional[object]) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(("softioc", "caproto", "iocgate")),
                        help=f"comma-separated, from {KINDS}")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated, from {tuple(BENCHMARKS)}")
    args = parser.parse_args(argv)
    results = run_all(args.servers.split(","), args.only.split(","))
    for metric, ratio in RATIOS.items():
        reference = results.get("softioc", {}).get(metric)
        if not isinstance(reference, float):
            continue
        for values in results.values():
            if isinstance(values.get(metric), float):
                values[ratio] = values[metric] / reference
    print(format_table(results))


if __name__ == "__main__":
    with ca_repeater():  # no client may spawn a repeater that keeps our pipes open
        main()
