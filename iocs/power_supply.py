"""Bench DC power supply: SCPI over TCP (or VISA).

PVs (default prefix ``PSU:``): ``VOLT``/``VOLT_RBV`` (V) with a ramp stepped by iocgate
(``VOLT_RAMP_RATE`` V/s, 0 = none; ``VOLT_RAMPING``; ``VOLT_RAMP_STOP``), ``CURR``/``CURR_RBV`` (A),
``OUTPUT``/``OUTPUT_RBV`` (Off/On), ``IDN``, and the device health PVs. With no
``--host``/``--resource`` the built-in simulator (devices.power_supply) runs in-process.

Run: ``python -m iocs.power_supply --list-pvs`` or
``python -m iocs.power_supply --host 10.0.0.5 --port 5025``.
"""

from __future__ import annotations

import enum

from caproto import ChannelType

from devices.power_supply import PowerSupplySimulator
from iocgate import DeviceConfig, DeviceGroup, Ramp, Simulation, pvproperty, run_ioc

#: SCPI-over-TCP port most bench supplies listen on
SCPI_PORT = 5025


class OutputState(enum.IntEnum):
    Off = 0
    On = 1


def start_simulator() -> Simulation:
    """Start the SCPI power-supply simulator on a free loopback port."""
    simulator = PowerSupplySimulator(port=0)
    port = simulator.start()
    return Simulation(options={"host": "127.0.0.1", "port": port}, handle=simulator,
                      stop=simulator.stop)


class PowerSupplyIOC(DeviceGroup):
    """Bench DC power supply (SCPI over TCP or VISA): 0-30 V, 0-5 A."""

    default_prefix = "PSU:"
    scan_period = 0.5
    device_config = DeviceConfig(
        bridge=lambda link: link.scpi(check_errors=True, compound=8),
        transports=("tcp", "visa"), default_port=SCPI_PORT, timeout=2.0,
        simulator=start_simulator)

    volt = pvproperty(name="VOLT", node="VOLT", readback="MEAS:VOLT", value=0.0, units="V",
                      precision=3, limits=(0.0, 30.0), autosave=True,
                      ramp=Ramp.stepped(units="V/s", limits=(0.0, 30.0), precision=3),
                      doc="Output voltage setpoint", readback_doc="Measured output voltage")
    curr = pvproperty(name="CURR", node="CURR", readback="MEAS:CURR", value=0.0, units="A",
                      precision=3, limits=(0.0, 5.0), autosave=True,
                      doc="Output current limit", readback_doc="Measured output current")
    output = pvproperty(name="OUTPUT", node="OUTP", readback=True, dtype=OutputState,
                        doc="Output relay Off/On", readback_doc="Output relay state reported")
    idn = pvproperty(name="IDN", node="*IDN", dtype=ChannelType.STRING, read_only=True,
                     period=10.0, doc="Instrument identification (*IDN?)")


def main() -> None:
    run_ioc(PowerSupplyIOC)


if __name__ == "__main__":
    main()
