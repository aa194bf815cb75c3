"""Round-trip latency and throughput of the device simulators on loopback.

Run from the repository root::

    python benchmarks/bench_devices.py [--queries N] [--clients K]

Measures, each with real clients: sequential ``MEAS:VOLT?`` queries to the power supply over one
TCP socket; the same from K concurrent sockets; ``KRDG? A`` queries to the temperature
controller over a pseudo-terminal with pyserial; ``*IDN?`` through pyvisa's ``@py`` backend.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time
from typing import Callable, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devices.power_supply import PowerSupplySimulator  # noqa: E402
from devices.temperature_controller import TemperatureControllerSimulator  # noqa: E402


def socket_query(port: int, command: bytes) -> Callable[[], bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = sock.makefile("rb")

    def query() -> bytes:
        sock.sendall(command)
        return reader.readline()

    return query


def timed(query: Callable[[], object], count: int) -> List[float]:
    """Latencies in seconds of ``count`` calls."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        query()
        samples.append(time.perf_counter() - start)
    return samples


def report(name: str, samples: List[float], wall: float) -> None:
    ordered = sorted(samples)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    median = statistics.median(samples)
    print(f"{name:44s} {len(samples) / wall:9.0f} q/s  median {median * 1e6:7.0f} us"
          f"  p99 {p99 * 1e6:7.0f} us  (n={len(samples)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    n = args.queries

    with PowerSupplySimulator() as psu:
        port = psu.start()
        query = socket_query(port, b"MEAS:VOLT?\n")
        timed(query, 100)  # warm-up
        start = time.perf_counter()
        samples = timed(query, n)
        report("PSU TCP, 1 client, MEAS:VOLT?", samples, time.perf_counter() - start)

        per_client = n // args.clients
        results: List[List[float]] = [[] for _ in range(args.clients)]
        queries = [socket_query(port, b"MEAS:VOLT?\n") for _ in range(args.clients)]
        threads = [threading.Thread(target=lambda i=i: results[i].extend(
            timed(queries[i], per_client))) for i in range(args.clients)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        report(f"PSU TCP, {args.clients} concurrent clients, total", sum(results, []),
               time.perf_counter() - start)

        import pyvisa

        rm = pyvisa.ResourceManager("@py")
        inst = rm.open_resource(f"TCPIP::127.0.0.1::{port}::SOCKET", read_termination="\n",
                                write_termination="\n", timeout=5000)
        start = time.perf_counter()
        samples = timed(lambda: inst.query("*IDN?"), n // 3)
        report("PSU pyvisa @py SOCKET, *IDN?", samples, time.perf_counter() - start)
        inst.close()
        rm.close()

    import serial

    with TemperatureControllerSimulator() as tc:
        path = tc.start_pty()
        with serial.Serial(path, timeout=5) as port_:
            def krdg() -> bytes:
                port_.write(b"KRDG? A\r\n")
                return port_.read_until(b"\r\n")

            timed(krdg, 100)
            start = time.perf_counter()
            samples = timed(krdg, n)
            report("LS336 pty + pyserial, KRDG? A", samples, time.perf_counter() - start)


if __name__ == "__main__":
    main()
