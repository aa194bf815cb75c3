"""UDP name searches and channel life cycle, checked with the raw client."""

from __future__ import annotations

import socket

import pytest
import rawca
from rawca import Cmd


def test_search_many_names_in_one_datagram(server):
    present = [server.pv(s) for s in ("DOUBLE", "LONG", "ENUM", "STRING", "WF10", "DYN")]
    names = []
    for i, name in enumerate(present):
        names += [name, f"{server.prefix}ABSENT:{i}"]
    replies = rawca.search(server.port, names)
    found = {names[i - 1] for i in replies}
    assert found == set(present)
    for search_id, reply in replies.items():
        assert reply.command == Cmd.SEARCH
        assert reply.data_type == server.port  # the TCP port to connect to
        assert reply.p2 == search_id
        assert int.from_bytes(reply.payload[:2], "big") >= 11  # server minor version


def test_search_absent_do_reply_is_silent_over_udp(server):
    """DO_REPLY on UDP: rsrv never answers an unknown name (NOT_FOUND only over TCP), so
    a client searching many servers is not flooded with refusals."""
    assert rawca.search(server.port, [server.pv("NOPE:1")], reply=rawca.DO_REPLY,
                        timeout=0.5) == {}


def test_search_absent_dont_reply_is_silent(server):
    assert rawca.search(server.port, [server.pv("NOPE:2")], timeout=0.5) == {}


def test_search_long_name_and_many_names(server):
    names = [server.pv("DOUBLE")] + [f"{server.prefix}{'A' * 50}:{i}" for i in range(40)]
    replies = rawca.search(server.port, names)
    assert set(replies) == {1}


def test_create_channel_reports_access_then_native_type(circuit, server):
    chan = circuit.create_channel(server.pv("DOUBLE"))
    assert (chan.native_type, chan.native_count) == (6, 1)
    assert chan.access == 3  # read | write
    for suffix, native in (("LONG", (5, 1)), ("ENUM", (3, 1)), ("STRING", (0, 1)),
                           ("CHARWF", (4, 256)), ("WF10", (6, 10)), ("DYN", (6, 100)),
                           ("WF1M", (6, 1_000_000))):
        chan = circuit.create_channel(server.pv(suffix))
        assert (chan.native_type, chan.native_count) == native, suffix


def test_create_absent_channel_fails(circuit, server):
    with pytest.raises(LookupError):
        circuit.create_channel(server.pv("NOPE:3"))
    chan = circuit.create_channel(server.pv("LONG"))  # the circuit is still usable
    assert chan.native_type == 5


def test_clear_channel_is_acknowledged(circuit, server):
    chan = circuit.create_channel(server.pv("WF10"))
    circuit.clear(chan)
    reply = circuit.expect(Cmd.CLEAR_CHANNEL)
    assert (reply.p1, reply.p2) == (chan.sid, chan.cid)
    again = circuit.create_channel(server.pv("WF10"))  # the circuit goes on
    assert list(circuit.get(again)[1]) == list(range(10))


def test_clear_while_subscribed_stops_events(circuit, server):
    chan = circuit.create_channel(server.pv("LONG"))
    circuit.subscribe(chan)
    circuit.expect(Cmd.EVENT_ADD)  # the initial value
    circuit.clear(chan)
    circuit.expect(Cmd.CLEAR_CHANNEL, ignore=(Cmd.EVENT_ADD,))
    with rawca.Circuit(server.port) as writer:
        other = writer.create_channel(server.pv("LONG"))
        assert writer.write(other, [7]).p1 == rawca.ECA_NORMAL
        assert writer.write(other, [8]).p1 == rawca.ECA_NORMAL
    assert [m for m in circuit.quiet(0.3) if m.command == Cmd.EVENT_ADD] == []


def test_echo_and_version(circuit):
    circuit.echo()
    circuit.send(rawca.frame(Cmd.VERSION, count=rawca.MINOR_VERSION))
    circuit.echo()


def test_many_channels_on_one_circuit(circuit, server):
    chans = [circuit.create_channel(server.pv("WF10")) for _ in range(100)]
    chans += circuit.create_channels([server.pv("WF10")] * 100)  # pipelined
    assert len({c.sid for c in chans}) == 200
    assert all(c.access == 3 and c.native_count == 10 for c in chans)
    for chan in chans[::20]:
        assert list(circuit.get(chan)[1]) == list(range(10))


@pytest.mark.servers(caproto_xfail="does not answer a search over TCP")
def test_tcp_search_is_answered(circuit, server):
    """SEARCH over TCP, as rsrv: our port for a served name (no payload), NOT_FOUND for
    an unknown one with DO_REPLY, nothing without."""
    for name, cid in ((server.pv("DOUBLE"), 77), ("NOPE:3", 78)):
        for flag in (rawca.DO_REPLY, rawca.DONT_REPLY):
            circuit.send(rawca.frame(Cmd.SEARCH, name.encode() + b"\0", flag,
                                     rawca.MINOR_VERSION, cid, cid))
    circuit.send(rawca.frame(Cmd.ECHO))
    before_echo = []
    while True:
        message = circuit.receive()
        if message.command == Cmd.ECHO:
            break
        before_echo.append(message)
    assert [(m.command, m.data_type, m.p1, m.p2, m.payload) for m in before_echo] == [
        (Cmd.SEARCH, server.port, 0xFFFFFFFF, 77, b"")] * 2 + [
        (Cmd.NOT_FOUND, rawca.DO_REPLY, 78, 78, b"")]


def test_udp_garbage_then_search(server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"\xff" * 7, (rawca.LOOPBACK, server.port))
        sock.sendto(b"", (rawca.LOOPBACK, server.port))
    assert 1 in rawca.search(server.port, [server.pv("DOUBLE")])
