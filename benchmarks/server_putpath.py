#!/usr/bin/env python
"""What bounds iocgate's put rate: the sans-I/O circuit fed with a put flood, profiled.

No sockets and no event loop: 100,000 one-element DBR_LONG WRITEs (as the ``flood`` benchmark
of ``server_compare.py`` sends) go through :class:`iocgate.server.Circuit` in batches of 100
while a second circuit holds a DBR_TIME_LONG subscription (as ``camonitor`` does). Prints
puts per second of server CPU, then the functions where that time goes (cProfile, by own
time)::

    python benchmarks/server_putpath.py
"""

from __future__ import annotations

import cProfile
import io
import pstats
import struct
import time

from caproto import ChannelInteger

from iocgate.server import Circuit, ServerCore

H = struct.Struct(">HHHHII")
PUTS = 100_000
BATCH = 100


def _setup():
    core = ServerCore({"LONG": ChannelInteger(value=0)})
    writer, monitor = Circuit(core, ("127.0.0.1", 1)), Circuit(core, ("127.0.0.1", 2))
    create = H.pack(18, 8, 0, 0, 1, 13) + b"LONG\0\0\0\0"
    sid = H.unpack_from(b"".join(writer.receive(create)), 16)[5]
    msid = H.unpack_from(b"".join(monitor.receive(create)), 16)[5]
    monitor.receive(H.pack(1, 16, 19, 1, msid, 1) + struct.pack(">fffHxx", 0, 0, 0, 5))
    batches = [b"".join(H.pack(4, 8, 5, 1, sid, 1) + struct.pack(">i4x", start + i)
                        for i in range(1, BATCH + 1)) for start in range(0, PUTS, BATCH)]
    return writer, monitor, batches


def _run(writer, monitor, batches) -> None:
    for batch in batches:
        writer.receive(batch)
        monitor.take_output()


def main() -> None:
    writer, monitor, batches = _setup()
    started = time.process_time()
    _run(writer, monitor, batches)
    elapsed = time.process_time() - started
    print(f"{PUTS / elapsed:,.0f} puts/s of CPU ({elapsed * 1e6 / PUTS:.2f} µs per put), "
          f"one DBR_TIME_LONG subscriber")
    profiler = cProfile.Profile()
    writer, monitor, batches = _setup()
    profiler.runcall(_run, writer, monitor, batches)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(14)
    print(out.getvalue())


if __name__ == "__main__":
    main()
