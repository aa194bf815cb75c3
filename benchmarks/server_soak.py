#!/usr/bin/env python
"""Soak CA servers with hostile traffic and report memory, descriptors and crashes.

Every server kind runs the IOC of ``tests/server/ioc_under_test.py`` (softIoc:
``ioc_under_test.db``) with a descriptor limit of 256, and goes through the same rounds of
abuse. Each round:

* ``names``: 100,000 UDP searches (50 per datagram), half of them made-up channel-filter
  names of a served PV, half unknown names asking for a reply;
* ``churn``: 2,000 clients that connect, create a channel, put a string, read, and leave;
* ``puts``: 20,000 string puts on one circuit to a PV whose put runs a putter task
  (``REJECT``; ``DOUBLE`` on softIoc, which has no putters);
* ``fuzz``: 300 clients sending 4 kB of random bytes after a valid handshake;
* ``huge``: 3 clients announcing 2 GiB payloads, then sending 1 MB each;
* ``fds``: 300 idle clients (more than the limit), then a fresh client must be served.

After each round the script prints the server's RSS (``/proc/<pid>/status``) and open
descriptors (``/proc/<pid>/fd``), whether it is alive and serving. A server that died counts
a crash and is restarted::

    python benchmarks/server_soak.py                         # all kinds, 2 rounds
    python benchmarks/server_soak.py --servers iocgate-trio --rounds 3
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "server"))

import rawca  # noqa: E402
from rawca import HEADER, Cmd  # noqa: E402
from servers_under_test import ServerProcess  # noqa: E402

from iocgate.testing import ca_repeater  # noqa: E402

KINDS = ("softioc", "iocgate", "iocgate-trio", "iocgate-curio")
NOFILE = 256


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def serves(server: ServerProcess, timeout: float = 10.0) -> bool:
    """Whether a fresh client gets a correct read within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with rawca.Circuit(server.port, timeout=2.0) as circuit:
                _, values = circuit.get(circuit.create_channel(server.pv("WF10")))
                return list(values) == [float(i) for i in range(10)]
        except (OSError, LookupError, AssertionError):
            time.sleep(0.2)
    return False


# -- abuse phases ------------------------------------------------------------------------------
def names(server: ServerProcess, total: int = 100_000, per_datagram: int = 50) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((rawca.LOOPBACK, 0))
        sock.setblocking(False)
        base = random.randrange(1 << 30)
        for start in range(0, total, per_datagram):
            batch = []
            for i in range(start, start + per_datagram):
                if i % 2:
                    batch.append(server.pv(f'WF10.{{"arr":{{"s":0,"e":{base + i}}}}}'))
                else:
                    batch.append(f"NOPE:{base + i}")
            try:
                sock.sendto(rawca.search_frame(batch, reply=rawca.DO_REPLY),
                            (rawca.LOOPBACK, server.port))
            except BlockingIOError:
                time.sleep(0.001)
            while True:  # drain replies so our socket buffer never blocks the server
                try:
                    sock.recv(65536)
                except BlockingIOError:
                    break
            if start % 5000 == 0:
                time.sleep(0.002)


def churn(server: ServerProcess, clients: int = 2000) -> None:
    for i in range(clients):
        with rawca.Circuit(server.port, timeout=10.0) as circuit:
            chan = circuit.create_channel(server.pv("DOUBLE"))
            circuit.send(rawca.frame(Cmd.WRITE, rawca.encode_values(0, [f"{i % 4}.5"]), 0, 1,
                                     chan.sid, 1))
            circuit.get(chan)


def puts(server: ServerProcess, count: int = 20_000) -> None:
    pv = "DOUBLE" if server.kind == "softioc" else "REJECT"
    with rawca.Circuit(server.port, timeout=120.0) as circuit:
        chan = circuit.create_channel(server.pv(pv))
        for start in range(0, count, 100):
            circuit.send(b"".join(
                rawca.frame(Cmd.WRITE, rawca.encode_values(0, [f"{(start + i) % 4}.25"]), 0, 1,
                            chan.sid, 1) for i in range(100)))
        circuit.get(chan)


def fuzz(server: ServerProcess, clients: int = 300) -> None:
    rng = random.Random(7)
    for _ in range(clients):
        try:
            with rawca.Circuit(server.port, timeout=2.0) as circuit:
                circuit.send(bytes(rng.getrandbits(8) for _ in range(4096)))
                circuit.quiet(0.01)
        except OSError:
            pass


def huge(server: ServerProcess, clients: int = 3) -> None:
    socks = []
    try:
        for _ in range(clients):
            sock = socket.create_connection((rawca.LOOPBACK, server.port), timeout=5)
            socks.append(sock)
            try:
                sock.sendall(HEADER.pack(Cmd.WRITE, 0xFFFF, 6, 0, 1, 1)
                             + (2 ** 31).to_bytes(4, "big") + (1).to_bytes(4, "big"))
                for _ in range(16):
                    sock.sendall(bytes(65536))
            except OSError:
                pass  # closed by the server: the right answer
    finally:
        for sock in socks:
            sock.close()


def fds(server: ServerProcess, clients: int = NOFILE + 44) -> None:
    idle = []
    try:
        for _ in range(clients):
            try:
                idle.append(socket.create_connection((rawca.LOOPBACK, server.port), timeout=2))
            except OSError:
                break
    finally:
        for sock in idle:
            sock.close()


PHASES: Dict[str, Callable[[ServerProcess], None]] = {
    "names": names, "churn": churn, "puts": puts, "fuzz": fuzz, "huge": huge, "fds": fds}


def soak(kind: str, rounds: int) -> Dict[str, object]:
    server = ServerProcess(kind, nofile=NOFILE, startup_timeout=60)
    crashes, failures = 0, []
    row: Dict[str, object] = {"RSS start MiB": rss_mib(server.proc.pid),
                              "fds start": open_fds(server.proc.pid)}
    try:
        for round_ in range(1, rounds + 1):
            started = time.monotonic()
            for name, phase in PHASES.items():
                try:
                    phase(server)
                except Exception as exc:  # a phase that fails is reported, not fatal
                    failures.append(f"round {round_} {name}: {exc!r}")
                if not server.alive():
                    crashes += 1
                    failures.append(f"round {round_} {name}: died "
                                    f"{server.output()[-300:]!r}")
                    server.stop()
                    server = ServerProcess(kind, nofile=NOFILE, startup_timeout=60)
            ok = serves(server)
            row[f"round {round_} RSS MiB"] = rss_mib(server.proc.pid)
            row[f"round {round_} fds"] = open_fds(server.proc.pid)
            row[f"round {round_} serving"] = "yes" if ok else "NO"
            row[f"round {round_} s"] = time.monotonic() - started
            print(f"[{kind}] round {round_}: {row}", file=sys.stderr, flush=True)
        row["crashes"] = crashes
    finally:
        server.stop()
    for failure in failures:
        print(f"[{kind}] {failure}", file=sys.stderr)
    return row


def format_table(results: Dict[str, Dict[str, object]]) -> str:
    kinds = list(results)
    metrics: List[str] = []
    for values in results.values():
        metrics += [m for m in values if m not in metrics]
    rows = ["| metric | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
    for metric in metrics:
        rows.append(f"| {metric} | " + " | ".join(_cell(results[k].get(metric))
                                                  for k in kinds) + " |")
    return "\n".join(rows)


def _cell(value: Optional[object]) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(KINDS),
                        help=f"comma-separated, from {KINDS} (and caproto)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    results = {kind: soak(kind, args.rounds) for kind in args.servers.split(",")}
    print(format_table(results))


if __name__ == "__main__":
    with ca_repeater():  # no client may spawn a repeater that keeps our pipes open
        main()
