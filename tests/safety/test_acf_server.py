"""Access security enforced by the server: the same ``.acf`` in the C softIoc (``-a``) and in
an iocgate IOC (``--acf``) gives the same CA access rights to the same hosts and users (a
client cannot rename itself once it has a channel); cainfo, caput and pyepics see them."""

from __future__ import annotations

import getpass
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from iocgate.testing import LOOPBACK, epics_tool
from tests.ioc._cli_process import START_TIMEOUT, IocProcess

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "server"))
import rawca  # noqa: E402

ME = getpass.getuser()
ACF = f"""
UAG(ops) {{alice, bob, "{ME}"}}
UAG(experts) {{carol}}
HAG(control) {{CTL-host, labpc}}
ASG(DEFAULT) {{
    RULE(1, READ)
    RULE(1, WRITE) {{UAG(ops, experts)}}
}}
ASG(EXPERT) {{
    RULE(1, READ) {{HAG(control)}}
    RULE(0, WRITE, TRAPWRITE) {{UAG(experts) HAG(control)}}
}}
ASG(RO) {{RULE(1, READ)}}
"""
CHANNELS = ["SAFE:SETPOINT", "SAFE:SETPOINT.EGU", "SAFE:LIMIT", "SAFE:LIMIT.EGU",
            "SAFE:LIMIT.VAL", "SAFE:NOTE", "SAFE:OTHER"]
CLIENTS = [("ctl-host", "carol"), ("CTL-HOST", "carol"), ("labpc", "alice"),
           ("elsewhere", "carol"), ("elsewhere", "alice"), ("ctl-host", "mallory"),
           ("elsewhere", "Alice"), ("", "")]


class SoftIoc(IocProcess):
    """The C softIoc serving safety_ioc.db with the ACF, on its own port."""

    def __init__(self, acf: Path, log_dir: Path):
        super().__init__("softIoc", "SAFE:SETPOINT", log_dir)
        self.acf = acf

    def start(self) -> SoftIoc:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(epics_tool("softIoc")), "-S", "-a", str(self.acf), "-m", "P=SAFE:",
                 "-d", str(HERE / "safety_ioc.db")],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while self.tool("caget", "-w", "0.5", self.ready_pv).returncode != 0:
            assert self.process.poll() is None and time.monotonic() < deadline, self.log()
        return self


@pytest.fixture(scope="module")
def acf_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("acf") / "lab.acf"
    path.write_text(ACF)
    return path


@pytest.fixture(scope="module")
def servers(acf_file, tmp_path_factory) -> Dict[str, IocProcess]:
    logs = tmp_path_factory.mktemp("logs")
    soft = SoftIoc(acf_file, logs).start()
    ours = IocProcess("tests.safety.safety_ioc", "SAFE:SETPOINT", logs,
                      ["-q", "--interfaces", LOOPBACK, "--acf", str(acf_file)])
    try:
        ours.start()
        yield {"softioc": soft, "iocgate": ours}
    finally:
        soft.stop(check=False)
        if ours.process is not None:
            ours.stop()


def connect_as(port: int, host: str, user: str) -> rawca.Circuit:
    circuit = rawca.Circuit(port, handshake=False)
    circuit.send(rawca.frame(rawca.Cmd.VERSION, count=rawca.MINOR_VERSION)
                 + rawca.frame(rawca.Cmd.HOST_NAME, host.encode() + b"\0")
                 + rawca.frame(rawca.Cmd.CLIENT_NAME, user.encode() + b"\0"))
    return circuit


def rights(port: int, host: str, user: str) -> List[int]:
    with connect_as(port, host, user) as circuit:
        return [chan.access for chan in circuit.create_channels(CHANNELS)]


@pytest.mark.parametrize("host, user", CLIENTS)
def test_same_rights_as_softioc(servers, host, user):
    expected = rights(servers["softioc"].port, host, user)
    assert rights(servers["iocgate"].port, host, user) == expected
    assert any(expected) or (host, user) == ("", "")  # the table exercises the rules


def test_renaming_after_the_first_channel_is_refused_as_by_rsrv(servers):
    for kind, server in servers.items():
        with connect_as(server.port, "elsewhere", "carol") as circuit:
            assert circuit.create_channel("SAFE:LIMIT").access == 0
            circuit.send(rawca.frame(rawca.Cmd.HOST_NAME, b"ctl-host\0")
                         + rawca.frame(rawca.Cmd.CLIENT_NAME, b"alice\0"))
            for what in ("host", "user"):
                error = circuit.expect(rawca.Cmd.ERROR)
                assert error.p2 == 142 and f"set {what} name after" in str(error.payload), kind
            assert circuit.create_channel("SAFE:LIMIT").access == 0, kind


def test_c_tools_and_pyepics_see_the_rights(servers):
    host = socket.gethostname()  # what libca sends; not in HAG(control)
    for kind, server in servers.items():
        assert "read, no write" in server.tool("cainfo", "SAFE:NOTE").stdout, kind
        assert "read, write" in server.tool("cainfo", "SAFE:SETPOINT").stdout, kind
        denied = server.tool("caput", "SAFE:NOTE", "1")
        assert "Write access denied" in denied.stderr, (kind, denied)
        if host.lower() not in ("ctl-host", "labpc"):
            assert "no read, no write" in server.tool("cainfo", "SAFE:LIMIT").stdout, kind
    access = servers["iocgate"].pyepics(
        "pvs = [epics.PV(n) for n in ('SAFE:NOTE', 'SAFE:SETPOINT')]\n"
        "assert all(pv.wait_for_connection(10) for pv in pvs)\n"
        "print(json.dumps([[pv.read_access, pv.write_access] for pv in pvs]))")
    assert access == [[True, False], [True, True]]


def test_a_put_refused_by_the_server_is_eca_nowtaccess(servers):
    # a client that does not check its rights first (libca and pyepics refuse locally)
    for kind, server in servers.items():
        with connect_as(server.port, "elsewhere", "mallory") as circuit:
            note = circuit.create_channel("SAFE:NOTE")
            reply = circuit.write(note, [1.0])
            status = reply.p1 if reply.command == rawca.Cmd.WRITE_NOTIFY else reply.p2
            assert (reply.command, status) in ((rawca.Cmd.WRITE_NOTIFY, 376),
                                               (rawca.Cmd.ERROR, 376)), (kind, reply)
