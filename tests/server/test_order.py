"""Requests take effect in arrival order on a circuit, whatever path a server takes for
them (inline, a fast write, a putter task): a read or put right behind a string put (what
the C ``caput`` sends) must see or follow it, on every server kind and iocgate back-end."""

from __future__ import annotations

import subprocess

import pytest
import rawca
from rawca import Cmd, frame

from iocgate.testing import epics_tool

PVS = ["DOUBLE", "SLOW"]  # plain (inline or fast path), and one whose putter is a task


@pytest.fixture
def pv(request, server, xfail_on) -> str:
    if request.param == "SLOW":
        xfail_on(server, "caproto", "runs putters in tasks while later requests go on")
    return request.param
ROUNDS = 10


def string_put(chan: rawca.Channel, text: str, ioid: int) -> bytes:
    return frame(Cmd.WRITE, rawca.encode_values(0, [text]), 0, 1, chan.sid, ioid)


@pytest.mark.parametrize("pv", PVS, indirect=True)
def test_read_right_after_a_string_put_sees_it(circuit, server, pv):
    chan = circuit.create_channel(server.pv(pv))
    for i in range(ROUNDS):
        value = 0.25 * (i - 10)  # inside DOUBLE's limits: no alarm
        circuit.send(string_put(chan, f"{value}", 1) + frame(Cmd.READ_NOTIFY, b"", 6, 1,
                                                              chan.sid, 100 + i))
        reply = circuit.expect(Cmd.READ_NOTIFY, ignore=(Cmd.ERROR,))
        assert (reply.p2, rawca.decode(6, 1, reply.payload)[1][0]) == (100 + i, value)


@pytest.mark.parametrize("pv", PVS, indirect=True)
def test_numeric_put_behind_a_string_put_wins(circuit, server, pv):
    chan = circuit.create_channel(server.pv(pv))
    for i in range(ROUNDS):
        circuit.send(string_put(chan, "4.25", 1)
                     + frame(Cmd.WRITE, rawca.encode_values(6, [0.125 * i]), 6, 1, chan.sid, 2))
        assert circuit.get(chan)[1][0] == 0.125 * i


@pytest.mark.parametrize("pv", PVS, indirect=True)
def test_caput_prints_the_new_value(server, pv):
    for value in ("1.5", "2.5"):
        done = subprocess.run([str(epics_tool("caput")), "-t", server.pv(pv), value],
                              env=server.env, timeout=10, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert float(done.stdout.split()[-1]) == float(value), done.stdout
