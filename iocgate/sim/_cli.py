"""Command-line runner of the standalone simulators (``python -m devices.<name>``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Callable, List, Optional

from ._control import Backdoor
from ._lines import LineSimulator


def serve_backdoor(simulator: LineSimulator, port: int = 0, host: str = "127.0.0.1"
                   ) -> LineSimulator:
    """Serve the :class:`~iocgate.sim.Backdoor` of ``simulator`` on ``host:port`` (TCP).

    Returns the started control server (``.port`` is the bound port; ``.stop()`` ends it).
    The control server has no faults of its own applied: it keeps answering while the
    instrument is frozen or cut.
    """
    control = LineSimulator(Backdoor(simulator).handle_line, name=f"{simulator.name}-control")
    control.start_tcp(port, host)
    return control


def run_standalone(description: str, make: Callable[[], LineSimulator],
                   argv: Optional[List[str]] = None, allow_pty: bool = False) -> int:
    """Parse ``--port N``, ``--control-port N`` (and ``--pty`` if allowed), serve until
    SIGINT/SIGTERM, return 0.

    Output lines, each flushed at once: for ``--pty`` the path of a symlink to the slave
    (it follows the fresh pseudo-terminal after ``CUT``, so a client can reopen it), then
    ``listening on 127.0.0.1:<port>`` for TCP, then ``control on 127.0.0.1:<port>`` for the
    backdoor (see :mod:`iocgate.sim._control` for its line protocol).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=None,
                        help="TCP port on 127.0.0.1 (0 = ephemeral)")
    parser.add_argument("--control-port", type=int, default=None, metavar="PORT",
                        help="serve the fault/state backdoor on this TCP port (0 = ephemeral)")
    if allow_pty:
        parser.add_argument("--pty", action="store_true",
                            help="serve a pseudo-terminal (prints a link path that survives CUT)")
    args = parser.parse_args(argv)
    want_pty = getattr(args, "pty", False)
    port = 0 if args.port is None and not want_pty else args.port
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with make() as sim:
        if want_pty:
            print(sim.start_pty_link(), flush=True)
        if port is not None:
            print(f"listening on 127.0.0.1:{sim.start_tcp(port)}", flush=True)
        control = None
        if args.control_port is not None:
            control = serve_backdoor(sim, args.control_port)
            print(f"control on 127.0.0.1:{control.port}", flush=True)
        while not stop.wait(3600):
            pass
        if control is not None:
            control.stop()
    sys.stdout.flush()
    return 0
