"""Round-trip cost of the node layer against a bare socket, on one simulated TCP device.

Usage::

    python benchmarks/nodes_roundtrip.py [--n 2000]

Both loops query the same :class:`iocgate.sim.LineSimulator` (``ECHO <i>`` -> ``<i>``)
over loopback, one query at a time, and print queries/s, median and p99 round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iocgate.nodes import ControlSystem  # noqa: E402
from iocgate.sim import LineSimulator  # noqa: E402


def echo(line: str) -> str:
    return line[5:]


def measure(name: str, n: int, one: Callable[[int], str]) -> None:
    one(-1)  # connect / warm up
    times: List[float] = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        reply = one(i)
        times.append(time.perf_counter() - t0)
        if reply != str(i):
            raise RuntimeError(f"{name}: expected {i}, got {reply!r}")
    total = time.perf_counter() - start
    times.sort()
    print(f"{name:<28} {n / total:8.0f} q/s   median {statistics.median(times) * 1e6:7.0f} us"
          f"   p99 {times[int(0.99 * (n - 1))] * 1e6:7.0f} us")


def bare_socket(port: int) -> Callable[[int], str]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""

    def one(i: int) -> str:
        nonlocal buffer
        sock.sendall(f"ECHO {i}\n".encode())
        while b"\n" not in buffer:
            buffer += sock.recv(65536)
        line, buffer = buffer.split(b"\n", 1)
        return line.decode()

    return one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="queries per loop")
    n = parser.parse_args().n
    with LineSimulator(echo, name="bench") as sim:
        port = sim.start_tcp()
        ctrl = ControlSystem()
        lines = ctrl.tcp("127.0.0.1", port).lines()
        measure("bare socket", n, bare_socket(port))
        measure("node.get() (sync)", n, lambda i: lines.command(get=f"ECHO {i}").get())
        node = lines.command(get="ECHO 0")

        def via_asyncio(i: int) -> str:
            node.get_text = f"ECHO {i}"
            return loop.run_until_complete(node.aget())

        loop = asyncio.new_event_loop()
        measure("await node.aget() (asyncio)", n, via_asyncio)
        loop.close()
        ctrl.close()


if __name__ == "__main__":
    main()
