"""Line and console protocols over a pseudo-terminal and TCP."""

from __future__ import annotations

import enum

import pytest

from devices.simserver import LineSimulator
from devices.temperature_controller import TemperatureControllerSimulator
from iocgate import DeviceProtocolError, DeviceTimeout, NodeAccessError


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
