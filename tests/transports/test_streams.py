"""Every byte stream, through a StreamEndpoint and Session, against real links."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from iocgate import DeviceDisconnected
from iocgate.sim import LineSimulator
from iocgate.transports import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_REPLY_TIMEOUT,
    SerialStream,
    StreamEndpoint,
    TcpStream,
    VisaStream,
)

#: the byte streams that reach a TCP port, each made from the port number
EVERY_TCP_STREAM = pytest.mark.parametrize("make", [
    lambda port: TcpStream("127.0.0.1", port),
    lambda port: SerialStream(f"socket://127.0.0.1:{port}"),
    lambda port: VisaStream(f"TCPIP::127.0.0.1::{port}::SOCKET"),
], ids=["tcp", "serial-socket", "visa"])


def query(endpoint: StreamEndpoint, text: str, wterm: str = "\n", rterm: str = "\n") -> str:
    return endpoint.run(lambda session: session.query(text, wterm, rterm))


@pytest.fixture
def endpoints():
    made = []
    yield lambda stream, **kw: made.append(StreamEndpoint(stream, **kw)) or made[-1]
    for endpoint in made:
        endpoint.close()


def test_tcp_query_keeps_one_connection(sim, endpoints):
    endpoint = endpoints(TcpStream("127.0.0.1", sim.port), reply_timeout=1.0)
    assert endpoint.name == f"tcp://127.0.0.1:{sim.port}"
    assert not endpoint.connected
    assert query(endpoint, "ECHO one") == "one"
    local = endpoint.stream._handle.getsockname()
    for i in range(20):
        assert query(endpoint, f"ECHO {i}") == str(i)
    assert endpoint.connected and endpoint.stream._handle.getsockname() == local
    endpoint.close()
    assert not endpoint.connected
    assert query(endpoint, "ECHO again") == "again"  # close() is not final


def test_serial_over_a_pty(pty_sim, endpoints):
    simulator, link = pty_sim
    endpoint = endpoints(SerialStream(link, 115200), reply_timeout=1.0)
    assert endpoint.name == f"serial://{link}"
    assert query(endpoint, "ECHO 295.1", "\r\n", "\r\n") == "295.1"
    assert simulator.received == ["ECHO 295.1"]


def test_serial_pty_hang_up_then_reopen(pty_sim, endpoints):
    simulator, link = pty_sim
    endpoint = endpoints(SerialStream(link), reply_timeout=1.0)
    assert query(endpoint, "ECHO a", "\r\n", "\r\n") == "a"
    simulator.faults.drop_connections()  # the simulator opens a fresh pty behind the link
    with pytest.raises(DeviceDisconnected):
        query(endpoint, "ECHO b", "\r\n", "\r\n")
    assert query(endpoint, "ECHO c", "\r\n", "\r\n") == "c"


def test_serial_loop_url(endpoints):
    endpoint = endpoints(SerialStream("loop://"), reply_timeout=0.5)
    assert endpoint.name == "loop://"
    assert query(endpoint, "hello loop") == "hello loop"  # loop:// echoes what is written


def test_serial_socket_url(sim, endpoints):
    endpoint = endpoints(SerialStream(f"socket://127.0.0.1:{sim.port}"), reply_timeout=1.0)
    assert query(endpoint, "ECHO via pyserial") == "via pyserial"


def test_visa_socket_resource(sim, endpoints):
    resource = f"TCPIP::127.0.0.1::{sim.port}::SOCKET"
    endpoint = endpoints(VisaStream(resource), reply_timeout=1.0)
    assert endpoint.name == f"visa://{resource}"
    assert query(endpoint, "ECHO visa") == "visa"
    assert query(endpoint, "ECHO twice") == "twice"


def test_visa_serial_resource_on_a_pty(pty_sim, endpoints):
    simulator, link = pty_sim
    endpoint = endpoints(VisaStream(f"ASRL{os.path.realpath(link)}::INSTR"), reply_timeout=1.0)
    assert query(endpoint, "ECHO 1", "\r\n", "\r\n") == "1"
    assert query(endpoint, "ECHO 2", "\r\n", "\r\n") == "2"


@pytest.mark.parametrize("kind", ["socket", "serial"])
def test_polling_an_idle_visa_link_is_immediate(kind, sim, pty_sim, endpoints):
    # regression: every query first polls for stale input; on VISA each poll was a read with
    # VISA's minimum 1 ms timeout, which tripled the round trip of a serial instrument
    resource = (f"TCPIP::127.0.0.1::{sim.port}::SOCKET" if kind == "socket"
                else f"ASRL{os.path.realpath(pty_sim[1])}::INSTR")
    endpoint = endpoints(VisaStream(resource), reply_timeout=1.0)
    term = "\n" if kind == "socket" else "\r\n"
    assert query(endpoint, "ECHO up", term, term) == "up"
    start = time.monotonic()
    for _ in range(50):
        assert endpoint.run(lambda session: session.flush_input()) == b""
    assert time.monotonic() - start < 0.025  # 50 reads of >= 1 ms each took >= 50 ms


@EVERY_TCP_STREAM
def test_refused_link_is_disconnected_quickly(make, sim, endpoints):
    port = sim.port
    sim.stop()
    endpoint = endpoints(make(port), connect_timeout=1.0)
    start = time.monotonic()
    with pytest.raises(DeviceDisconnected) as info:
        query(endpoint, "ECHO x")
    assert time.monotonic() - start < 1.5
    assert info.value.endpoint == endpoint.name
    assert not endpoint.connected


def test_missing_serial_device_is_disconnected(tmp_path, endpoints):
    endpoint = endpoints(SerialStream(str(tmp_path / "no-such-tty")))
    with pytest.raises(DeviceDisconnected, match="cannot open"):
        query(endpoint, "ECHO x")


@pytest.fixture
def full_listener():
    """A port whose accept queue is full, so a connect hangs (SYNs are dropped)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    yield port
    for sock in [server, *fillers]:
        sock.close()


def test_connect_timeout_is_honoured(full_listener, endpoints):
    endpoint = endpoints(TcpStream("127.0.0.1", full_listener), connect_timeout=0.3)
    start = time.monotonic()
    with pytest.raises(DeviceDisconnected, match="cannot connect"):
        query(endpoint, "ECHO x")
    assert 0.2 < time.monotonic() - start < 1.5


def test_defaults_and_encoding(sim, endpoints):
    endpoint = endpoints(TcpStream("127.0.0.1", sim.port))
    assert (endpoint.connect_timeout, endpoint.reply_timeout) == (3.0, 2.0)
    assert (DEFAULT_CONNECT_TIMEOUT, DEFAULT_REPLY_TIMEOUT) == (3.0, 2.0)
    assert endpoint.encoding == "ascii"
    with pytest.raises(UnicodeEncodeError):
        query(endpoint, "ECHO µA")
    with LineSimulator(lambda line: line[5:], encoding="utf-8") as utf8_sim:
        utf8 = endpoints(TcpStream("127.0.0.1", utf8_sim.start_tcp()), encoding="utf-8")
        assert query(utf8, "ECHO 5 µA") == "5 µA"
        assert utf8_sim.received == ["ECHO 5 µA"]


@EVERY_TCP_STREAM
def test_peer_closing_the_link_is_disconnected_at_once(make, sim, endpoints):
    # Regression: pyvisa-py reports a closed TCP peer as a read timeout, so VISA gave
    # DeviceTimeout only after the full reply timeout (spinning meanwhile).
    endpoint = endpoints(make(sim.port), reply_timeout=1.5)
    assert query(endpoint, "ECHO up") == "up"
    sim.restart()  # closes our connection gracefully (FIN) and listens again
    start = time.monotonic()
    with pytest.raises(DeviceDisconnected):
        query(endpoint, "ECHO lost")
    assert time.monotonic() - start < 1.0
    assert query(endpoint, "ECHO back") == "back"


@pytest.fixture
def chatty():
    """A device answering each line ``X`` with ``A:X``, then ``B:X`` once asked to:
    ``(port, send_second)``; ``send_second()`` returns once ``B:X`` is on its way."""
    listener = socket.create_server(("127.0.0.1", 0))
    conns = []

    def send_second() -> None:
        conn, line = conns[-1]
        conn.sendall(b"B:" + line + b"\n")

    def serve() -> None:
        conn, _ = listener.accept()
        buffer = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                conns.append((conn, line))
                conn.sendall(b"A:" + line + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], send_second
    for conn, _ in conns[-1:]:
        conn.shutdown(socket.SHUT_RDWR)  # wakes the serving thread's recv
        conn.close()
    listener.close()
    thread.join(5)


@EVERY_TCP_STREAM
def test_a_late_extra_line_is_not_the_next_answer(make, chatty, endpoints):
    # regression: a query cleared only its own buffer, so a second reply line (or an
    # unsolicited message) received after the previous query was taken as its answer
    port, send_second = chatty
    endpoint = endpoints(make(port), reply_timeout=1.0)
    assert query(endpoint, "first") == "A:first"
    send_second()  # on loopback the bytes are in our receive buffer once this returns
    assert query(endpoint, "second") == "A:second"
