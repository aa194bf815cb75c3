"""Bench DMM (34461A-like) over VISA or an SCPI socket; no address: its simulator runs.
Run: ``python -m iocs.dmm --list-pvs`` or ``... --resource TCPIP::10.0.0.7::5025::SOCKET``."""

from devices.dmm import DmmSimulator
from iocgate import DeviceConfig, DeviceGroup, reading, run_ioc, setting


class DmmIOC(DeviceGroup):
    """Bench DMM (34461A-like, SCPI over VISA or TCP): DC/AC volts, 100 mV-1000 V."""

    default_prefix = "DMM:"
    device_config = DeviceConfig(bridge=lambda link: link.scpi(check_errors=True),
                                 transports=("visa", "tcp"), default_port=5025,
                                 simulator=DmmSimulator)

    function = setting("FUNC", states=("DC volts", "AC volts"), codes=("VOLT", "VOLT:AC"),
                       quoted=True, doc="Measurement function")
    range = setting("VOLT:RANG", value=10.0, limits=(0.1, 1000.0), units="V", precision=1,
                    doc="Measurement range; the meter picks the next range up")
    nplc = setting("VOLT:NPLC", value=10.0, limits=(0.02, 100.0), units="PLC", precision=2,
                   doc="Integration time in power-line cycles")
    trigger_source = setting("TRIG:SOUR", states=("Immediate", "Bus", "External"),
                             codes=("IMM", "BUS", "EXT"), doc="Trigger source")
    idn = reading("*IDN", dtype=str, period=10.0, doc="Identification (*IDN?)")
    reading = reading("READ", units="V", precision=6, doc="Last reading (READ?)")


if __name__ == "__main__":
    run_ioc(DmmIOC)
