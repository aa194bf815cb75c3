"""The search relay's state machine (``iocgate.server._relay``) driven with bytes."""

from __future__ import annotations

import socket
import struct

from iocgate.server import _wire as wire
from iocgate.server._procnet import shares_udp_port
from iocgate.server._relay import PEER_TIMEOUT, RELAY_TIMEOUT, SearchRelay

H = struct.Struct(">HHHHII")


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def beacon(tcp_port: int, address: int = 0x7F000001) -> bytes:
    return wire.beacon(tcp_port, 7, address)


def test_relays_to_servers_on_our_search_port_only():
    clock = Clock()
    relay = SearchRelay(5000, verify=lambda port: port != 6002, clock=clock)
    assert relay.beacons(beacon(5000), ("127.0.0.1", 1)) is False  # ourselves
    assert relay.beacons(beacon(6001) + beacon(6002), ("127.0.0.1", 1)) is True
    assert relay.beacons(beacon(6001), ("127.0.0.1", 1)) is False  # known already
    assert relay.beacons(beacon(6003, 0x0A000001), ("10.0.0.1", 1)) is False  # not loopback
    assert set(relay.peers) == {("127.0.0.1", 6001)}
    sent = relay.relay([("X:A", wire.DO_REPLY, 13, 41)], ("127.0.0.1", 40000))
    name = b"X:A\0".ljust(8, b"\0")
    assert sent == {("127.0.0.1", 6001): H.pack(6, 8, wire.NO_REPLY, 13, 1, 1) + name}
    # the other server's TCP answer becomes our UDP answer to the client
    answer = (wire.SEARCH, 6001, 0, 0xFFFFFFFF, 1, 16, memoryview(b""))
    assert relay.answers([answer], ("127.0.0.1", 6001)) == [
        (("127.0.0.1", 40000), wire.VERSION_REPLY + wire.search_reply(6001, 41))]
    assert relay.answers([answer], ("127.0.0.1", 6001)) == []  # answered once


def test_pending_searches_and_silent_servers_expire():
    clock = Clock()
    relay = SearchRelay(5000, verify=lambda port: True, clock=clock)
    relay.beacons(beacon(6001), ("127.0.0.1", 1))
    relay.relay([("X:A", wire.NO_REPLY, 13, 41)], ("127.0.0.1", 40000))
    clock.now += RELAY_TIMEOUT + 1
    relay.expire()
    answer = (wire.SEARCH, 6001, 0, 0xFFFFFFFF, 1, 16, memoryview(b""))
    assert relay.answers([answer], ("127.0.0.1", 6001)) == []
    clock.now += PEER_TIMEOUT
    relay.beacons(b"", ("127.0.0.1", 1))
    assert relay.peers == {}
    assert relay.relay([("X:A", wire.NO_REPLY, 13, 41)], ("127.0.0.1", 40000)) == {}


def test_shares_udp_port_looks_at_the_owning_process():
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(1)
        udp.bind(("127.0.0.1", 0))
        tcp_port, udp_port = tcp.getsockname()[1], udp.getsockname()[1]
        assert shares_udp_port(tcp_port, udp_port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.bind(("127.0.0.1", 0))
            other_port = other.getsockname()[1]
        assert not shares_udp_port(tcp_port, other_port)  # nobody holds it now
