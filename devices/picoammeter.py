"""A 6487-like picoammeter simulator (SCPI, ``"\\r"`` terminated), made from
:class:`iocs.picoammeter.PicoammeterIOC`'s declaration.

Hand-written parts: ranges are decades 2 nA..20 mA (a set picks the next one up; auto range
picks the smallest that holds the input); the reading is the input current (state
``input_current``, A) with noise shrinking with NPLC, femtoamps while zero check is on, and
the overflow value 9.9e37 beyond 105 % of the range.
Run: ``python -m devices.picoammeter [--pty] [--port N] [--control-port N]``.
"""

from __future__ import annotations

import math

from iocgate.sim import ScpiSimulator

RANGES = tuple(2 * 10.0 ** exponent for exponent in range(-9, -1))  # A


class PicoammeterSimulator(ScpiSimulator):
    idn = "KEITHLEY INSTRUMENTS INC.,MODEL 6487,SIM0001,A04 (sim)"
    terminator = "\r"
    variables = {"input_current": 1.234e-9}

    def write_range(self, amps: float) -> None:
        self.state.set("range", next(r for r in RANGES if r >= amps * (1 - 1e-9)))

    def read_current(self) -> float:
        if self.state.get("zero_check") == 1:
            return self.state.noise(2e-15)
        value = self.state.get("input_current")
        if self.state.get("auto_range") == 1:
            self.state.set("range", next((r for r in RANGES if r >= abs(value)), RANGES[-1]))
        span = self.state.get("range")
        if abs(value) > 1.05 * span:
            return 9.9e37
        return value + self.state.noise(1e-5 * span / math.sqrt(self.state.get("nplc")))


if __name__ == "__main__":
    from iocgate.ioc import command_specs
    from iocgate.sim import run_standalone
    from iocs.picoammeter import PicoammeterIOC

    raise SystemExit(run_standalone("Simulated 6487-like picoammeter",
                                    lambda: PicoammeterSimulator(command_specs(PicoammeterIOC)),
                                    allow_pty=True))
