"""The SCPI bench power supply: its physics on a fake clock, commands over TCP, pyvisa, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from devices.power_supply import PowerSupplySimulator

IDN = PowerSupplySimulator.idn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


@pytest.fixture
def psu(clock):
    with PowerSupplySimulator(clock=clock) as simulator:
        simulator.start()
        yield simulator


@pytest.fixture
def model(clock):
    """The simulator's physics, driven as its SCPI commands drive it (no I/O)."""
    return PowerSupplySimulator(clock=clock)


def test_slew_up_down_and_off(model, clock):
    model.write("volt", 12.0)
    assert model.value("volt_rbv") == 0.0  # output off
    model.write("output", 1)
    clock.advance(0.5)
    assert model.value("volt_rbv") == pytest.approx(5.0)
    assert model.value("curr_rbv") == pytest.approx(0.5)
    clock.advance(10)
    assert model.value("volt_rbv") == pytest.approx(12.0)
    model.write("volt", 2.0)
    clock.advance(0.4)
    assert model.value("volt_rbv") == pytest.approx(8.0)
    clock.advance(0.6)
    assert model.value("volt_rbv") == pytest.approx(2.0)
    model.write("output", 0)
    assert (model.value("volt_rbv"), model.value("curr_rbv")) == (0.0, 0.0)
    assert model.adapter.handle_line("SOUR:MODE?") == "OFF"
    model.write("output", 1)  # slews up from 0 again
    clock.advance(0.1)
    assert model.value("volt_rbv") == pytest.approx(1.0)


def test_current_limit_gives_constant_current_mode(model, clock):
    model.write("volt", 20.0)
    model.write("curr", 0.5)
    model.write("output", 1)
    clock.advance(2)
    assert model.value("volt_rbv") == pytest.approx(5.0)  # I_lim * R
    assert model.value("curr_rbv") == pytest.approx(0.5)
    assert model.adapter.handle_line("SOUR:MODE?") == "CC"
    model.write("curr", 3.0)
    assert model.value("volt_rbv") == pytest.approx(20.0)
    assert model.adapter.handle_line("SOUR:MODE?") == "CV"


@pytest.mark.parametrize("name, value", [("volt", 30.01), ("volt", -1), ("curr", 5.5)])
def test_model_rejects_out_of_range(model, name, value):
    before = model.value(name)
    with pytest.raises(ValueError):
        model.write(name, value)
    assert model.value(name) == before


def test_scpi_session_over_tcp(psu, clock, connect):
    client = connect(psu.port)
    assert client.query("*IDN?") == IDN
    client.send("VOLTage 12.5;CURRent 2")
    assert client.query("VOLT?") == "12.500"
    assert client.query("SOUR:CURR?") == "2.0000"
    assert client.query("OUTP?") == "0"
    client.send("OUTP ON")
    assert client.query("OUTPUT:STATE?") == "1"
    clock.advance(0.5)
    assert client.query("MEAS:VOLT?") == "5.000"
    assert client.query("measure:current?") == "0.5000"
    clock.advance(10)
    assert client.query("MEAS:VOLT?;CURR?") == "12.500;1.2500"
    assert client.query("SOUR:MODE?") == "CV"
    client.send("OUTP 0")
    assert client.query("MEAS:SCAL:VOLT:DC?") == "0.000"
    assert client.query("SYST:ERR?") == '0,"No error"'
    client.send("VOLT MAX;CURR MIN")
    assert client.query("VOLT?;:CURR?") == "30.000;0.0000"
    client.send("*RST")
    assert client.query("VOLT?;:CURR?;:OUTP?") == "0.000;5.0000;0"


@pytest.mark.parametrize("command, code, query, unchanged", [
    ("VOLT 31", -222, "VOLT?", "1.000"),
    ("VOLT -0.5", -222, "VOLT?", "1.000"),
    ("CURR 9", -222, "CURR?", "1.0000"),
    ("VOLT abc", -104, "VOLT?", "1.000"),
    ("OUTP MAYBE", -224, "OUTP?", "0"),
    ("VOLT", -109, "VOLT?", "1.000"),
    ("VOLT 1,2", -108, "VOLT?", "1.000"),
    ("VOLTS 3", -113, "VOLT?", "1.000"),
    ("MEAS:POW?", -113, "VOLT?", "1.000"),
])
def test_bad_commands_queue_errors_and_change_nothing(psu, connect, command, code, query,
                                                     unchanged):
    client = connect(psu.port)
    client.send("VOLT 1;CURR 1")
    client.send(command)
    error = client.query("SYST:ERR?")
    assert error.startswith(f"{code},"), error
    assert client.query("SYST:ERR?") == '0,"No error"'
    assert client.query(query) == unchanged


def test_pyvisa_socket_resource(psu):
    pyvisa = pytest.importorskip("pyvisa")
    rm = pyvisa.ResourceManager("@py")
    try:
        inst = rm.open_resource(f"TCPIP::127.0.0.1::{psu.port}::SOCKET",
                                read_termination="\n", write_termination="\n", timeout=5000)
        assert inst.query("*IDN?") == IDN
        inst.write("VOLT 3.3")
        assert float(inst.query("VOLT?")) == pytest.approx(3.3)
        inst.close()
    finally:
        rm.close()


def test_standalone_entry_point_serves_until_sigterm(connect):
    env = dict(os.environ, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "devices.power_supply", "--port", "0"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("listening on 127.0.0.1:"), first
        port = int(first.rsplit(":", 1)[1])
        client = connect(port)
        assert client.query("*IDN?") == IDN
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
