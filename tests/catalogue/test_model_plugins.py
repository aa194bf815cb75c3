"""The declaration model's extensions, without I/O: SCPI notation, reply formats, SCPI's
number and boolean words, line protocols with chained and common commands, simulator-only
commands, power-on overrides, hand-written dynamics and a simulator that names its IOC."""

from __future__ import annotations

import math
from typing import Any, Dict, Optional

import pytest

from iocgate import DeviceGroup, Dynamics, reading, setting
from iocgate.protocol import CommandSpec, short_header
from iocgate.sim import LineModelSimulator, ScpiSimulator


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("pattern, short", [
    ("[SOURce:]VOLTage[:LEVel]", "VOLT"), ("MEASure[:SCALar]:CURRent[:DC]?", "MEAS:CURR?"),
    ("OUTPut[:STATe]", "OUTP"), ("*IDN", "*IDN"), ("CURR:RANG:AUTO", "CURR:RANG:AUTO"),
])
def test_short_header_is_what_a_driver_sends(pattern, short):
    assert short_header(pattern) == short


class Supply(DeviceGroup):
    """A supply whose headers are in SCPI notation."""

    volt = setting("[SOURce:]VOLTage[:LEVel]", readback="MEASure:VOLTage", units="V",
                   precision=3, limits=(0.0, 30.0), follow=Dynamics(slew=1.0),
                   reply_format=".3f", doc="Output voltage")
    output = setting("OUTPut[:STATe]", states=("Off", "On"), doc="Output relay")


class SupplySimulator(ScpiSimulator):
    declaration = f"{__name__}:Supply"
    variables = {"volt": 1.5}  # powers on at 1.5 V; the PV starts at 0


@pytest.fixture
def scpi():
    simulator = SupplySimulator(clock=Clock())
    yield simulator.adapter.handle_line
    simulator.stop()


def test_the_ioc_binds_the_short_form():
    assert Supply.volt.binding.node == "VOLT" and Supply.volt.binding.readback == "MEAS:VOLT"
    assert Supply.output.binding.node == "OUTP" and Supply.volt.pvspec.value == 0.0


@pytest.mark.parametrize("lines, reply", [
    (["VOLT?"], "1.500"),
    (["SOURce:VOLTage:LEVel 2.25", "SOUR:VOLT?"], "2.250"),
    (["VOLT MAX", "VOLT?"], "30.000"),
    (["VOLT 3;VOLT MINimum", "VOLT?"], "0.000"),
    (["VOLT 3", "VOLT DEF", "VOLT?"], "1.500"),
    (["OUTP ON", "OUTPut:STATe?"], "1"),
    (["OUTP 1;OUTP off", "OUTP?"], "0"),
    (["VOLT abc", "SYST:ERR?"], '-104,"Data type error; abc"'),
    (["VOLT 31", "SYST:ERR?"], '-222,"Data out of range; 31.0 outside 0..30"'),
    (["OUTP MAYBE", "SYST:ERR?"], "-224,\"Illegal parameter value; 'MAYBE' is not one of 0, 1\""),
])
def test_scpi_notation_words_and_formats(scpi, lines, reply):
    for line in lines[:-1]:
        assert scpi(line) is None
    assert scpi(lines[-1]) == reply


def test_a_simulator_without_specs_needs_a_declaration():
    with pytest.raises(TypeError, match="names no declaration"):
        ScpiSimulator()


class Oven(DeviceGroup):
    """A line-protocol oven; its simulator heats with a first-order lag of its own."""

    setpoint = setting({"get": "SP?", "set": "SP {value}"}, units="degC", precision=1,
                       limits=(0.0, 300.0), reply_format=".1f", doc="Setpoint")
    temp = reading({"get": "T?"}, units="degC", precision=1, reply_format=".2f",
                   doc="Temperature")


class OvenSimulator(LineModelSimulator):
    declaration = f"{__name__}:Oven"
    idn = "ACME,OVEN,1,1.0"
    separator = ";"
    variables = {"setpoint": 20.0, "temp": 20.0}
    commands = (CommandSpec("tau", get="TAU?", set="TAU {value}", limits=(1.0, 100.0),
                            value=10.0, reply_format=".0f"),)

    def evolve(self, values: Dict[str, Any], dt: float) -> None:
        values["temp"] = values["setpoint"] + (values["temp"] - values["setpoint"]) * math.exp(
            -dt / values["tau"])

    def do_line(self, line: str) -> Optional[str]:
        return "READY" if line.upper() == "STAT?" else super().do_line(line)


def test_line_protocol_chains_common_commands_and_hand_written_dynamics():
    clock = Clock()
    oven = OvenSimulator(clock=clock)
    try:
        assert oven.handle_line("*IDN?;T?;SP?;TAU?") == "ACME,OVEN,1,1.0;20.00;20.0;10"
        assert oven.handle_line("SP 120; TAU 20") is None
        clock.now += 20.0  # one time constant
        assert float(oven.handle_line("T ?")) == pytest.approx(120 - 100 / math.e, abs=0.01)
        assert oven.handle_line("stat?;*OPC?") == "READY;1"
        assert oven.handle_line("SP 400;TAU 0;BAKE;*IDN? x") is None
        assert oven.errors == [("SP 400", "400.0 outside 0..300"),
                               ("TAU 0", "0.0 outside 1..100"),
                               ("BAKE", "unknown command BAKE"),
                               ("*IDN? x", "unknown command *IDN?")]
        oven.handle_line("*RST")
        assert oven.handle_line("SP?;T?;TAU?") == "20.0;20.00;10"
        assert oven.state.names()[-1] == "tau"  # the backdoor sees it
    finally:
        oven.stop()
