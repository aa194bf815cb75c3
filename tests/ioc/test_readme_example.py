"""The "Writing an IOC" example of README.rst, as written there, against the SCPI
power-supply simulator and driven by the C caput/caget."""

from __future__ import annotations

import enum

import pytest

from devices.power_supply import PowerSupplySimulator
from iocgate import DeviceConfig, DeviceGroup, pvproperty

from ._wait import wait_until


class Output(enum.IntEnum):
    Off = 0
    On = 1


class MySupply(DeviceGroup):
    """My bench supply."""
    default_prefix = "MY:"
    scan_period = 0.5                                   # s, default per property
    device_config = DeviceConfig(bridge=lambda link: link.scpi(check_errors=True),
                                 transports=("tcp", "visa"), default_port=5025)

    volt = pvproperty(name="VOLT", node="VOLT", readback="MEAS:VOLT", units="V",
                      precision=3, limits=(0, 30), doc="Voltage setpoint")
    output = pvproperty(name="OUTPUT", node="OUTP", readback=True, dtype=Output,
                        doc="Output relay")


@pytest.fixture
def my_supply(ioc_factory):
    simulator = PowerSupplySimulator(port=0)
    simulator.start()
    device = MySupply.device_config.open({"host": "127.0.0.1", "port": simulator.port}, 2.0)
    try:
        yield ioc_factory(MySupply, device=device, scan_period=0.1), simulator
    finally:
        simulator.stop()


def test_untyped_bound_property_is_a_double_with_its_precision(my_supply):
    ioc, simulator = my_supply
    assert ioc.caput("OUTPUT", "On").returncode == 0
    assert ioc.caput("VOLT", 12.5).returncode == 0
    assert simulator.state.get("volt") == pytest.approx(12.5)
    wait_until(lambda: ioc.value("VOLT_RBV") == pytest.approx(12.5))
    control = ioc.get("VOLT", data_type="control").metadata
    assert (control.units, control.precision, control.upper_ctrl_limit) == (b"V", 3, 30.0)
