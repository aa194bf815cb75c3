"""The Lakeshore-336-like controller: thermal model on a fake clock, pty and TCP sessions, CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
import serial

from devices.temperature_controller import TemperatureControllerSimulator

IDN = TemperatureControllerSimulator.idn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


@pytest.fixture
def model(clock):
    """The simulator's physics, driven as its commands drive it (no I/O)."""
    return TemperatureControllerSimulator(clock=clock)


def test_heater_on_settles_on_setpoint(model, clock):
    model.write("setpoint", 320.0)
    model.write("heater", 3)
    clock.advance(5)
    first = model.value("temp_rbv")
    assert 295.0 < first < 320.0
    clock.advance(5)
    assert first < model.value("temp_rbv") < 320.0  # monotonic approach, no overshoot
    clock.advance(120)
    assert model.value("temp_rbv") == pytest.approx(320.0, abs=1e-3)
    assert model.value("heater_out") == pytest.approx(5.0, abs=0.01)  # 2.5 W of 50 W


def test_heater_off_relaxes_to_ambient_with_the_time_constant(model, clock):
    model.write("setpoint", 350.0)
    model.write("heater", 3)
    clock.advance(300)
    assert model.value("temp_rbv") == pytest.approx(350.0, abs=1e-3)
    model.write("heater", 0)
    clock.advance(30)  # one time constant: 1/e of the excess left
    assert model.value("temp_rbv") - 295.0 == pytest.approx(55.0 / 2.718281828, rel=1e-3)
    clock.advance(600)
    assert model.value("temp_rbv") == pytest.approx(295.0, abs=1e-3)
    assert model.value("heater_out") == 0.0


def test_low_range_power_limits_the_reachable_temperature(model, clock):
    model.write("setpoint", 400.0)
    model.write("heater", 1)  # 0.5 W over 0.1 W/K: at most +5 K
    clock.advance(600)
    assert model.value("temp_rbv") == pytest.approx(300.0, abs=1e-3)
    assert model.value("heater_out") == pytest.approx(100.0)


def test_ramp_moves_the_effective_setpoint_at_the_rate(model, clock):
    model.handle_line("RAMP 1,1,6")  # K/min = 0.1 K/s
    model.write("heater", 3)
    model.write("setpoint", 305.0)
    assert model.handle_line("RAMPST? 1") == "1"
    clock.advance(50)
    assert model.value("setpoint") == pytest.approx(300.0)  # SETP? reports the ramped value
    assert model.value("temp_rbv") < 300.0  # lags the ramp
    clock.advance(50)
    assert model.value("setpoint") == pytest.approx(305.0)
    assert model.handle_line("RAMPST? 1") == "0"
    clock.advance(200)
    assert model.value("temp_rbv") == pytest.approx(305.0, abs=1e-3)
    model.handle_line("RAMP 1,0,6")
    model.write("setpoint", 310.0)
    assert model.value("setpoint") == 310.0


@pytest.mark.parametrize("line", [
    "SETP 1,-4", "SETP 1,5000", "RANGE 1,4", "RAMP 1,1,0", "RAMP 1,1,101",
])
def test_model_rejects_out_of_range(model, line):
    assert model.handle_line(line) is None
    assert [entry[0] for entry in model.errors] == [line]
    assert model.handle_line("SETP? 1;RANGE? 1;RAMP? 1") == "+295.000;0;0,1.0"


def test_long_fake_clock_jump_is_cheap(model, clock):
    model.write("setpoint", 500.0)
    model.write("heater", 3)
    clock.advance(1e7)
    assert model.value("temp_rbv") == pytest.approx(500.0, abs=1e-3)


@pytest.mark.parametrize("line, reply", [
    ("*IDN?", IDN),
    ("KRDG? A", "+295.000"),
    ("krdg? a", "+295.000"),
    ("KRDG?A", "+295.000"),
    ("SETP? 1", "+295.000"),
    ("RANGE? 1", "0"),
    ("RAMP? 1", "0,1.0"),
    ("RAMPST? 1", "0"),
    ("HTR? 1", "+0.0"),
    ("*OPC?", "1"),
    ("SETP 1,300", None),
    ("SETP 1, 300.5;SETP? 1", "+300.500"),
    ("RANGE 1,2;RANGE? 1;RAMP 1,1,5;RAMP? 1", "2;1,5.0"),
])
def test_command_table(clock, line, reply):
    simulator = TemperatureControllerSimulator(clock=clock)
    assert simulator.handle_line(line) == reply
    assert simulator.errors == []


@pytest.mark.parametrize("line", [
    "FOO", "KRDG? B", "KRDG?", "SETP 2,300", "SETP 1,-4", "SETP 1,abc", "RANGE 1,7",
    "RANGE 1", "RAMP 1,2,5", "RAMP 1,1,500", "SETP? 2", "*IDN? 1", "?",
])
def test_invalid_commands_are_ignored_but_logged(clock, line):
    simulator = TemperatureControllerSimulator(clock=clock)
    assert simulator.handle_line(line) is None
    assert [entry[0] for entry in simulator.errors] == [line]
    assert simulator.handle_line("SETP? 1;RANGE? 1;RAMP? 1") == "+295.000;0;0,1.0"


def test_pty_session_with_pyserial(clock):
    with TemperatureControllerSimulator(clock=clock) as sim:
        path = sim.start_pty()
        with serial.Serial(path, baudrate=57600, timeout=5) as port:
            def query(text: str) -> bytes:
                port.write(text.encode() + b"\r\n")
                return port.read_until(b"\r\n")

            assert query("*IDN?") == IDN.encode() + b"\r\n"
            port.write(b"SETP 1,310\r\nRANGE 1,3\r\n")
            assert query("*OPC?") == b"1\r\n"  # the sets are applied before the clock moves
            clock.advance(300)
            assert query("KRDG? A") == b"+310.000\r\n"
            port.write(b"BOGUS 1\r\n")
            assert query("RANGE? 1") == b"3\r\n"
        assert sim.errors == [("BOGUS 1", "unknown command BOGUS")]


def test_tcp_session_and_fault(clock, connect):
    with TemperatureControllerSimulator(clock=clock) as sim:
        client = connect(sim.start_tcp(0), terminator=b"\r\n")
        assert client.query("SETP? 1") == "+295.000"
        sim.faults.withhold = True
        client.send("KRDG? A")
        with pytest.raises(socket.timeout):
            client.read_raw_line(timeout=0.3)


def _spawn(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-m", "devices.temperature_controller", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)


def _terminate(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()


def test_standalone_pty_entry_point_and_its_path_survives_a_cut():
    """The printed path answers, and reaches the fresh pseudo-terminal after ``CUT``."""
    proc = _spawn("--pty", "--control-port", "0")
    try:
        path = proc.stdout.readline().strip()
        assert os.path.realpath(path).startswith("/dev/"), path
        control_port = int(proc.stdout.readline().rsplit(":", 1)[1])
        for cut in (False, True):
            if cut:
                with socket.create_connection(("127.0.0.1", control_port), timeout=5) as ctl:
                    ctl.sendall(b"CUT\n")
                    assert ctl.makefile("rb").readline() == b"OK\n"
            with serial.Serial(path, timeout=5) as port:
                port.write(b"*IDN?\r\n")
                assert port.read_until(b"\r\n") == IDN.encode() + b"\r\n"
    finally:
        code = _terminate(proc)
    assert code == 0


def test_standalone_tcp_entry_point(connect):
    proc = _spawn("--port", "0")
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("listening on 127.0.0.1:"), first
        client = connect(int(first.rsplit(":", 1)[1]), terminator=b"\r\n")
        assert client.query("KRDG? A").startswith("+2")
    finally:
        code = _terminate(proc)
    assert code == 0


def test_pyvisa_asrl_on_the_pty():
    pyvisa = pytest.importorskip("pyvisa")
    with TemperatureControllerSimulator() as sim:
        path = sim.start_pty()
        rm = pyvisa.ResourceManager("@py")
        try:
            inst = rm.open_resource(f"ASRL{path}::INSTR", read_termination="\r\n",
                                    write_termination="\r\n", timeout=5000)
            assert inst.query("*IDN?") == IDN
            inst.close()
        finally:
            rm.close()
