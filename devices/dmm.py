"""A 34461A-like bench DMM simulator, made from :class:`iocs.dmm.DmmIOC`'s declaration.

Hand-written parts: the reading is the input of the selected function plus noise that
shrinks with NPLC and grows with the range; a range set picks the next decade up.
Run: ``python -m devices.dmm [--port N] [--control-port N]``.
"""

from __future__ import annotations

import math

from iocgate.sim import ScpiSimulator

RANGES = (0.1, 1.0, 10.0, 100.0, 1000.0)  # V


class DmmSimulator(ScpiSimulator):
    """The inputs are the state variables ``input_dc`` and ``input_ac`` (V)."""

    idn = "Keysight Technologies,34461A,SIM0001,A.03.01-sim"
    variables = {"input_dc": 1.234567, "input_ac": 0.707107}

    def write_range(self, volts: float) -> None:
        self.state.set("range", next(r for r in RANGES if r >= volts * (1 - 1e-9)))

    def read_reading(self) -> float:
        value = self.state.get("input_ac" if self.state.get("function") == "VOLT:AC"
                               else "input_dc")
        if abs(value) > 1.2 * self.state.get("range"):
            return 9.9e37  # overload, as the 34461A reports it
        noise = 3e-6 * self.state.get("range") / math.sqrt(self.state.get("nplc"))
        return value + self.state.noise(noise)


if __name__ == "__main__":
    from iocgate.ioc import command_specs
    from iocgate.sim import run_standalone
    from iocs.dmm import DmmIOC

    raise SystemExit(run_standalone("Simulated 34461A-like DMM",
                                    lambda: DmmSimulator(command_specs(DmmIOC))))
