"""The caproto workarounds: chunked parsing of large receives (no server needed: caproto's
sans-I/O circuit parses real wire bytes)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import caproto as ca

from iocgate.client._caproto_hooks import PARSE_CHUNK, patch_circuit


def _circuit() -> ca.VirtualCircuit:
    return ca.VirtualCircuit(our_role=ca.CLIENT, address=("127.0.0.1", 5064), priority=0)


def _replies(n: int) -> bytes:
    return b"".join(bytes(ca.ReadNotifyResponse(data=[i / 2], data_type=ca.ChannelType.DOUBLE,
                                                data_count=1, status=1, ioid=i))
                    for i in range(n))


def test_large_receive_parses_the_same_in_chunks():
    # regression (speed): caproto copies the unparsed rest after every command, so one
    # receive of 20,000 replies copied gigabytes (9 s here); the patch feeds it at most
    # PARSE_CHUNK bytes at a time
    wire = _replies(20000)
    assert len(wire) > 20 * PARSE_CHUNK
    circuit = _circuit()
    parser = circuit.recv
    fed = []

    def recording_parser(*buffers):
        fed.append(sum(len(b) for b in buffers))
        return parser(*buffers)

    circuit.recv = recording_parser
    patch_circuit(SimpleNamespace(circuit=circuit, ioids={}))
    cut = len(wire) - 7  # the last reply arrives in two receives
    start = time.perf_counter()
    first, _ = circuit.recv(wire[:cut])
    second, _ = circuit.recv(wire[cut:])
    elapsed = time.perf_counter() - start
    assert max(fed) <= PARSE_CHUNK and sum(fed) == len(wire)
    parsed = list(first) + list(second)
    assert [(c.ioid, c.data[0]) for c in parsed] == [(i, i / 2) for i in range(20000)]
    assert elapsed < 5.0, elapsed  # linear: well under a second on an idle machine


def test_empty_receive_still_means_disconnected():
    circuit = _circuit()
    patch_circuit(SimpleNamespace(circuit=circuit, ioids={}))
    commands, _ = circuit.recv(b"")
    assert list(commands) == [ca.DISCONNECTED]
