"""A hostile client must not take iocgate's server down or make it grow, on any back-end.

Memory flatness under floods is measured by ``benchmarks/server_soak.py``; these tests check
the mechanisms: descriptor exhaustion, oversized announcements, garbage."""

from __future__ import annotations

import socket
import struct

import pytest
import rawca
from rawca import HEADER, Cmd

BACKENDS = ["iocgate", "iocgate-trio", "iocgate-curio"]
NOFILE = 64


@pytest.mark.parametrize("kind", BACKENDS)
def test_descriptor_exhaustion_is_survived(fresh_server, check_serving, kind):
    """More idle clients than the server has descriptors: it keeps answering searches,
    and once they leave, accepts new clients again (trio exited, curio stopped accepting)."""
    server = fresh_server(kind, nofile=NOFILE)
    idle = [socket.create_connection((rawca.LOOPBACK, server.port), timeout=5)
            for _ in range(NOFILE + 16)]
    try:
        assert 1 in rawca.search(server.port, [server.pv("DOUBLE")], settle=0)
        assert server.alive()
    finally:
        for sock in idle:
            sock.close()
    check_serving(server)


@pytest.mark.parametrize("kind", BACKENDS)
def test_huge_announced_payload_closes_the_circuit(server_pool, check_serving, kind):
    """An extended header announcing 2 GiB is refused at once (no buffering as it comes)."""
    server = server_pool.get(kind)
    with rawca.Circuit(server.port) as circuit:
        circuit.send(HEADER.pack(Cmd.WRITE, 0xFFFF, 6, 0, 1, 1) + struct.pack(">II", 2**31, 1)
                     + bytes(4096))
        with pytest.raises(ConnectionError):
            circuit.receive(timeout=5)
    check_serving(server)
