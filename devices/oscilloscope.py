"""A one-channel digital oscilloscope simulator (SCPI), made from
:class:`iocs.oscilloscope.OscilloscopeIOC`'s declaration.

Hand-written part: ``WAVeform:DATA?`` answers an IEEE 488.2 block of little-endian float32
volts, ``points`` samples over 10 divisions of the timebase: a sine (state ``frequency`` Hz,
``amplitude`` V, ``noise`` V) triggered on its rising edge at the trigger level, mid-screen,
clipped to ±4 divisions. Run: ``python -m devices.oscilloscope [--port N] [--control-port N]``.
"""

from __future__ import annotations

import math
from typing import List, Optional

import numpy

from iocgate.protocol import format_block
from iocgate.sim import ScpiSimulator, header_matches


class OscilloscopeSimulator(ScpiSimulator):
    idn = "iocgate,SCOPE-1000,SIM0001,1.0"
    variables = {"frequency": 1000.0, "amplitude": 1.0, "noise": 0.01}

    def trace(self) -> numpy.ndarray:
        """The waveform the scope shows now, V."""
        get = self.state.get
        span, amplitude = 10 * get("timebase"), get("amplitude")
        t = numpy.linspace(-span / 2, span / 2, int(get("points")), endpoint=False)
        phase = math.asin(max(-1.0, min(1.0, get("trigger_level") / amplitude)))
        y = amplitude * numpy.sin(2 * math.pi * get("frequency") * t + phase)
        if get("noise"):
            y += numpy.random.default_rng().normal(0.0, get("noise"), t.size)
        screen = 4 * get("volts_per_div")
        return numpy.clip(y, -screen, screen)

    def do_command(self, cmd_path: List[str], params: List[str]) -> Optional[bytes]:
        if header_matches(cmd_path, "WAVeform:DATA?"):
            return format_block(self.trace().astype("<f4").tobytes())
        return None


if __name__ == "__main__":
    from iocgate.ioc import command_specs
    from iocgate.sim import run_standalone
    from iocs.oscilloscope import OscilloscopeIOC

    raise SystemExit(run_standalone("Simulated one-channel oscilloscope",
                                    lambda: OscilloscopeSimulator(command_specs(OscilloscopeIOC))))
