"""The instrument lock, the put log and ACF reloads (ACF_RELOAD and SIGHUP) on one IOC process,
with raw CA clients that name their own host and user, the C tools and pyepics."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Callable, List

import pytest

from iocgate.testing import LOOPBACK
from tests.ioc._cli_process import IocProcess

from .test_acf_server import connect_as

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "server"))
import rawca  # noqa: E402

ACF = """
ASG(DEFAULT) {RULE(1, WRITE)}
ASG(RO) {RULE(1, READ)}
"""
NOWTACCESS = 376
WAIT = 10.0
"""Seconds any awaited update may take (the machine is shared)."""


@pytest.fixture(scope="module")
def ioc(tmp_path_factory) -> IocProcess:
    work = tmp_path_factory.mktemp("safety")
    (work / "lab.acf").write_text(ACF)
    process = IocProcess("tests.safety.safety_ioc", "SAFE:SETPOINT", work,
                         ["-q", "--interfaces", LOOPBACK, "--acf", str(work / "lab.acf"),
                          "--put-log", str(work / "puts.log")])
    process.work = work  # type: ignore[attr-defined]
    process.start()
    yield process
    process.stop()


def put_status(circuit: rawca.Circuit, chan: rawca.Channel, value: float) -> int:
    reply = circuit.write(chan, [value])
    return reply.p1 if reply.command == rawca.Cmd.WRITE_NOTIFY else reply.p2


def rights_update(circuit: rawca.Circuit, chan: rawca.Channel) -> int:
    message = circuit.expect(rawca.Cmd.ACCESS_RIGHTS, timeout=WAIT)
    assert message.p1 == chan.cid, message
    return message.p2


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {WAIT} s"
        time.sleep(0.05)


def test_lock_refuses_other_clients_until_released(ioc):
    with connect_as(ioc.port, "ctl-host", "alice") as alice, \
            connect_as(ioc.port, "desk", "bob") as bob:
        a_lock, a_set = alice.create_channels(["SAFE:LOCK", "SAFE:SETPOINT"])
        b_set, = bob.create_channels(["SAFE:SETPOINT"])
        assert b_set.access == 3
        assert put_status(alice, a_lock, 30.0) == rawca.ECA_NORMAL
        assert rights_update(bob, b_set) == 1  # bob is told at once
        assert ioc.caget("SAFE:LOCK_OWNER") == "alice@ctl-host"
        assert ioc.caget("SAFE:LOCK_EXPIRES").endswith("Z")
        assert put_status(bob, b_set, 2.0) == NOWTACCESS
        assert "Write access denied" in ioc.caput("SAFE:SETPOINT", "3").stderr
        assert ioc.pyepics("pv = epics.PV('SAFE:SETPOINT'); pv.wait_for_connection(10)\n"
                           "print(json.dumps(pv.write_access))") is False
        assert put_status(alice, a_set, 1.5) == rawca.ECA_NORMAL
        assert put_status(alice, a_lock, 0.0) == rawca.ECA_NORMAL  # release
        assert rights_update(bob, b_set) == 3
        assert ioc.caget("SAFE:LOCK_OWNER") == ""
        assert put_status(bob, b_set, 2.0) == rawca.ECA_NORMAL


def test_lock_lease_expires_unless_renewed(ioc):
    with connect_as(ioc.port, "ctl-host", "alice") as alice, \
            connect_as(ioc.port, "desk", "bob") as bob:
        a_lock, = alice.create_channels(["SAFE:LOCK"])
        b_lock, = bob.create_channels(["SAFE:LOCK"])
        assert put_status(alice, a_lock, 0.5) == rawca.ECA_NORMAL
        assert rights_update(bob, b_lock) == 1
        assert put_status(bob, b_lock, 5.0) == NOWTACCESS  # cannot take it over
        taken = time.monotonic()
        assert rights_update(bob, b_lock) == 3  # expired
        assert time.monotonic() - taken >= 0.3
        assert put_status(bob, b_lock, 0.0) == rawca.ECA_NORMAL


def _logged(ioc) -> List[dict]:
    path = ioc.work / "puts.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_put_log_records_accepted_and_refused_puts(ioc):
    assert ioc.caput("SAFE:OTHER", "4.25").returncode == 0
    with connect_as(ioc.port, "desk", "mallory") as circuit:
        note, = circuit.create_channels(["SAFE:NOTE"])
        assert put_status(circuit, note, 7.0) == NOWTACCESS
    wait_for(lambda: any(e["user"] == "mallory" for e in _logged(ioc)), "logged put")
    entries = _logged(ioc)
    accepted = [e for e in entries if e["pv"] == "SAFE:OTHER" and e["new"] == 4.25][-1]
    assert accepted["result"] == "OK" and accepted["time"].endswith("+00:00")
    refused = [e for e in entries if e["user"] == "mallory"][-1]
    assert refused == {**refused, "host": "desk", "pv": "SAFE:NOTE", "old": 0.0, "new": [7.0],
                       "result": "ECA_NOWTACCESS"}


def test_reload_updates_open_channels_and_a_bad_file_keeps_the_rules(ioc):
    acf = ioc.work / "lab.acf"
    with connect_as(ioc.port, "desk", "carol") as circuit:
        note, reload_ = circuit.create_channels(["SAFE:NOTE", "SAFE:ACF_RELOAD"])
        assert note.access == 1
        try:
            acf.write_text(ACF.replace("ASG(RO) {RULE(1, READ)}", "ASG(RO) {RULE(1, WRITE)}"))
            circuit.write(reload_, [1], notify=False)  # the update may precede a reply
            assert rights_update(circuit, note) == 3
            acf.write_text("ASG(RO) {RULE(1, WRITE)")  # unterminated
            assert put_status(circuit, reload_, 1) == rawca.ECA_PUTFAIL
            ioc.process.send_signal(signal.SIGHUP)
            wait_for(lambda: ioc.log().count("not reloaded, the previous rules stay") >= 2,
                     "log of the bad file")
            assert "syntax error at line 1" in ioc.log()
            assert circuit.create_channel("SAFE:NOTE").access == 3  # old rules in force
        finally:
            acf.write_text(ACF)
            ioc.process.send_signal(signal.SIGHUP)
        assert rights_update(circuit, note) == 1
