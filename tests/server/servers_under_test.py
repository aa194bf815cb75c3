"""Start the CA servers under test as subprocesses on loopback; shared by tests and benchmarks.

Three kinds: ``iocgate`` (``iocgate.server.run``; ``iocgate-trio`` and ``iocgate-curio`` run it
on those libraries), ``caproto`` (``caproto.server.run``) and
``softioc`` (the C reference server loading ``ioc_under_test.db``). All serve the PVs of
``ioc_under_test.py`` under the same prefix.
"""

from __future__ import annotations

import functools
import importlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional

import rawca

from iocgate.testing import epics_tool, free_port, subprocess_env

HERE = Path(__file__).resolve().parent
KINDS = ("iocgate", "caproto", "softioc")
#: iocgate's server on its other async libraries; tests that take "iocgate" run on these too
IOCGATE_VARIANTS = ("iocgate-trio", "iocgate-curio")
PREFIX = "X:"
MAX_ARRAY_BYTES = str(20_000_000)


def iocgate_missing() -> Optional[str]:
    """Why ``iocgate.server.run`` cannot be used yet, or ``None`` if it can."""
    try:
        module = importlib.import_module("iocgate.server")
    except Exception as exc:  # a half-written module must not break collection
        return f"iocgate.server does not import: {exc!r}"
    if not hasattr(module, "run"):
        return "iocgate.server has no run() yet"
    return None


def ca_env(port: int) -> Dict[str, str]:
    """Environment for a server or client child process using ``port``."""
    return subprocess_env(port, EPICS_CA_MAX_ARRAY_BYTES=MAX_ARRAY_BYTES)


def bulk_db(count: int, prefix: str = PREFIX) -> Path:
    """A temporary ``.db`` file with ``count`` ai records ``{prefix}BULK:n`` for softIoc."""
    handle, name = tempfile.mkstemp(prefix="iocgate-bulk-", suffix=".db")
    with os.fdopen(handle, "w") as out:
        for i in range(count):
            out.write(f'record(ai, "{prefix}BULK:{i}") {{ field(VAL, "{i}") }}\n')
    return Path(name)


class ServerProcess:
    """A CA server child process on 127.0.0.1.

    Args:
        kind: one of :data:`KINDS`.
        port: CA server port; a free one if ``None``.
        bulk: number of extra ``BULK:n`` double PVs.
        startup_timeout: seconds to wait for the server to answer a search.
        nofile: the server's descriptor limit (RLIMIT_NOFILE), or None to inherit ours.

    Raises:
        RuntimeError: the server exited or did not answer within ``startup_timeout``.
    """

    def __init__(self, kind: str, port: Optional[int] = None, *, bulk: int = 0,
                 startup_timeout: float = 30.0, nofile: Optional[int] = None):
        self.kind = kind
        self.port = port or free_port()
        self.prefix = PREFIX
        self.env = ca_env(self.port)
        self._tmp: Optional[Path] = None
        if kind == "softioc":
            command = [str(epics_tool("softIoc")), "-S", "-m", f"P={PREFIX}",
                       "-d", str(HERE / "ioc_under_test.db")]
            if bulk:
                self._tmp = bulk_db(bulk)
                command += ["-d", str(self._tmp)]
        else:
            server, _, async_lib = kind.partition("-")
            command = [sys.executable, str(HERE / "ioc_under_test.py"), "--server", server,
                       "--async-lib", async_lib or "asyncio", "--prefix", PREFIX,
                       "--bulk", str(bulk)]
        # A file, not a pipe: a server that logs a lot must never block on a full pipe.
        self.log = tempfile.TemporaryFile()
        limit = None if nofile is None else functools.partial(
            resource.setrlimit, resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen(command, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=limit)
        try:
            self.wait_ready(startup_timeout)
        except BaseException:
            self.stop()
            raise

    def __repr__(self) -> str:
        return f"<{self.kind} server pid {self.proc.pid} on port {self.port}>"

    def pv(self, suffix: str) -> str:
        return self.prefix + suffix

    def output(self) -> str:
        """Everything the server printed so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def answers(self, timeout: float = 2.0) -> bool:
        """Whether the server is running and answers a UDP search for ``DOUBLE``."""
        if not self.alive():
            return False
        replies = rawca.search(self.port, [self.pv("DOUBLE")], timeout=timeout, settle=0)
        return 1 in replies

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.kind} server exited ({self.proc.returncode}): "
                                   f"{self.output()[-2000:]}")
            if self.answers(timeout=0.5):
                return
        raise RuntimeError(f"{self.kind} server did not answer within {timeout} s")

    def stop(self, timeout: float = 5.0) -> Optional[int]:
        """SIGTERM (SIGKILL after ``timeout`` s); returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.log.close()
        if self._tmp:
            self._tmp.unlink(missing_ok=True)
        return self.proc.returncode
