"""iocgate's server on each back-end (asyncio, trio, curio) with the real EPICS C tools.

A small IOC runs as a child process per back-end; the checks are done with ``caget``,
``caput`` and ``camonitor`` binaries, and the IOC must exit 0 on SIGTERM after running
its shutdown hook.
"""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from iocgate.testing import epics_tool, free_port, subprocess_env

IOC = """
import sys
from caproto.server import PVGroup, pvproperty
from iocgate.server import run

class Lab(PVGroup):
    volts = pvproperty(value=1.5, units="V", precision=2)
    count = pvproperty(value=0)
    doubled = pvproperty(value=0.0)
    big = pvproperty(value=[float(i) for i in range(100_000)], max_length=100_000)

    @doubled.putter
    async def doubled(self, instance, value):
        await self.async_lib.sleep(0.01)
        return value * 2

    @doubled.startup
    async def doubled(self, instance, async_lib):
        self.async_lib = async_lib
        await self.count.write(1)

    @doubled.shutdown
    async def doubled(self, instance, async_lib):
        print("shutdown hook ran", flush=True)

run(Lab(prefix="B:").pvdb, async_lib=sys.argv[1])
"""


def tool(name: str, *args: str, env, timeout: float = 10.0) -> str:
    done = subprocess.run([str(epics_tool(name)), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


@pytest.fixture
def beacons():
    """A UDP socket on a free loopback port, to be used as the beacon port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        yield sock


@pytest.fixture(params=["asyncio", "trio", "curio"])
def ioc(request, beacons):
    port = free_port()
    env = subprocess_env(port, EPICS_CA_CONN_TMO="1",
                         EPICS_CAS_BEACON_PORT=str(beacons.getsockname()[1]))
    proc = subprocess.Popen([sys.executable, "-c", IOC, request.param], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        probe = subprocess.run([str(epics_tool("caget")), "-w", "0.5", "B:count"], env=env,
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.split()[-1] == "1":
            break
        assert proc.poll() is None, proc.communicate()[0]
    else:
        proc.kill()
        pytest.fail(f"{request.param} IOC did not come up: {proc.communicate()[0]}")
    yield proc, env
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_get_put_monitor_and_clean_exit(ioc):
    proc, env = ioc
    assert tool("caget", "-t", "B:volts", env=env).strip() == "1.5"
    assert "Units:            V" in tool("caget", "-d", "DBR_CTRL_DOUBLE", "B:volts", env=env)
    monitor = subprocess.Popen([str(epics_tool("camonitor")), "-t", "n", "B:volts"], env=env,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert monitor.stdout.readline().split()[-1] == "1.5"
        tool("caput", "B:volts", "4.25", env=env)
        assert monitor.stdout.readline().split()[-1] == "4.25"
    finally:
        monitor.kill()
        monitor.communicate()
    # 800 kB, with no EPICS_CA_MAX_ARRAY_BYTES anywhere: served, as by softIoc (EPICS 7's
    # EPICS_CA_AUTO_ARRAY_BYTES=YES default)
    assert tool("caget", "B:big", env=env).split()[:4] == ["B:big", "100000", "0", "1"]
    tool("caput", "-c", "-w", "5", "B:doubled", "3", env=env)  # putter runs in a task
    assert tool("caget", "-t", "B:doubled", env=env).strip() == "6"
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, output
    assert "shutdown hook ran" in output


def test_beacons_announce_the_server_port(ioc, beacons):
    _, env = ioc
    data, _ = beacons.recvfrom(1024)
    command, _, version, port, _, address = struct.unpack(">HHHHII", data[:16])
    assert (command, version, port) == (13, 13, int(env["EPICS_CAS_SERVER_PORT"]))
    assert address == 0x7F000001
