"""The declaration model without I/O: command specs, dynamics on a fake clock, and the SCPI
simulator made from a declaration, driven line by line."""

from __future__ import annotations

import pytest

from iocgate import DeviceConfig, DeviceGroup, Dynamics, reading, setting
from iocgate.ioc import command_specs
from iocgate.protocol import CommandSpec
from iocgate.sim import InstrumentState, LineModelSimulator, ScpiSimulator
from iocgate.testing import contract_tests


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Psu(DeviceGroup):
    """A supply declared once."""

    volt = setting("VOLT", readback="MEAS:VOLT", follow=Dynamics(slew=2.0), units="V",
                   precision=3, limits=(0.0, 30.0), doc="Output voltage")
    output = setting("OUTP", states=("Off", "On"), doc="Output relay")
    temp = reading("TEMP", units="degC", precision=1, value=25.0, noise=0.5, doc="Heat sink")


def test_names_come_from_attributes_and_readbacks_follow():
    assert [p.pvspec.name for p in Psu._pvs_.values()][:5] == [
        "VOLT", "VOLT_RBV", "OUTPUT", "OUTPUT_RBV", "TEMP"]
    assert Psu._pvs_["output"].pvspec.dtype.__members__.keys() == {"Off", "On"}
    assert [(s.name, s.header, s.follows) for s in command_specs(Psu)] == [
        ("volt", "VOLT", None), ("volt_rbv", "MEAS:VOLT", "volt"), ("output", "OUTP", None),
        ("temp", "TEMP", None)]


@pytest.mark.parametrize("spec, text, result", [
    (CommandSpec("v", limits=(0, 30)), "12.5", 12.5),
    (CommandSpec("n", kind=int, limits=(1, 3)), "2.0", 2),
    (CommandSpec("f", kind=str, codes=("VOLT", "CURR")), '"curr"', "CURR"),
])
def test_spec_check_converts(spec, text, result):
    assert spec.check(text) == result


@pytest.mark.parametrize("spec, text", [
    (CommandSpec("v", limits=(0, 30)), "31"), (CommandSpec("v", limits=(0, 30)), "x"),
    (CommandSpec("f", kind=str, codes=("VOLT",)), "RES"),
])
def test_spec_check_refuses(spec, text):
    with pytest.raises(ValueError):
        spec.check(text)


def test_slew_then_lag():
    assert Dynamics(slew=2.0).step(0.0, 10.0, 1.0, 0.0) == (2.0, 2.0)
    slewed, value = Dynamics(lag=1.0).step(0.0, 10.0, 1.0, 0.0)
    assert slewed == 10.0 and value == pytest.approx(10.0 * (1 - 0.36787944))
    with pytest.raises(ValueError):
        Dynamics(slew=0)


def test_follower_slews_on_the_clock():
    clock = Clock()
    state = InstrumentState(command_specs(Psu), clock, seed=1)
    state.set("volt", "5")
    clock.now += 1.0
    assert state.get("volt_rbv") == pytest.approx(2.0)
    clock.now += 10.0
    assert state.get("volt_rbv") == pytest.approx(5.0)
    assert 22 < state.get("temp") < 28  # noise, seeded


@pytest.fixture
def scpi():
    sim = ScpiSimulator(command_specs(Psu), clock=Clock(), seed=1)
    yield sim.adapter.handle_line
    sim.stop()


@pytest.mark.parametrize("lines, reply", [
    (["VOLT 12", "VOLT?"], "+1.200000E+01"),
    (["VOLT 31", "VOLT?"], "+0.000000E+00"),
    (["VOLT 31", "SYST:ERR?"], '-222,"Data out of range; 31.0 outside 0..30"'),
    (["OUTP 1", "OUTP?"], "1"),
    (["OUTP 2", "SYST:ERR?"], "-224,\"Illegal parameter value; '2' is not one of 0, 1\""),
    (["TEMP 3", "SYST:ERR?"], '-113,"Undefined header; TEMP"'),
    (["VOLT", "SYST:ERR?"], '-109,"Missing parameter"'),
    (["MEAS:VOLT?"], "+0.000000E+00"),
])
def test_declared_commands_on_the_wire(scpi, lines, reply):
    for line in lines[:-1]:
        assert scpi(line) is None
    assert scpi(lines[-1]) == reply


class Controller(DeviceGroup):
    """A line-protocol controller declared once (Lakeshore-like syntax)."""

    device_config = DeviceConfig(
        bridge=lambda link: link.lines(write_termination="\r\n", read_termination="\r\n"),
        transports=("serial",), simulator=LineModelSimulator)

    setpoint = setting({"get": "SETP? 1", "set": "SETP 1,{value}"}, units="K", precision=3,
                       limits=(0.0, 500.0), value=300.0, doc="Loop 1 setpoint")
    heater = setting({"get": "RANGE? 1", "set": "RANGE 1,{value}"},
                     states=("Off", "Low", "High"), doc="Heater range")
    temp = reading({"get": "KRDG? A"}, units="K", precision=3, value=295.0, doc="Input A")


@pytest.fixture
def lines():
    sim = LineModelSimulator(command_specs(Controller), clock=Clock(), seed=1)
    yield sim.handle_line
    sim.stop()


@pytest.mark.parametrize("sent, query, reply", [
    ("SETP 1,42.5", "SETP? 1", "+4.250000E+01"),
    ("setp 1, 42.5", "SETP? 1", "+4.250000E+01"),
    ("SETP 1,600", "SETP? 1", "+3.000000E+02"),  # refused silently, as the instrument does
    ("RANGE 1,2", "RANGE? 1", "2"),
    ("RANGE 1,7", "RANGE? 1", "0"),
    ("KRDG A,5", "KRDG? A", "+2.950000E+02"),  # a reading has no set
])
def test_declared_line_protocol(lines, sent, query, reply):
    assert lines(sent) is None
    assert lines(query) == reply


TestDeclaredLineController = contract_tests(Controller)
