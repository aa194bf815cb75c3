"""Bench DC power supply: SCPI over TCP (or VISA); no address: its simulator runs.

PVs (default prefix ``PSU:``): ``VOLT``/``VOLT_RBV`` (V) with a ramp stepped by iocgate
(``VOLT_RAMP_RATE`` V/s, 0 = none; ``VOLT_RAMPING``; ``VOLT_RAMP_STOP``), ``CURR``/``CURR_RBV`` (A),
``OUTPUT``/``OUTPUT_RBV`` (Off/On), ``IDN``, and the device health PVs.
Run: ``python -m iocs.power_supply --list-pvs`` or ``... --host 10.0.0.5 --port 5025``.
"""

from caproto import ChannelType

from devices.power_supply import PowerSupplySimulator
from iocgate import DeviceConfig, DeviceGroup, Dynamics, Ramp, reading, run_ioc, setting


class PowerSupplyIOC(DeviceGroup):
    """Bench DC power supply (SCPI over TCP or VISA): 0-30 V, 0-5 A."""

    default_prefix = "PSU:"
    scan_period = 0.5
    device_config = DeviceConfig(
        bridge=lambda link: link.scpi(check_errors=True, compound=8),
        transports=("tcp", "visa"), default_port=5025, timeout=2.0,
        simulator=PowerSupplySimulator)

    volt = setting("[SOURce:]VOLTage[:LEVel]", readback="MEASure[:SCALar]:VOLTage[:DC]",
                   value=0.0, units="V", precision=3, limits=(0.0, 30.0), autosave=True,
                   follow=Dynamics(slew=10.0), reply_format=".3f",
                   ramp=Ramp.stepped(units="V/s", limits=(0.0, 30.0), precision=3),
                   doc="Output voltage setpoint", readback_doc="Measured output voltage")
    curr = setting("[SOURce:]CURRent[:LEVel]", readback="MEASure[:SCALar]:CURRent[:DC]",
                   value=0.0, units="A", precision=3, limits=(0.0, 5.0), autosave=True,
                   reply_format=".4f", doc="Output current limit",
                   readback_doc="Measured output current")
    output = setting("OUTPut[:STATe]", states=("Off", "On"), doc="Output relay Off/On",
                     readback_doc="Output relay state reported")
    idn = reading("*IDN", dtype=ChannelType.STRING, period=10.0,
                  doc="Instrument identification (*IDN?)")


if __name__ == "__main__":
    run_ioc(PowerSupplyIOC)
