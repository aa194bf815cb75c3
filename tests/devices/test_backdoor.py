"""The simulators' backdoor: the line protocol (sans-I/O) and ``--control-port`` on a
standalone ``python -m devices.<name>`` process, driven over real loopback sockets."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from devices.power_supply import PowerSupplySimulator
from iocgate.sim import Backdoor

from .conftest import TIMEOUT


@pytest.fixture
def backdoor():
    simulator = PowerSupplySimulator()
    yield Backdoor(simulator)
    simulator.stop()


@pytest.mark.parametrize("line, reply", [
    ("FAULTS", "OK delay=0 freeze=0 garbage=0 refuse=0"),
    ("delay 0.5", "OK"), ("FREEZE on", "OK"), ("GARBAGE 1", "OK"), ("REFUSE ON", "OK"),
    ("SET volt 12.5", "OK"), ("GET volt", "OK 12.5"), ("SET output 1", "OK"),
    ("GET output", "OK 1"),
])
def test_commands_that_succeed(backdoor, line, reply):
    backdoor.handle_line("SET volt 12.5")
    backdoor.handle_line("SET output 1")
    assert backdoor.handle_line(line) == reply


@pytest.mark.parametrize("line, reply", [
    ("BREAK", "ERR unknown command 'BREAK'; try HELP"),
    ("DELAY soon", "ERR DELAY: could not convert string to float: 'soon'"),
    ("DELAY -1", "ERR DELAY: delay must be 0..3600 s, not -1"),
    ("FREEZE maybe", "ERR FREEZE: expected ON or OFF, not 'maybe'"),
    ("FREEZE", "ERR FREEZE: an argument is missing; try HELP"),
    ("GET", "ERR GET: an argument is missing; try HELP"),
    ("GET nothing", "ERR GET: no variable 'nothing'; STATE lists them"),
    ("SET nothing 1", "ERR SET: no variable 'nothing'; STATE lists them"),
    ("SET volt 99", "ERR SET: 99.0 outside 0..30"),
    ("SET volt_rbv high", "ERR SET: could not convert string to float: 'high'"),
    ("SET output maybe", "ERR SET: 'maybe' is not one of 0, 1"),
    ("SET volt", "ERR SET: SET needs a name and a value"),
])
def test_bad_commands_are_refused_and_change_nothing(backdoor, line, reply):
    assert backdoor.handle_line(line) == reply
    assert backdoor.handle_line("FAULTS") == "OK delay=0 freeze=0 garbage=0 refuse=0"
    assert backdoor.handle_line("GET volt") == "OK 0.0"


def test_state_lists_the_model(backdoor):
    reply = backdoor.handle_line("STATE")
    assert reply.startswith("OK ") and "volt=0.0" in reply and "output=0" in reply


#: seconds a terminated simulator may take to shut down (8 at once on a loaded machine)
EXIT_TIMEOUT = 60.0


def _reap(proc: subprocess.Popen) -> None:
    """Wait for a terminated child; kill it if it outlives :data:`EXIT_TIMEOUT`."""
    try:
        proc.wait(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(EXIT_TIMEOUT)
        raise


class _Lines:
    def __init__(self, port: int):
        self.file = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).makefile(
            "rw", newline="\n")

    def ask(self, line: str) -> str:
        self.file.write(line + "\n")
        self.file.flush()
        reply = self.file.readline()
        if not reply:
            raise EOFError("closed")
        return reply.rstrip("\n")


@pytest.fixture(scope="module")
def standalone():
    """``python -m devices.power_supply --port 0 --control-port 0`` as a child process."""
    proc = subprocess.Popen([sys.executable, "-m", "devices.power_supply", "--port", "0",
                             "--control-port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        ports = [int(proc.stdout.readline().rsplit(":", 1)[1]) for _ in range(2)]
        yield ports
    finally:
        proc.terminate()
        _reap(proc)


def test_standalone_freeze_cut_and_state_over_the_control_port(standalone):
    port, control_port = standalone
    control, instrument = _Lines(control_port), _Lines(port)
    assert control.ask("CLEAR") == "OK"
    assert control.ask("SET volt 7.5") == "OK"
    assert instrument.ask("VOLT?") == "7.500"
    assert control.ask("FREEZE ON") == "OK"
    with socket.create_connection(("127.0.0.1", port), timeout=0.3) as probe:
        probe.sendall(b"*IDN?\n")
        with pytest.raises(socket.timeout):
            probe.recv(100)
    assert control.ask("FAULTS") == "OK delay=0 freeze=1 garbage=0 refuse=0"
    assert control.ask("CUT") == "OK"
    with pytest.raises((EOFError, ConnectionError)):
        instrument.ask("VOLT?")
    assert control.ask("CLEAR") == "OK"
    assert _Lines(port).ask("VOLT?") == "7.500"
    assert control.ask("GARBAGE ON") == "OK"
    assert _Lines(port).ask("VOLT?") == "\x15#!?garbage"
    assert control.ask("CLEAR") == "OK"


SIMULATORS = ["power_supply", "temperature_controller", "dmm", "oscilloscope", "picoammeter",
              "motor_controller", "vacuum_gauge", "process_controller", "power_switch"]


def test_every_standalone_simulator_has_the_backdoor():
    """All started at once (imports dominate), each asked for its faults and state."""
    procs = {name: subprocess.Popen([sys.executable, "-m", f"devices.{name}", "--port", "0",
                                     "--control-port", "0"], stdout=subprocess.PIPE, text=True)
             for name in SIMULATORS}
    try:
        for name, proc in procs.items():
            proc.stdout.readline()  # listening on ...
            control = _Lines(int(proc.stdout.readline().rsplit(":", 1)[1]))
            assert control.ask("FAULTS") == "OK delay=0 freeze=0 garbage=0 refuse=0", name
            assert control.ask("STATE").startswith("OK ") and "=" in control.ask("STATE"), name
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            _reap(proc)
