"""Picoammeter (Keithley-6487-like, SCPI over RS-232 or a terminal server); no address: its
simulator runs on a pseudo-terminal.
Run: ``python -m iocs.picoammeter --list-pvs`` or ``... --serial /dev/ttyUSB0``."""

from devices.picoammeter import PicoammeterSimulator
from iocgate import DeviceConfig, DeviceGroup, reading, run_ioc, setting


class PicoammeterIOC(DeviceGroup):
    """Picoammeter (6487-like, serial SCPI): 2 nA-20 mA ranges, zero check."""

    default_prefix = "PA:"
    device_config = DeviceConfig(
        bridge=lambda link: link.scpi(check_errors=True, write_termination="\r",
                                      read_termination="\r"),
        transports=("serial", "tcp"), default_baudrate=9600, simulator=PicoammeterSimulator)

    range = setting("CURR:RANG", value=2e-6, limits=(2e-9, 2e-2), units="A", precision=9,
                    doc="Measurement range; the meter picks the next range up")
    auto_range = setting("CURR:RANG:AUTO", states=("Off", "On"), doc="Automatic ranging")
    nplc = setting("CURR:NPLC", value=1.0, limits=(0.01, 60.0), units="PLC", precision=2,
                   doc="Integration time in power-line cycles")
    zero_check = setting("SYST:ZCH", states=("Off", "On"),
                         doc="Zero check: the input is shorted (for offset correction)")
    idn = reading("*IDN", dtype=str, period=10.0, doc="Identification (*IDN?)")
    current = reading("READ", units="A", precision=12, doc="Measured current (READ?)")


if __name__ == "__main__":
    run_ioc(PicoammeterIOC)
