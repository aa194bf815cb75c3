"""Several servers on one host, with the README's loopback settings: the searches a client
sends to 127.0.0.1 reach one of them only, which relays them to the others (a C softIoc
included), so every PV of the host is found."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from iocgate.testing import epics_tool, free_port, start_repeater, subprocess_env

IOC = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout)
from caproto.server import PVGroup, pvproperty
from iocgate.server import run

class Box(PVGroup):
    V = pvproperty(value=float(len(sys.argv[1])), precision=1)

run(Box(prefix=sys.argv[1]).pvdb, async_lib=sys.argv[2])
"""
NAMES = ["A:V", "BB:V", "C:V"]  # A: iocgate on asyncio, BB: iocgate on curio, C: softIoc


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.05)


def _caget(env) -> subprocess.CompletedProcess:
    return subprocess.run([str(epics_tool("caget")), "-w", "1", "-t", *NAMES], env=env,
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def host():
    """Two iocgate IOCs and a softIoc sharing one UDP port, with a repeater; yields the
    client environment and the iocgate IOCs' log files."""
    repeater = start_repeater()
    port = free_port()
    env = subprocess_env(port, EPICS_CA_REPEATER_PORT=str(repeater.port),
                         EPICS_CAS_BEACON_PORT=str(repeater.port))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "c.db"
        db.write_text('record(ai, "C:V") { field(VAL, "3") field(PREC, "1") }\n')
        logs = [Path(tmp) / f"{prefix}.log" for prefix in ("A", "BB")]
        procs = []
        try:
            for log, prefix, lib in zip(logs, ("A:", "BB:"), ("asyncio", "curio")):
                with open(log, "w") as out:
                    procs.append(subprocess.Popen([sys.executable, "-c", IOC, prefix, lib],
                                                  env=env, stdout=out, stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL))
            for log in logs:
                _wait_for(lambda log=log: "TCP port" in log.read_text(), 30, f"start of {log}")
            procs.append(subprocess.Popen([str(epics_tool("softIoc")), "-S", "-d", str(db)],
                                          env=env, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            yield env, logs
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            repeater.stop()


def test_every_ioc_of_the_host_is_found(host):
    env, logs = host
    _wait_for(lambda: _caget(env).returncode == 0, 30, "caget finding all three IOCs")
    for _ in range(5):  # each caget searches from a new port: all must find all
        done = _caget(env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert [float(v) for v in done.stdout.split()] == [2.0, 3.0, 3.0]
    ports = [int(re.search(r"on 127.0.0.1 TCP port (\d+)", log.read_text()).group(1))
             for log in logs]
    assert len(set(ports)) == 2
    assert "was unavailable" in logs[0].read_text() + logs[1].read_text()
