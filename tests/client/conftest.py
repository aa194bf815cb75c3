"""Session servers for the client tests: the EPICS C ``softIoc`` (records with real EGU, PREC,
alarm limits, enums, waveforms and an emulated motor) and a caproto IOC (``client_ioc.py``),
each on its own free loopback port. The test process searches both ports through
``EPICS_CA_ADDR_LIST``; pyepics runs in child processes with the same environment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Dict, Iterator

import pytest

from iocgate.client import Motor, aio, get_pv, reset_default_context
from iocgate.testing import epics_tool, free_port, loopback_env, subprocess_env

HERE = Path(__file__).parent


@dataclass
class Servers:
    """Where the session's IOCs are: ``p`` prefixes softIoc records, ``s`` the caproto IOC."""

    p: str
    s: str
    env: Dict[str, str]

    def child_env(self) -> Dict[str, str]:
        """Environment for a child CA client (pyepics, EPICS C tools) seeing both IOCs."""
        env = dict(os.environ)
        env.update(self.env)
        env.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
        return env


#: Room for the softIoc's 1e6-element DOUBLE waveform ``bigwave`` (8 MB) and its headers.
BIG_ARRAY_BYTES = 8_100_000
SOFTIOC_READY = "iocRun: All initialization complete"
CAPROTO_READY = "client_ioc ready"


def start_ioc(args: list, port: int, ready: str, log: Path,
              timeout: float = 30.0) -> subprocess.Popen:
    """Start an IOC on ``port`` and return once it printed ``ready`` (it is then listening, so
    the first search finds it instead of backing off); its output goes on into ``log``.

    Raises:
        RuntimeError: ``ready`` did not appear within ``timeout`` seconds (process killed).
    """
    env = subprocess_env(port)
    env["EPICS_CA_MAX_ARRAY_BYTES"] = str(BIG_ARRAY_BYTES)  # the 1e6-element waveform
    proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = threading.Event()

    def pump() -> None:
        with open(log, "w") as out:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                if ready in line:
                    seen.set()

    threading.Thread(target=pump, daemon=True).start()
    if not seen.wait(timeout):
        proc.kill()
        proc.wait(timeout=10)
        raise RuntimeError(f"{args[0]} not ready within {timeout} s; see {log}")
    return proc


def stop_ioc(proc: subprocess.Popen) -> None:
    """Terminate an IOC started by :func:`start_ioc` (kill if it does not exit in 10 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    logs = tmp_path_factory.mktemp("ioc-logs")
    tag = uuid.uuid4().hex[:6]
    p, s = f"ICT{tag}:", f"ICS{tag}:"
    ioc_port = free_port()
    caproto_port = free_port()
    while caproto_port == ioc_port:
        caproto_port = free_port()
    softioc = start_ioc([str(epics_tool("softIoc")), "-S", "-m", f"P={p}",
                         "-a", str(HERE / "client_test.acf"), "-d", str(HERE / "client_test.db")],
                        ioc_port, SOFTIOC_READY, logs / "softioc.log")
    caproto_ioc = start_ioc([sys.executable, str(HERE / "client_ioc.py"), s], caproto_port,
                            CAPROTO_READY, logs / "caproto.log")
    env = loopback_env(ioc_port)
    env["EPICS_CA_ADDR_LIST"] = f"127.0.0.1:{ioc_port} 127.0.0.1:{caproto_port}"
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            reset_default_context()  # the shared client context now searches both IOCs
            for name in (p + "ao", s + "setpoint"):
                get_pv(name).wait_for_connection(timeout=30)
        yield Servers(p, s, env)
    finally:
        reset_default_context()
        stop_ioc(softioc)
        stop_ioc(caproto_ioc)


@pytest.fixture(autouse=True)
def client_env(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> Dict[str, str]:
    """Every client test sees both session IOCs (os.environ is restored after each test, so
    tests elsewhere in the suite keep the plugin's loopback defaults)."""
    for key, value in servers.env.items():
        monkeypatch.setenv(key, value)
    return servers.env


@pytest.fixture(autouse=True, scope="module")
def fresh_client_per_module() -> Iterator[None]:
    """Drop the shared client context and caches after each module, so no monitor or channel
    outlives this directory's tests."""
    yield
    reset_default_context()


@pytest.fixture
def motor(servers: Servers) -> Motor:
    """The emulated motor of client_test.db (``m1``), at 0 with its limits ±10."""
    m1 = Motor(servers.p + "m1", delim=":", timeout=10)
    m1.move(0.0, wait=True, timeout=20, ignore_limits=True)
    return m1


def arun(coro: Awaitable[Any]) -> Any:
    """Run ``coro`` on a fresh event loop, closing that loop's shared async context after."""
    async def main() -> Any:
        try:
            return await coro
        finally:
            await aio.reset_default_context()
    return asyncio.run(main())
