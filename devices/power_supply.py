"""A bench DC power supply (``iocgate,PSU-3005``) speaking SCPI over TCP.

Physics (:class:`PowerSupplyModel`) is evaluated lazily from an injectable clock, so a fake
clock makes tests exact. While the output is on, the internal voltage slews linearly from its
present value toward the setpoint at ``slew_rate``; the terminal voltage is that value capped by
the current limit across the resistive load (constant-current mode). Output off reads 0 V, 0 A,
and the next switch-on slews up from 0 V.

Commands (case-insensitive, short or long form, ``[...]`` optional)::

    *IDN?                           iocgate,PSU-3005,SIM0001,1.0
    [SOURce:]VOLTage <V>|MIN|MAX    setpoint, 0..max_voltage      [SOURce:]VOLTage?
    [SOURce:]CURRent <A>|MIN|MAX    current limit, 0..max_current [SOURce:]CURRent?
    OUTPut[:STATe] ON|OFF|1|0                                      OUTPut[:STATe]?  -> 1|0
    MEASure[:SCALar]:VOLTage[:DC]?  terminal voltage, V
    MEASure[:SCALar]:CURRent[:DC]?  load current, A
    SOURce:MODE?                    OFF|CV|CC

Errors go to the SCPI queue (``SYSTem:ERRor?``): -222 out of range (value unchanged), -104
non-numeric, -224 bad ON/OFF word, -109/-108 parameter count, -113 unknown header.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, List, Optional

from iocgate.sim import ScpiAdapter, ScpiServer, header_matches

__all__ = ["IDN", "PowerSupplyAdapter", "PowerSupplyModel", "PowerSupplySimulator", "main"]

IDN = "iocgate,PSU-3005,SIM0001,1.0"


class PowerSupplyModel:
    """Output physics of the supply; thread-safe.

    Args:
        slew_rate: V/s at which the internal voltage moves toward the setpoint (> 0).
        max_voltage: highest accepted voltage setpoint, V.
        max_current: highest accepted current limit, A (also the power-on limit).
        load_ohms: the resistive load on the output, ohm (> 0).
        clock: monotonic time source in seconds.
    """

    def __init__(self, slew_rate: float = 10.0, max_voltage: float = 30.0,
                 max_current: float = 5.0, load_ohms: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        if slew_rate <= 0 or load_ohms <= 0 or max_voltage <= 0 or max_current <= 0:
            raise ValueError("slew_rate, max_voltage, max_current and load_ohms must be > 0")
        self.slew_rate = slew_rate
        self.max_voltage = max_voltage
        self.max_current = max_current
        self.load_ohms = load_ohms
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Power-on state: output off, 0 V setpoint, current limit at ``max_current``."""
        with self._lock:
            self._output = False
            self._v_set = 0.0
            self._i_lim = self.max_current
            self._v_internal = 0.0
            self._t = self._clock()

    def _advance(self) -> None:
        now = self._clock()
        elapsed, self._t = max(0.0, now - self._t), now
        if not self._output:
            self._v_internal = 0.0
            return
        step = self.slew_rate * elapsed
        gap = self._v_set - self._v_internal
        self._v_internal = self._v_set if abs(gap) <= step else self._v_internal + step * (
            1 if gap > 0 else -1)

    # ------------------------------------------------------------------ settings
    @property
    def output(self) -> bool:
        """Whether the output is on."""
        return self._output

    @output.setter
    def output(self, on: bool) -> None:
        with self._lock:
            self._advance()
            self._output = bool(on)

    @property
    def voltage_setpoint(self) -> float:
        """Voltage setpoint, V. Setting it outside 0..max_voltage raises ``ValueError``."""
        return self._v_set

    @voltage_setpoint.setter
    def voltage_setpoint(self, volts: float) -> None:
        _check_range("voltage", volts, self.max_voltage)
        with self._lock:
            self._advance()
            self._v_set = float(volts)

    @property
    def current_limit(self) -> float:
        """Current limit, A. Setting it outside 0..max_current raises ``ValueError``."""
        return self._i_lim

    @current_limit.setter
    def current_limit(self, amps: float) -> None:
        _check_range("current", amps, self.max_current)
        with self._lock:
            self._advance()
            self._i_lim = float(amps)

    # ------------------------------------------------------------------ readings
    @property
    def measured_voltage(self) -> float:
        """Terminal voltage now, V: ``min(slewed voltage, current_limit * load_ohms)``."""
        with self._lock:
            self._advance()
            return min(self._v_internal, self._i_lim * self.load_ohms)

    @property
    def measured_current(self) -> float:
        """Load current now, A (terminal voltage / load)."""
        return self.measured_voltage / self.load_ohms

    @property
    def mode(self) -> str:
        """``"OFF"``, ``"CC"`` (the current limit caps the voltage) or ``"CV"``."""
        with self._lock:
            self._advance()
            if not self._output:
                return "OFF"
            return "CC" if self._v_internal > self._i_lim * self.load_ohms else "CV"


def _check_range(what: str, value: float, high: float) -> None:
    if not 0.0 <= value <= high:
        raise ValueError(f"{what} {value:g} outside 0..{high:g}")


class PowerSupplyAdapter(ScpiAdapter):
    """The SCPI command set of the supply on top of a :class:`PowerSupplyModel`."""

    def __init__(self, model: PowerSupplyModel):
        super().__init__(IDN)
        self.model = model

    def reset(self) -> None:
        self.model.reset()

    def do_command(self, cmd_path: List[str], params: List[str]) -> Optional[str]:
        m = self.model
        queries = (
            ("MEASure[:SCALar]:VOLTage[:DC]?", lambda: f"{m.measured_voltage:.3f}"),
            ("MEASure[:SCALar]:CURRent[:DC]?", lambda: f"{m.measured_current:.4f}"),
            ("[SOURce:]VOLTage[:LEVel]?", lambda: f"{m.voltage_setpoint:.3f}"),
            ("[SOURce:]CURRent[:LEVel]?", lambda: f"{m.current_limit:.4f}"),
            ("OUTPut[:STATe]?", lambda: "1" if m.output else "0"),
            ("SOURce:MODE?", lambda: m.mode),
        )
        for pattern, read in queries:
            if header_matches(cmd_path, pattern):
                if params:
                    self.push_error(-108)
                    return ""
                return read()
        if header_matches(cmd_path, "[SOURce:]VOLTage[:LEVel]"):
            return self._set_number(params, "voltage_setpoint", m.max_voltage)
        if header_matches(cmd_path, "[SOURce:]CURRent[:LEVel]"):
            return self._set_number(params, "current_limit", m.max_current)
        if header_matches(cmd_path, "OUTPut[:STATe]"):
            return self._set_output(params)
        return None

    def _one_param(self, params: List[str]) -> Optional[str]:
        if len(params) != 1:
            self.push_error(-109 if not params else -108)
            return None
        return params[0]

    def _set_number(self, params: List[str], attr: str, high: float) -> str:
        text = self._one_param(params)
        if text is None:
            return ""
        words = {"MIN": 0.0, "MINIMUM": 0.0, "MAX": high, "MAXIMUM": high, "DEF": 0.0}
        try:
            value = words[text.upper()] if text.upper() in words else float(text)
        except ValueError:
            self.push_error(-104, f"Data type error; {text}")
            return ""
        try:
            setattr(self.model, attr, value)
        except ValueError as exc:
            self.push_error(-222, f"Data out of range; {exc}")
        return ""

    def _set_output(self, params: List[str]) -> str:
        text = self._one_param(params)
        if text is None:
            return ""
        states = {"ON": True, "1": True, "OFF": False, "0": False}
        if text.upper() not in states:
            self.push_error(-224, f"Illegal parameter value; {text}")
        else:
            self.model.output = states[text.upper()]
        return ""


class PowerSupplySimulator(ScpiServer):
    """The supply served over TCP (and optionally a pty).

    Args:
        port: TCP port for :meth:`start` (0 = ephemeral).
        host: address to bind.
        **model_kwargs: passed to :class:`PowerSupplyModel` (``slew_rate``, ``max_voltage``,
            ``max_current``, ``load_ohms``, ``clock``).
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", **model_kwargs: object):
        self.model = PowerSupplyModel(**model_kwargs)  # type: ignore[arg-type]
        super().__init__(PowerSupplyAdapter(self.model), port=port, host=host, name="psu")


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m devices.power_supply [--port N]``: serve until SIGINT/SIGTERM."""
    from iocgate.sim import run_standalone

    return run_standalone("Simulated SCPI bench power supply", PowerSupplySimulator, argv)


if __name__ == "__main__":
    raise SystemExit(main())
