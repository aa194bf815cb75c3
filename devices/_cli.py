"""Shared command-line runner for the standalone simulators (``python -m devices.<name>``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Callable, List, Optional

from devices.simserver import LineSimulator


def run_standalone(description: str, make: Callable[[], LineSimulator],
                   argv: Optional[List[str]] = None, allow_pty: bool = False) -> int:
    """Parse ``--port N`` (and ``--pty`` if allowed), serve until SIGINT/SIGTERM, return 0.

    The first output line, flushed at once, is ``listening on 127.0.0.1:<port>`` for TCP or
    the slave path for ``--pty`` (then a second line ``listening on ...`` if both are asked).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=None,
                        help="TCP port on 127.0.0.1 (0 = ephemeral)")
    if allow_pty:
        parser.add_argument("--pty", action="store_true", help="serve a pseudo-terminal")
    args = parser.parse_args(argv)
    want_pty = getattr(args, "pty", False)
    port = 0 if args.port is None and not want_pty else args.port
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with make() as sim:
        if want_pty:
            print(sim.start_pty(), flush=True)
        if port is not None:
            print(f"listening on 127.0.0.1:{sim.start_tcp(port)}", flush=True)
        while not stop.wait(3600):
            pass
    sys.stdout.flush()
    return 0
