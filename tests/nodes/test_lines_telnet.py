"""Line and console protocols over a pseudo-terminal and TCP."""

from __future__ import annotations

import enum
import socket
import threading
import time

import pytest

from devices.temperature_controller import TemperatureControllerSimulator
from iocgate import DeviceProtocolError, DeviceTimeout, NodeAccessError
from iocgate.sim import LineSimulator


class HeaterRange(enum.Enum):
    OFF = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


@pytest.fixture
def ls336(tmp_path):
    simulator = TemperatureControllerSimulator()
    link = str(tmp_path / "ttyLS336")
    simulator.start_pty(link=link)
    yield simulator, link
    simulator.stop()


def test_lines_on_a_serial_pty(ctrl, ls336):
    simulator, path = ls336
    lines = ctrl.serial(path, baudrate=9600, timeout=1.0).lines(write_termination="\r\n",
                                                                  read_termination="\r\n")
    temperature = lines.command(get="KRDG? A", type=float)
    assert 250 < temperature.get() < 350
    setpoint = lines.command(get="SETP? 1", set="SETP 1,{value}", type=float)
    setpoint.set(300.5)
    assert setpoint.get() == 300.5
    assert "SETP 1,300.5" in simulator.received
    # regression: a format spec in the set template raised ValueError (value sent as str)
    lines.command(set="SETP 1,{value:.2f}").set(301.234)
    assert setpoint.get() == 301.23 and "SETP 1,301.23" in simulator.received
    ramp = lines.command(get="RAMP? 1", set="RAMP 1,1,{value}",
                         parse=lambda s: float(s.split(",")[1]))
    ramp.set(5.0)
    assert ramp.get() == 5.0
    heater = lines.command(get="RANGE? 1", set="RANGE 1,{value}", type=HeaterRange)
    heater.set(HeaterRange.MEDIUM)
    assert heater.get() is HeaterRange.MEDIUM
    assert temperature.path == f"serial://{path} lines KRDG? A"


def test_read_only_and_write_only_line_commands(ctrl, ls336):
    _, path = ls336
    lines = ctrl.serial(path).lines(write_termination="\r\n", read_termination="\r\n")
    with pytest.raises(NodeAccessError):
        lines.command(get="KRDG? A", type=float).set(1)
    with pytest.raises(NodeAccessError):
        lines.command(set="SETP 1,{value}").get()


def test_parse_failure_and_silence_on_lines(ctrl, ls336):
    simulator, path = ls336
    lines = ctrl.serial(path, timeout=0.3).lines(write_termination="\r\n",
                                                 read_termination="\r\n")
    with pytest.raises(DeviceProtocolError) as info:
        lines.command(get="*IDN?", type=float).get()
    assert info.value.raw.startswith("LSCI,MODEL336")
    with pytest.raises(DeviceTimeout):  # the 336 does not answer unknown commands
        lines.command(get="NONSENSE?").get()
    assert lines.command(get="*IDN?").get().startswith("LSCI")


def console(line: str) -> str:
    """Echo, reply, prompt: what a telnet console sends (the simulator adds CRLF after ">")."""
    replies = {"VOLT?": "2.5", "STATUS": "OK\r\nready"}
    reply = replies.get(line, "")
    return f"{line}\r\n{reply}\r\n>" if reply else f"{line}\r\n>"


def test_telnet_echo_and_prompt(ctrl):
    with LineSimulator(console, terminator="\r\n") as simulator:
        port = simulator.start_tcp()
        telnet = ctrl.tcp("127.0.0.1", port).telnet(prompt=">")
        assert telnet.command("VOLT?", type=float).get() == 2.5
        assert telnet.command("STATUS").get() == "OK\r\nready"
        telnet.command("VOLT").set(3)
        assert simulator.received[-1] == "VOLT 3"
        assert telnet.command("VOLT?", type=float).get() == 2.5  # stream still in step


def test_raw_stream_node(ctrl, echo_sim):
    link = ctrl.tcp("127.0.0.1", echo_sim.port, timeout=0.5)
    link.set("ECHO raw\n")
    assert link.do_get_line() == "raw"
    link.set("ECHO a\nECHO b\n")
    assert link.do_get_line() == "a"
    assert "b" in link.do_get_chunk() + link.do_flush_input()
    assert link.do_flush_input() == ""
    assert link.get() == ""  # nothing arrives within the timeout


def test_waiting_for_a_line_that_does_not_come_keeps_the_link(ctrl, echo_sim):
    link = ctrl.tcp("127.0.0.1", echo_sim.port, timeout=0.5)
    link.set("ECHO first\n")
    assert link.do_get_line() == "first"
    session_count = len(echo_sim.received)
    with pytest.raises(DeviceTimeout):
        link.do_get_line(timeout=0.1)
    assert link.endpoint.connected  # nothing was asked: no reason to drop the link
    link.set("ECHO sec")
    with pytest.raises(DeviceTimeout):
        link.do_get_line(timeout=0.1)
    link.set("ond\n")  # same connection: the device joins the two halves
    assert link.do_get_line() == "second"
    assert len(echo_sim.received) == session_count + 1


@pytest.fixture
def greeting_console():
    """A console that greets each connection (banner, prompt) 30 ms after accepting it, then
    echoes each command and answers ``R:<command>`` and a prompt; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    conns = []

    def serve() -> None:
        conn, _ = listener.accept()
        conns.append(conn)
        time.sleep(0.03)  # the device's own latency: it takes a moment to greet
        conn.sendall(b"Welcome to the console\r\n> ")
        buffer = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buffer += data
            while b"\r\n" in buffer:
                line, buffer = buffer.split(b"\r\n", 1)
                conn.sendall(line + b"\r\nR:" + line + b"\r\n> ")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    for conn in conns:
        conn.shutdown(socket.SHUT_RDWR)  # wakes the serving thread's recv
        conn.close()
    listener.close()
    thread.join(5)


def test_telnet_greeting_is_not_the_first_reply(ctrl, greeting_console):
    # regression: the banner and prompt a console sends on connecting were returned as the
    # reply to the first command
    telnet = ctrl.tcp("127.0.0.1", greeting_console, timeout=1.0).telnet(prompt="> ")
    assert telnet.command("A").get() == "R:A"
    assert telnet.command("B").get() == "R:B"


def echoing(line: str) -> str:
    """A terminal-style device: echoes each command line, then answers (sets: ``OK``)."""
    return f"{line}\n{'R:' + line if line.endswith('?') else 'OK'}"


def test_lines_with_a_device_that_echoes(ctrl):
    # regression: no line node handled an echoing device; the echo came back as the reply
    with LineSimulator(echoing, name="echoing") as simulator:
        port = simulator.start_tcp()
        lines = ctrl.tcp("127.0.0.1", port, timeout=0.5).lines(echo=True)
        assert lines.command(get="A?").get() == "R:A?"
        lines.command(set="SET {}", set_reply=True).set(4)
        lines.command(set="SET {}").set(5)  # the echo is consumed even with no reply expected
        assert lines.command(get="B?").get() == "R:B?"
        assert simulator.received == ["A?", "SET 4", "SET 5", "B?"]
        plain = ctrl.tcp("127.0.0.1", port, timeout=0.5).lines(echo=True)
        simulator.handler = lambda line: "no echo here"
        with pytest.raises(DeviceProtocolError, match="echo") as info:
            plain.command(get="C?").get()
        assert info.value.raw == "no echo here"
