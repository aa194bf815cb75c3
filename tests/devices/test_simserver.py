"""LineSimulator over real loopback sockets and pseudo-terminals, including every fault."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import serial

from iocgate.sim import GARBAGE, LineSimulator


def echo(line: str):
    """Queries (ending in ?) are echoed back upper-cased; anything else gets no reply."""
    return f"re:{line.upper()}" if line.endswith("?") else None


@pytest.fixture
def sim():
    with LineSimulator(echo, name="echo") as simulator:
        yield simulator


def test_replies_go_to_the_asker_and_sets_get_none(sim, connect):
    port = sim.start_tcp()
    assert sim.address == ("127.0.0.1", port)
    client = connect(port)
    client.send("SET 1")
    assert client.query("a?") == "re:A?"
    assert sim.received == ["SET 1", "a?"]
    sim.clear_received()
    assert sim.received == []


def test_lines_split_across_writes_and_crlf_are_accepted(sim, connect):
    client = connect(sim.start_tcp())
    for byte in b"x?\r\n\ny":
        client.sock.sendall(bytes([byte]))
    client.sock.sendall(b"?\n")
    assert client.read_raw_line() == b"re:X?"
    assert client.read_raw_line() == b"re:Y?"
    assert sim.received == ["x?", "y?"]  # the empty line is ignored


def test_custom_terminator():
    with LineSimulator(echo, terminator="\r") as sim:
        port = sim.start_tcp()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"q?\r")
            assert sock.recv(100) == b"re:Q?\r"


def test_concurrent_clients_each_get_their_own_replies(sim, connect):
    port = sim.start_tcp()
    clients = [connect(port) for _ in range(6)]
    errors = []

    def talk(index: int) -> None:
        try:
            for n in range(30):
                reply = clients[index].query(f"c{index}n{n}?")
                assert reply == f"re:C{index}N{n}?"
        except Exception as exc:  # reported to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=talk, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    assert len(sim.received) == 6 * 30


def test_handler_exception_gives_no_reply_and_server_goes_on(connect):
    def fragile(line: str):
        if line == "boom?":
            raise RuntimeError("handler bug")
        return "ok"

    with LineSimulator(fragile) as sim:
        client = connect(sim.start_tcp())
        client.send("boom?")
        assert client.query("fine?") == "ok"


def test_drop_connections_closes_clients_and_accepts_new_ones(sim, connect):
    port = sim.start_tcp()
    first, second = connect(port), connect(port)
    assert first.query("a?") == "re:A?" and second.query("b?") == "re:B?"
    sim.faults.drop_connections()
    for client in (first, second):
        with pytest.raises((EOFError, ConnectionResetError)):
            client.read_raw_line()
    assert connect(port).query("c?") == "re:C?"


def test_delay_postpones_each_reply(sim, connect):
    client = connect(sim.start_tcp())
    sim.faults.delay = 0.4
    started = time.monotonic()
    client.send("slow?")
    with pytest.raises(socket.timeout):
        client.read_raw_line(timeout=0.2)
    assert client.read_raw_line() == b"re:SLOW?"
    assert time.monotonic() - started >= 0.4
    sim.faults.clear()
    assert sim.faults.delay == 0
    assert client.query("fast?", timeout=0.5) == "re:FAST?"


def test_withhold_reads_but_never_replies(sim, connect, wait_until):
    client = connect(sim.start_tcp())
    sim.faults.withhold = True
    client.send("lost?")
    wait_until(lambda: "lost?" in sim.received)
    with pytest.raises(socket.timeout):
        client.read_raw_line(timeout=0.3)
    sim.faults.clear()
    assert client.query("back?") == "re:BACK?"


def test_garbage_replaces_replies(connect):
    state = {}

    def handler(line: str):
        if line.startswith("SET "):
            state["v"] = line[4:]
            return None
        return state.get("v", "none")

    with LineSimulator(handler) as sim:
        client = connect(sim.start_tcp())
        sim.faults.garbage = True
        client.send("SET 7")  # a set still takes effect
        client.send("GET?")
        assert client.read_raw_line() == GARBAGE
        sim.faults.garbage = False
        assert client.query("GET?") == "7"


def test_refuse_closes_new_connections_only(sim, connect):
    port = sim.start_tcp()
    old = connect(port)
    assert old.query("first?") == "re:FIRST?"  # accepted before the fault is set
    sim.faults.refuse = True
    refused = connect(port)
    refused.send("x?")
    with pytest.raises((EOFError, ConnectionResetError, BrokenPipeError)):
        refused.read_raw_line()
    assert old.query("still?") == "re:STILL?"
    sim.faults.refuse = False
    assert connect(port).query("new?") == "re:NEW?"


def test_restart_serves_the_same_port(sim, connect):
    port = sim.start_tcp()
    client = connect(port)
    assert client.query("a?") == "re:A?"
    sim.restart()
    assert sim.port == port
    with pytest.raises((EOFError, ConnectionResetError)):
        client.read_raw_line()
    assert connect(port).query("b?") == "re:B?"


def test_stop_is_prompt_with_a_pending_delayed_reply_and_refuses_afterwards(connect):
    sim = LineSimulator(echo)
    port = sim.start_tcp()
    client = connect(port)
    sim.faults.delay = 30
    client.send("never?")
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2
    with pytest.raises((EOFError, ConnectionResetError)):
        client.read_raw_line()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    sim.stop()  # idempotent


def test_start_twice_is_an_error(sim):
    sim.start_tcp()
    with pytest.raises(RuntimeError):
        sim.start_tcp()


def test_pty_query_with_pyserial(sim):
    path = sim.start_pty()
    assert path.startswith("/dev/") and sim.pty_path == path
    with serial.Serial(path, timeout=5) as port:
        port.write(b"p?\n")
        assert port.readline() == b"re:P?\n"


def test_pty_drop_hangs_up_and_link_follows_the_new_pty(sim, tmp_path):
    link = str(tmp_path / "ttySIM")
    first = sim.start_pty(link=link)
    with serial.Serial(link, timeout=5) as port:
        port.write(b"a?\n")
        assert port.readline() == b"re:A?\n"
        sim.faults.drop_connections()
        with pytest.raises(serial.SerialException):
            port.read(1)
    assert sim.pty_path != first
    with serial.Serial(link, timeout=5) as port:
        port.write(b"b?\n")
        assert port.readline() == b"re:B?\n"


def test_pty_restart_and_faults(sim, tmp_path):
    link = str(tmp_path / "ttySIM")
    sim.start_pty(link=link)
    sim.restart()
    with serial.Serial(link, timeout=0.3) as port:
        sim.faults.withhold = True
        port.write(b"w?\n")
        assert port.readline() == b""  # timed out
        sim.faults.clear()
        sim.faults.garbage = True
        port.timeout = 5
        port.write(b"g?\n")
        assert port.readline() == GARBAGE + b"\n"
