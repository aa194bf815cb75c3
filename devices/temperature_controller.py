"""A Lakeshore-336-like temperature controller: ASCII commands over a serial line (pty) or
TCP, made from :class:`iocs.temperature_controller.TemperatureControllerIOC`'s declaration.

Line terminator ``"\\r\\n"``; commands may be chained with ``;`` (replies joined by ``;``).
Only control loop/output 1 and input A exist. Like the real instrument, the simulator never
replies to a set command and ignores what it does not understand or what is out of range;
every such command is recorded in :attr:`~iocgate.sim.LineModelSimulator.errors`.

Commands (case-insensitive)::

    *IDN? / *RST / *CLS / *OPC?  LSCI,MODEL336,SIM0001,1.0 / reset / no-op / "1"
    KRDG? A                input A in kelvin, e.g. "+295.123"
    SETP 1,<K>             setpoint (the IOC's limits)               SETP? 1   -> "+300.000"
                           (while ramping, SETP? reports the present ramped setpoint)
    RANGE 1,<0-3>          heater range Off/Low/Medium/High          RANGE? 1  -> "2"
    HTR? 1                 heater output in percent of the range, e.g. "+45.3"
    RAMP 1,<0|1>,<K/min>   setpoint ramp off/on, 0.1..100 K/min      RAMP? 1   -> "1,5.0"
    RAMPST? 1              "1" while the effective setpoint is still ramping, else "0"
    OUTMODE 1,<1|3>[,..]   closed loop (1, the controller holds the setpoint) or open loop
                           (3, the heater gives the manual output)   OUTMODE? 1 -> "1,1,0"
    MOUT 1,<0-100>         manual output, percent of the range       MOUT? 1   -> "+0.00"

The declaration gives the first block; the rest and the physics are written here. Physics
(:meth:`TemperatureControllerSimulator.evolve`): one thermal mass (time constant
``TIME_CONSTANT``) tied to the ``ambient`` bath by conductance ``CONDUCTANCE``, heated with
power limited by the range. The controller applies the power that would hold the effective
setpoint plus a proportional term, so with enough heater power the temperature settles
exponentially on the setpoint; with the heater off it relaxes to ambient; it cannot cool.
State (the backdoor's): the declared names, ``ambient`` (K), ``effective`` (the ramped
setpoint, K), ``ramp_on``, ``ramp_rate`` (K/min), ``open_loop``, ``manual_output`` (%).
Run: ``python -m devices.temperature_controller [--pty] [--port N] [--control-port N]``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, Optional

from iocgate.protocol import CommandSpec
from iocgate.sim import LineModelSimulator

AMBIENT = 295.0  # K
TIME_CONSTANT = 30.0  # s, C/G: heater-off relaxation
CONDUCTANCE = 0.1  # W/K, to the bath
RANGE_POWERS = (0.0, 0.5, 5.0, 50.0)  # W, full power of ranges Off..High
CONTROL_TIME = 10.0  # s, time constant of the controller's proportional action
_STEP = 0.25  # s, integration sub-step
_SETTLED = 1e-9  # K per step below which the (non-ramping) system counts as settled


class TemperatureControllerSimulator(LineModelSimulator):
    declaration = "iocs.temperature_controller:TemperatureControllerIOC"
    idn = "LSCI,MODEL336,SIM0001,1.0"
    separator = ";"
    variables = {"setpoint": AMBIENT, "temp_rbv": AMBIENT, "ambient": AMBIENT,
                 "effective": AMBIENT, "ramp_on": 0, "open_loop": 0}
    commands = (CommandSpec("ramp_rate", value=1.0, limits=(0.1, 100.0)),
                CommandSpec("manual_output", get="MOUT? 1", set="MOUT 1,{value}",
                            limits=(0.0, 100.0), reply_format="+.2f"))

    def read_setpoint(self) -> float:
        return self.state.get("effective")

    def do_line(self, line: str) -> Optional[str]:
        state, query = self.state, line.replace(" ", "").upper()
        if query in ("RAMP?1", "RAMPST?1", "OUTMODE?1"):
            return {"RAMP?1": lambda: f"{state.get('ramp_on')},{state.get('ramp_rate'):.1f}",
                    "RAMPST?1": lambda: str(int(state.get("effective") != state.get("setpoint"))),
                    "OUTMODE?1": lambda: f"{3 if state.get('open_loop') else 1},1,0"}[query]()
        ramp = re.fullmatch(r"RAMP\s*1,\s*([01]),\s*(\S+)", line, re.IGNORECASE)
        if ramp:
            self.write("ramp_rate", ramp.group(2))
            state.set("ramp_on", int(ramp.group(1)))
            return None
        mode = re.fullmatch(r"OUTMODE\s*1,\s*([13])(,[^,]*){0,2}", line, re.IGNORECASE)
        if mode:
            state.set("open_loop", int(mode.group(1) == "3"))
            return None
        return super().do_line(line)

    def evolve(self, values: Dict[str, Any], dt: float) -> None:
        """Advance the ramp and the thermal mass by ``dt`` seconds (sub-steps of 0.25 s)."""
        if not values["ramp_on"]:
            values["effective"] = values["setpoint"]
        while dt > 0:
            step = min(_STEP, dt)
            dt -= step
            gap = values["setpoint"] - values["effective"]
            if gap:
                move = values["ramp_rate"] / 60.0 * step
                values["effective"] += gap if abs(gap) <= move + _SETTLED else math.copysign(
                    move, gap)
            final = values["ambient"] + _power(values) / CONDUCTANCE
            previous = values["temp_rbv"]
            values["temp_rbv"] = final + (previous - final) * math.exp(-step / TIME_CONSTANT)
            if not gap and abs(values["temp_rbv"] - previous) < _SETTLED:
                break
        full = RANGE_POWERS[values["heater"]]
        values["heater_out"] = 100.0 * _power(values) / full if full else 0.0


def _power(values: Dict[str, Any]) -> float:
    """Heater power now, W: the manual output in open loop, else the controller's."""
    full = RANGE_POWERS[values["heater"]]
    if values["open_loop"]:
        return full * values["manual_output"] / 100.0
    effective = values["effective"]
    wanted = CONDUCTANCE * (effective - values["ambient"] + TIME_CONSTANT * (
        effective - values["temp_rbv"]) / CONTROL_TIME)
    return min(max(wanted, 0.0), full)


if __name__ == "__main__":
    from iocgate.sim import run_standalone

    raise SystemExit(run_standalone("Simulated Lakeshore-336-like temperature controller",
                                    TemperatureControllerSimulator, allow_pty=True))
