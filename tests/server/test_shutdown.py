"""Shutdown of the asyncio back-end when a hook swallows a cancellation.

On Python < 3.12 ``asyncio.wait_for`` returns the result instead of raising when it is
cancelled in the loop iteration its awaitable finishes in, so a caproto scan hook doing
device I/O with a timeout (``benchmarks/scan_bound_pvs.py --case caproto``, 1,000 such
hooks) now and then survives one ``cancel()`` and keeps scanning. The server must still end:
it cancels again until every task is gone, and a second cancellation of the server task
itself (``asyncio.run`` cancels every task on its way out) must not cut its shutdown short.

The IOC runs in a child process so that a hang fails the test instead of blocking pytest.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from caproto.server import PVGroup, pvproperty

from iocgate.server import _asyncio, start_server
from iocgate.testing import free_port, subprocess_env

IOC = """
import asyncio, sys
from caproto.server import PVGroup, pvproperty
from iocgate.server import start_server

started = asyncio.Event()

class Lab(PVGroup):
    value = pvproperty(value=0)

    @value.startup
    async def value(self, instance, async_lib):  # a scan loop, its one yield point guarded
        swallowed = False
        while True:
            started.set()
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:  # swallowed once, as wait_for may do
                if swallowed:
                    raise
                swallowed = True
                print("swallowed a cancellation", flush=True)

    @value.shutdown
    async def value(self, instance, async_lib):
        print("shutdown hook ran", flush=True)

async def main(mode):
    server = asyncio.ensure_future(start_server(Lab(prefix="S:").pvdb))
    await asyncio.wait_for(started.wait(), 10)
    server.cancel()
    if mode == "await":
        try:
            await server
        except asyncio.CancelledError:
            pass
    # "abandon": return at once, as the benchmark's child does; asyncio.run then cancels
    # every task again, the server task included, while it is shutting down

asyncio.run(main(sys.argv[1]))
print("exited", flush=True)
"""


@pytest.mark.parametrize("mode", ["await", "abandon"])
def test_shutdown_ends_when_a_hook_swallows_a_cancellation(mode):
    proc = subprocess.run([sys.executable, "-c", IOC, mode], env=subprocess_env(free_port()),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == ["swallowed a cancellation", "shutdown hook ran", "exited"], proc.stdout


def test_shutdown_goes_on_without_a_task_that_ignores_cancellation(monkeypatch, caplog, ca_env):
    """A hook that never ends is logged and left behind; the shutdown hooks still run."""
    monkeypatch.setattr(_asyncio, "SHUTDOWN_GRACE", 0.3)
    ran = []

    async def main() -> None:
        started, release = asyncio.Event(), asyncio.Event()

        class Stubborn(PVGroup):
            value = pvproperty(value=0)

            @value.startup
            async def value(self, instance, async_lib):
                started.set()
                while not release.is_set():
                    try:
                        await release.wait()
                    except asyncio.CancelledError:
                        pass

            @value.shutdown
            async def value(self, instance, async_lib):
                ran.append("shutdown hook")

        server = asyncio.ensure_future(start_server(Stubborn(prefix="T:").pvdb))
        await asyncio.wait_for(started.wait(), 10)
        server.cancel()
        asyncio.get_running_loop().call_later(8, release.set)  # else a failure would hang
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(server, 5)
        release.set()

    asyncio.run(main())
    assert ran == ["shutdown hook"]
    assert "ignore cancellation" in caplog.text


CURIO_SIGNAL = """
import signal
from iocgate.server._curio import run

async def hook(async_lib):
    signal.raise_signal(signal.SIGTERM)  # handled while this coroutine's frame runs

run({}, interfaces=["127.0.0.1"], startup_hook=hook)
print("returned")
"""


def test_curio_server_stops_on_a_signal_that_lands_in_a_coroutine():
    # curio's UniversalEvent.set() called from a lambda signal handler looked at the
    # interrupted (coroutine) frame and returned an unawaited coroutine: the IOC never ended
    result = subprocess.run([sys.executable, "-c", CURIO_SIGNAL], env=subprocess_env(free_port()),
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "returned", result.stderr
    assert "never awaited" not in result.stderr
