"""Arbitrary input never breaks the interpreters (property tests, no I/O)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from devices.power_supply import PowerSupplySimulator
from devices.temperature_controller import TemperatureControllerSimulator

# Text built from the characters that matter to the parsers, plus anything else.
lines = st.one_of(
    st.text(alphabet=st.sampled_from(list("*:;?, \t\"'01.-+eVOLTCURMASYSTERR[]abc")), max_size=40),
    st.text(max_size=40),
)


@settings(max_examples=150, deadline=None)
@given(lines)
def test_scpi_power_supply_survives_any_line(line):
    simulator = PowerSupplySimulator(clock=lambda: 0.0)
    adapter = simulator.adapter
    reply = adapter.handle_line(line)
    assert reply is None or isinstance(reply, str)
    assert len(adapter.errors) <= 20
    assert 0 <= simulator.state.get("volt") <= 30
    assert adapter.handle_line("SYST:ERR?") is not None  # still answering


@settings(max_examples=150, deadline=None)
@given(lines)
def test_temperature_controller_survives_any_line(line):
    simulator = TemperatureControllerSimulator(clock=lambda: 0.0)
    reply = simulator.handle_line(line)
    assert reply is None or isinstance(reply, str)
    assert simulator.handle_line("KRDG? A") == "+295.000"
