"""One conformance check run on every ByteStream: open, write, read_some (with and without
data), peer hang-up, close twice, use after close."""

from __future__ import annotations

import time

import pytest

from iocgate import DeviceDisconnected
from iocgate.transports import SerialStream, TcpStream, VisaStream

STREAMS = {
    "tcp": lambda sim: TcpStream("127.0.0.1", sim.port),
    "serial-socket": lambda sim: SerialStream(f"socket://127.0.0.1:{sim.port}"),
    "visa-socket": lambda sim: VisaStream(f"TCPIP::127.0.0.1::{sim.port}::SOCKET"),
}


def read_until(stream, wanted: bytes, timeout: float = 2.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while wanted not in data:
        assert time.monotonic() < deadline, data
        data += stream.read_some(deadline - time.monotonic(), b"\n")
    return data


@pytest.mark.parametrize("kind", list(STREAMS))
def test_byte_stream_conformance(kind, sim):
    stream = STREAMS[kind](sim)
    with pytest.raises(DeviceDisconnected):
        stream.write(b"ECHO x\n")  # not opened yet
    stream.open(1.0)
    try:
        stream.write(b"ECHO one\nECHO two\n")
        assert read_until(stream, b"two\n").endswith(b"one\ntwo\n")
        start = time.monotonic()
        assert stream.read_some(0.1, b"\n") == b""  # silence: empty, after about the timeout
        assert 0.05 < time.monotonic() - start < 1.0
        sim.faults.drop_connections()
        with pytest.raises(DeviceDisconnected) as info:
            for _ in range(20):  # a write may still be accepted locally; reads see the end
                stream.write(b"ECHO after\n")
                stream.read_some(0.2, b"\n")
        assert info.value.endpoint == stream.name
    finally:
        stream.close()
    stream.close()  # idempotent
    with pytest.raises(DeviceDisconnected):
        stream.read_some(0.1)


def test_pty_stream_conformance(pty_sim):
    simulator, link = pty_sim
    stream = SerialStream(link)
    stream.open(1.0)
    try:
        stream.write(b"ECHO one\r\n")
        assert read_until(stream, b"one\r\n") == b"one\r\n"
        assert stream.read_some(0.05) == b""
        simulator.faults.drop_connections()
        with pytest.raises(DeviceDisconnected):
            for _ in range(20):
                stream.write(b"ECHO after\r\n")
                stream.read_some(0.2)
    finally:
        stream.close()
    stream.close()
