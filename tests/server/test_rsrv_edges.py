"""Where rsrv (the C softIoc) sets the behaviour and iocgate must match it, side by side."""

from __future__ import annotations

import struct
import time

import pytest
import rawca
from rawca import Cmd, frame

ECA_GETFAIL = 152
TEXT_INTO_LONG = [("2.0", 2), ("2.7", 2), ("-2.7", -2), (" 3 ", 3), ("", 0), ("-17", -17)]
TEXT_INTO_DOUBLE = [("2.5", 2.5), (" -1e-3 ", -0.001), ("7", 7.0), ("", 0.0)]


@pytest.mark.parametrize("pv, cases", [("LONG", TEXT_INTO_LONG), ("DOUBLE", TEXT_INTO_DOUBLE)])
def test_string_puts_into_plain_numeric_pvs(circuit, server, xfail_on, pv, cases):
    if pv == "LONG":
        xfail_on(server, "caproto", "a plain ChannelInteger refuses float text")
    chan = circuit.create_channel(server.pv(pv))
    for text, expected in cases:
        reply = circuit.write(chan, [text], data_type=0)
        assert (reply.command, reply.p1) == (Cmd.WRITE_NOTIFY, rawca.ECA_NORMAL), (text, reply)
        assert circuit.get(chan)[1][0] == expected, text


@pytest.mark.parametrize("text", ["abc", "99999999999"])
def test_unconvertible_string_put_fails_and_changes_nothing(circuit, server, xfail_on, text):
    if text == "99999999999":
        xfail_on(server, "caproto", "stores an integer beyond 32 bits")
    chan = circuit.create_channel(server.pv("LONG"))
    circuit.write(chan, [5])
    reply = circuit.write(chan, [text], data_type=0)
    assert reply.command in (Cmd.WRITE_NOTIFY, Cmd.ERROR)
    assert (reply.p1 if reply.command == Cmd.WRITE_NOTIFY else reply.p2) != rawca.ECA_NORMAL
    assert circuit.get(chan)[1][0] == 5


@pytest.mark.servers(caproto_xfail="never answers the subscription")
def test_unconvertible_subscription_gets_getfail(circuit, server):
    """DBR_DOUBLE of a string that is no number: an update with ECA_GETFAIL and a zeroed
    value; the cancel is still acknowledged."""
    chan = circuit.create_channel(server.pv("STRING"))
    circuit.write(chan, ["hello"])
    subid = circuit.subscribe(chan, data_type=6, count=1)
    event = circuit.expect(Cmd.EVENT_ADD, timeout=2.0)
    assert (event.p1, event.p2, event.payload) == (ECA_GETFAIL, subid, bytes(8))
    circuit.unsubscribe(chan, subid)
    assert circuit.expect(Cmd.EVENT_ADD).p2 == subid
    circuit.echo()


@pytest.mark.servers("iocgate")
def test_repeated_client_errors_are_logged_once(fresh_server):
    server = fresh_server("iocgate")
    with rawca.Circuit(server.port) as circuit:
        chan = circuit.create_channel(server.pv("STRING"))
        circuit.write(chan, ["hello"])
        mask = struct.pack(">fffHxx", 0, 0, 0, 5)
        circuit.send(b"".join(frame(Cmd.EVENT_ADD, mask, 6, 1, chan.sid, 1000 + i)
                              for i in range(500)))
        for _ in range(500):
            assert circuit.expect(Cmd.EVENT_ADD).p1 == ECA_GETFAIL
    deadline = time.monotonic() + 10.0  # the summary comes once the server sees the close
    while "more failed" not in server.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in server.output().splitlines()
             if "X:STRING" in line or "failed subscriptions" in line]
    assert len(lines) == 2 and "499 more failed subscriptions" in lines[1], lines


@pytest.mark.parametrize("data_type, value", [(0, " 3 "), (0, "abc"), (0, "7 "), (5, 3), (6, 3.0),
                                              (1, -1)])
def test_bad_put_to_an_enum_leaves_it_readable(circuit, server, xfail_on, data_type, value):
    """Text that is no state, or an index beyond the states (``caput X:ENUM " 3 "``): softIoc
    refuses the text and holds an index without a string; either way every read still
    answers, and a refused put changes nothing."""
    if data_type != 0:
        xfail_on(server, "caproto", "a ChannelEnum stores any number put to it; no read converts")
    chan = circuit.create_channel(server.pv("ENUM"))
    circuit.write(chan, [1], data_type=3)
    reply = circuit.write(chan, [value], data_type=data_type)
    for read_type in (0, 3, 6):
        read = circuit.read(chan, data_type=read_type)
        assert (read.command, read.p1) == (Cmd.READ_NOTIFY, rawca.ECA_NORMAL), (read_type, read)
    if reply.command == Cmd.ERROR or reply.p1 != rawca.ECA_NORMAL:
        assert circuit.get(chan, data_type=0)[1][0] == "On"
