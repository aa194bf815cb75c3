"""A bench DC power supply (``iocgate,PSU-3005``) speaking SCPI over TCP, made from
:class:`iocs.power_supply.PowerSupplyIOC`'s declaration.

The declaration gives the commands (long and short forms, ``MIN``/``MAX``, ``ON``/``OFF``, the
SCPI error queue: -222 out of range, -104 not a number, -224 bad ON/OFF word, -109/-108
parameter count, -113 unknown header) and the measured voltage's slew toward the setpoint.
Hand-written here: the output relay (off reads 0 V, 0 A and the next switch-on slews up from
0 V), the resistive load with constant-current mode (the terminal voltage is capped at
current limit x load) and ``SOURce:MODE?`` (``OFF|CV|CC``). State (the backdoor's): ``volt``,
``curr``, ``output`` and the measured ``volt_rbv`` before the output relay and the load.
Run: ``python -m devices.power_supply [--port N] [--control-port N]``.
"""

from __future__ import annotations

from typing import List, Optional

from iocgate.sim import ScpiSimulator, header_matches

LOAD_OHMS = 10.0


class PowerSupplySimulator(ScpiSimulator):
    declaration = "iocs.power_supply:PowerSupplyIOC"
    idn = "iocgate,PSU-3005,SIM0001,1.0"
    variables = {"curr": 5.0}  # A: a supply powers on at its full current limit

    def write_output(self, on: int) -> None:
        self.state.set("volt_rbv", 0.0)  # the output slews up from 0 V when switched on
        self.state.set("output", on)

    def read_volt_rbv(self) -> float:
        if not self.state.get("output"):
            return 0.0
        return min(self.state.get("volt_rbv"), self.state.get("curr") * LOAD_OHMS)

    def read_curr_rbv(self) -> float:
        return self.read_volt_rbv() / LOAD_OHMS

    def do_command(self, cmd_path: List[str], params: List[str]) -> Optional[str]:
        if not header_matches(cmd_path, "SOURce:MODE?") or params:
            return None
        if not self.state.get("output"):
            return "OFF"
        return "CC" if self.state.get("volt_rbv") > self.state.get("curr") * LOAD_OHMS else "CV"


if __name__ == "__main__":
    from iocgate.sim import run_standalone

    raise SystemExit(run_standalone("Simulated SCPI bench power supply", PowerSupplySimulator))
