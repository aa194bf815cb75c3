"""Real simulators for node tests: the SCPI power supply, an echo device, a console device."""

from __future__ import annotations

from typing import Iterator, Optional

import pytest

from devices.power_supply import PowerSupplySimulator
from iocgate.nodes import ControlSystem, clear_global_stop
from iocgate.sim import LineSimulator


@pytest.fixture
def ctrl() -> Iterator[ControlSystem]:
    system = ControlSystem()
    yield system
    system.close()
    clear_global_stop()


@pytest.fixture
def psu() -> Iterator[PowerSupplySimulator]:
    simulator = PowerSupplySimulator()
    simulator.start()
    yield simulator
    simulator.stop()


def echo(line: str) -> Optional[str]:
    """``ECHO x`` -> ``x``; ``SLOW`` and anything else -> ``?``."""
    return line[5:] if line.startswith("ECHO ") else "?"


@pytest.fixture
def echo_sim() -> Iterator[LineSimulator]:
    with LineSimulator(echo, name="echo") as simulator:
        simulator.start_tcp()
        yield simulator
