"""Digital oscilloscope (SCPI over VISA or TCP): channel 1's waveform read as an IEEE 488.2
binary block, 1k-100k points. No address: its simulator runs.
Run: ``python -m iocs.oscilloscope --list-pvs`` or ``... --host 10.0.0.8``."""

from __future__ import annotations

from devices.oscilloscope import OscilloscopeSimulator
from iocgate import DeviceConfig, DeviceGroup, reading, run_ioc, setting
from iocgate.nodes import BlockQueryNode

MAX_POINTS = 100_000


class OscilloscopeIOC(DeviceGroup):
    """One-channel oscilloscope (SCPI over VISA or TCP): waveform, timebase, trigger."""

    default_prefix = "SCOPE:"
    scan_period = 0.5
    device_config = DeviceConfig(bridge=lambda link: link.scpi(check_errors=True),
                                 transports=("visa", "tcp"), default_port=5025, timeout=5.0,
                                 simulator=OscilloscopeSimulator)

    points = setting("ACQ:POIN", dtype=int, value=1000, limits=(1000, MAX_POINTS),
                     units="pts", doc="Samples per waveform")
    timebase = setting("TIM:SCAL", value=1e-3, limits=(1e-9, 10.0), units="s/div",
                       precision=9, doc="Horizontal scale (10 divisions on screen)")
    volts_per_div = setting("CHAN1:SCAL", value=0.5, limits=(1e-3, 10.0), units="V/div",
                            precision=3, doc="Vertical scale of channel 1 (8 divisions)")
    trigger_level = setting("TRIG:LEV", value=0.0, limits=(-5.0, 5.0), units="V",
                            precision=3, doc="Trigger level, rising edge of channel 1")
    trigger_mode = setting("TRIG:SWE", states=("Auto", "Normal", "Single"),
                           codes=("AUTO", "NORM", "SING"), doc="Trigger sweep mode")
    idn = reading("*IDN", dtype=str, period=10.0, doc="Identification (*IDN?)")
    waveform = reading(lambda scpi: BlockQueryNode(scpi, "WAV:DATA?", "<f4"), dtype=float,
                       max_length=MAX_POINTS, units="V", precision=4,
                       doc="Channel 1 waveform (WAV:DATA?, float32 block)")


if __name__ == "__main__":
    run_ioc(OscilloscopeIOC)
