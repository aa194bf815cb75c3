"""Hypothesis fuzzing of TCP and UDP input: the server stays up, other clients are unaffected.

Inputs are valid messages with random fields, mutated valid messages (bytes flipped, cut,
repeated) and plain random bytes. Each example uses a fresh connection; a bystander circuit
opened before the fuzzing must still be served correctly afterwards. Bounded by the example
counts below (a few seconds per server).
"""

from __future__ import annotations

import socket

import pytest
import rawca
from hypothesis import HealthCheck, given, settings, strategies as st
from rawca import HEADER, Cmd

COMMANDS = [int(c) for c in Cmd] + [3, 5, 7, 10, 13, 16, 17, 24, 25, 28, 0xFFFF]
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
small = st.integers(0, 40)
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@st.composite
def message(draw, names):
    """One CA message with plausible or hostile fields and a matching (or lying) length."""
    command = draw(st.sampled_from(COMMANDS))
    payload = draw(st.one_of(
        st.sampled_from(names).map(lambda n: n.encode() + b"\0"),
        st.binary(max_size=64),
        st.just(b"")))
    data_type = draw(st.one_of(st.integers(0, 40), u16))
    count = draw(st.one_of(small, u16))
    p1 = draw(st.one_of(small, u32))
    p2 = draw(st.one_of(small, u32))
    data = rawca.frame(command, payload, data_type, count, p1, p2)
    if draw(st.booleans()):  # lie about the size
        size = draw(st.one_of(u16, st.integers(0, 128)))
        data = HEADER.pack(command, size, data_type, count, p1, p2) + data[HEADER.size:]
    return data


@st.composite
def stream(draw, names):
    """Bytes for one connection: messages, mutated, maybe followed by random bytes."""
    data = b"".join(draw(st.lists(message(names), min_size=1, max_size=6)))
    mutation = draw(st.sampled_from(["none", "flip", "cut", "repeat"]))
    if mutation == "flip" and data:
        index = draw(st.integers(0, len(data) - 1))
        data = data[:index] + bytes([data[index] ^ draw(st.integers(1, 255))]) + data[index + 1:]
    elif mutation == "cut":
        data = data[:draw(st.integers(0, len(data)))]
    elif mutation == "repeat":
        data = data * draw(st.integers(2, 5))
    return data + draw(st.binary(max_size=32))


def names_of(server):
    """Names fuzz input may create channels for; never WF10, which the bystander checks."""
    return [server.pv(s) for s in ("DOUBLE", "LONG", "STRING", "NOPE")]


def test_fuzz_tcp(server, check_serving):
    with rawca.Circuit(server.port) as bystander:
        chan = bystander.create_channel(server.pv("WF10"))

        @FUZZ
        @given(data=stream(names_of(server)))
        def one(data):
            greeting = rawca.frame(Cmd.VERSION, count=rawca.MINOR_VERSION)
            with socket.create_connection((rawca.LOOPBACK, server.port), timeout=2) as sock:
                try:
                    sock.sendall(greeting + data)
                except OSError:
                    pass  # the server may close on garbage; that is allowed
            assert server.alive(), server.output()[-2000:]

        one()
        assert list(bystander.get(chan)[1]) == list(range(10))
    check_serving(server)


def test_fuzz_udp(server, check_serving):
    @FUZZ
    @given(data=st.one_of(
        st.binary(max_size=256),
        st.lists(message(names_of(server)), min_size=1, max_size=8).map(b"".join)))
    def one(data):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(data, (rawca.LOOPBACK, server.port))
        assert server.alive(), server.output()[-2000:]

    one()
    assert 1 in rawca.search(server.port, [server.pv("DOUBLE")])
    check_serving(server)


@pytest.mark.parametrize("seed", range(3))
def test_search_frames_with_random_names(server, seed):
    """Searches for names of every length up to 500 never confuse the server."""
    names = [server.pv("DOUBLE")] + ["N" * ((seed * 97 + i * 13) % 500 + 1) for i in range(20)]
    replies = rawca.search(server.port, names)
    assert set(replies) == {1}
