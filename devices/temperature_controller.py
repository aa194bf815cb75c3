"""A Lakeshore-336-like temperature controller: ASCII commands over a serial line (pty) or TCP.

Line terminator ``"\\r\\n"``; several commands may be chained with ``;`` (replies joined by
``;``). Only control loop/output 1 and input A exist. Like the real instrument, the simulator
never replies to a set command and silently ignores what it does not understand or what is out
of range; every such line is recorded in :attr:`TemperatureAdapter.errors` for tests.

Commands (case-insensitive)::

    *IDN?                  LSCI,MODEL336,SIM0001,1.0
    *RST / *CLS / *OPC?    reset the model / no-op / "1"
    KRDG? A                input A in kelvin, e.g. "+295.123"
    SETP 1,<K>             setpoint, 0 < K <= max_setpoint       SETP? 1   -> "+300.000"
                           (while ramping, SETP? reports the present ramped setpoint)
    RANGE 1,<0-3>          heater range Off/Low/Medium/High       RANGE? 1  -> "2"
    RAMP 1,<0|1>,<K/min>   setpoint ramp off/on, 0.1..100 K/min   RAMP? 1   -> "1,5.0"
    RAMPST? 1              "1" while the effective setpoint is still ramping, else "0"
    HTR? 1                 heater output in percent of the range, e.g. "+45.3"
    OUTMODE 1,<1|3>[,..]   closed loop (1, the controller holds the setpoint) or open loop
                           (3, the heater gives the manual output)   OUTMODE? 1 -> "1,1,0"
    MOUT 1,<0-100>         manual output, percent of the range (used in open loop)
                                                                  MOUT? 1   -> "+0.00"

Physics (:class:`TemperatureModel`): one thermal mass with heat capacity ``C`` tied to the
ambient bath by conductance ``G`` (time constant ``C/G``), heated with power limited by the
range. The controller applies the power that would hold the effective setpoint plus a
proportional term, so with enough heater power the temperature settles exponentially on the
setpoint; with the heater off it relaxes to ambient. The heater cannot cool. Everything is
integrated lazily from the clock whenever the model is read or changed, so a fake clock
makes tests exact and no thread runs between queries.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from typing import Callable, List, Optional, Sequence, Tuple

from iocgate.sim import LineSimulator

__all__ = ["IDN", "TemperatureAdapter", "TemperatureControllerSimulator", "TemperatureModel",
           "main"]

log = logging.getLogger(__name__)

IDN = "LSCI,MODEL336,SIM0001,1.0"
RANGE_NAMES = ("Off", "Low", "Medium", "High")

_STEP = 0.25  # s, integration sub-step
_SETTLED = 1e-9  # K per step below which the (non-ramping) system counts as settled


class TemperatureModel:
    """Thermal mass, heater and setpoint ramp; thread-safe.

    Args:
        ambient: bath temperature, K (also the start temperature and setpoint).
        time_constant: ``C/G`` of the thermal mass, s (heater-off relaxation).
        conductance: ``G``, thermal link to the bath, W/K.
        range_powers: heater power per range 0..3, W (range 0 must be 0).
        control_time: time constant of the controller's proportional action, s.
        max_setpoint: highest accepted setpoint, K.
        clock: monotonic time source in seconds.
    """

    def __init__(self, ambient: float = 295.0, time_constant: float = 30.0,
                 conductance: float = 0.1, range_powers: Sequence[float] = (0.0, 0.5, 5.0, 50.0),
                 control_time: float = 10.0, max_setpoint: float = 1500.0,
                 clock: Callable[[], float] = time.monotonic):
        if len(range_powers) != 4 or range_powers[0] != 0:
            raise ValueError("range_powers needs 4 values, the first 0 (Off)")
        if min(time_constant, conductance, control_time) <= 0:
            raise ValueError("time_constant, conductance and control_time must be > 0")
        self.ambient = ambient
        self.time_constant = time_constant
        self.conductance = conductance
        self.range_powers = tuple(float(p) for p in range_powers)
        self.control_time = control_time
        self.max_setpoint = max_setpoint
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Power-on state: at ambient, setpoint ambient, heater off, ramp off at 1 K/min."""
        with self._lock:
            self._t = self._clock()
            self._temperature = self.ambient
            self._setpoint = self.ambient
            self._effective = self.ambient
            self._range = 0
            self._ramp_on = False
            self._ramp_rate = 1.0  # K/min
            self._power = 0.0
            self._open_loop = False
            self._manual = 0.0  # percent of the range

    # ------------------------------------------------------------------ physics
    def _heater_power(self) -> float:
        if self._open_loop:
            return self.range_powers[self._range] * self._manual / 100.0
        capacity = self.conductance * self.time_constant
        wanted = (self.conductance * (self._effective - self.ambient)
                  + capacity * (self._effective - self._temperature) / self.control_time)
        return min(max(wanted, 0.0), self.range_powers[self._range])

    def _advance(self) -> None:
        now = self._clock()
        remaining, self._t = max(0.0, now - self._t), now
        while remaining > 0:
            step = min(_STEP, remaining)
            remaining -= step
            ramping = self._effective != self._setpoint
            if ramping:
                move = self._ramp_rate / 60.0 * step
                gap = self._setpoint - self._effective
                self._effective = self._setpoint if abs(gap) <= move + _SETTLED else (
                    self._effective + math.copysign(move, gap))
            self._power = self._heater_power()
            final = self.ambient + self._power / self.conductance
            previous = self._temperature
            self._temperature = final + (previous - final) * math.exp(-step / self.time_constant)
            if not ramping and abs(self._temperature - previous) < _SETTLED:
                break
        self._power = self._heater_power()

    def _read(self, attr: str) -> float:
        with self._lock:
            self._advance()
            return getattr(self, attr)

    # ------------------------------------------------------------------ readings
    @property
    def temperature(self) -> float:
        """Sample temperature now, K."""
        return self._read("_temperature")

    @property
    def effective_setpoint(self) -> float:
        """The setpoint the loop controls to now (lags :attr:`setpoint` while ramping), K."""
        return self._read("_effective")

    @property
    def heater_percent(self) -> float:
        """Heater output in percent of the present range's full power (0 when Off)."""
        with self._lock:
            self._advance()
            full = self.range_powers[self._range]
            return 100.0 * self._power / full if full else 0.0

    @property
    def ramping(self) -> bool:
        """Whether the effective setpoint is still moving toward the setpoint."""
        with self._lock:
            self._advance()
            return self._effective != self._setpoint

    # ------------------------------------------------------------------ settings
    @property
    def setpoint(self) -> float:
        """Target setpoint, K. Setting it outside (0, max_setpoint] raises ``ValueError``.
        With the ramp on, the effective setpoint moves there at the ramp rate."""
        return self._setpoint

    @setpoint.setter
    def setpoint(self, kelvin: float) -> None:
        if not 0 < kelvin <= self.max_setpoint:
            raise ValueError(f"setpoint {kelvin:g} K outside (0, {self.max_setpoint:g}]")
        with self._lock:
            self._advance()
            self._setpoint = float(kelvin)
            if not self._ramp_on:
                self._effective = self._setpoint

    @property
    def heater_range(self) -> int:
        """Heater range 0..3 (Off, Low, Medium, High); others raise ``ValueError``."""
        return self._range

    @heater_range.setter
    def heater_range(self, value: int) -> None:
        if value not in (0, 1, 2, 3):
            raise ValueError(f"heater range {value!r} not in 0..3")
        with self._lock:
            self._advance()
            self._range = int(value)

    @property
    def open_loop(self) -> bool:
        """True: the heater gives :attr:`manual_output`; False: the controller's loop."""
        return self._open_loop

    @open_loop.setter
    def open_loop(self, value: bool) -> None:
        with self._lock:
            self._advance()
            self._open_loop = bool(value)

    @property
    def manual_output(self) -> float:
        """Heater output in open loop, percent of the range 0..100; others raise
        ``ValueError``."""
        return self._manual

    @manual_output.setter
    def manual_output(self, percent: float) -> None:
        if not 0.0 <= percent <= 100.0:
            raise ValueError(f"manual output {percent:g} % outside 0..100")
        with self._lock:
            self._advance()
            self._manual = float(percent)

    @property
    def ramp(self) -> Tuple[bool, float]:
        """``(enabled, rate in K/min)``."""
        return self._ramp_on, self._ramp_rate

    def set_ramp(self, enabled: bool, rate: float) -> None:
        """Switch the setpoint ramp on/off and set its rate.

        Args:
            enabled: ramp on; turning it off jumps the effective setpoint to the target.
            rate: K/min, 0.1..100.

        Raises:
            ValueError: rate out of range.
        """
        if not 0.1 <= rate <= 100.0:
            raise ValueError(f"ramp rate {rate:g} K/min outside 0.1..100")
        with self._lock:
            self._advance()
            self._ramp_on, self._ramp_rate = bool(enabled), float(rate)
            if not enabled:
                self._effective = self._setpoint


class TemperatureAdapter:
    """The 336 command set on top of a :class:`TemperatureModel`; use as a line handler.

    Attributes:
        errors: ``(line, reason)`` for every command ignored as unknown or invalid.
    """

    def __init__(self, model: TemperatureModel):
        self.model = model
        self.errors: List[Tuple[str, str]] = []

    def handle_line(self, line: str) -> Optional[str]:
        """Execute one line (``;``-separated commands); return the joined replies or None."""
        replies = []
        for unit in line.split(";"):
            unit = unit.strip()
            if not unit:
                continue
            try:
                reply = self._execute(unit)
            except (ValueError, IndexError) as exc:
                self._ignore(unit, str(exc))
                continue
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    def _ignore(self, unit: str, reason: str) -> None:
        log.debug("ignored %r: %s", unit, reason)
        self.errors.append((unit, reason))

    def _execute(self, unit: str) -> Optional[str]:
        match = re.match(r"(\*?[A-Za-z]+\??)\s*(.*)$", unit)
        if match is None:
            raise ValueError("not a command")
        command = match.group(1).upper()
        params = [p.strip() for p in match.group(2).split(",")] if match.group(2) else []
        m = self.model
        if command in ("*IDN?", "*OPC?", "*CLS", "*RST"):
            _expect(params, 0)
            if command == "*RST":
                m.reset()
            return {"*IDN?": IDN, "*OPC?": "1"}.get(command)
        if command == "KRDG?":
            _expect(params, 1)
            if params[0].upper() != "A":
                raise ValueError(f"no input {params[0]!r}")
            return f"{m.temperature:+.3f}"
        _expect_output(params)
        queries = {
            "SETP?": lambda: f"{m.effective_setpoint:+.3f}",
            "RANGE?": lambda: str(m.heater_range),
            "RAMP?": lambda: f"{int(m.ramp[0])},{m.ramp[1]:.1f}",
            "RAMPST?": lambda: str(int(m.ramping)),
            "HTR?": lambda: f"{m.heater_percent:+.1f}",
            "OUTMODE?": lambda: f"{3 if m.open_loop else 1},1,0",
            "MOUT?": lambda: f"{m.manual_output:+.2f}",
        }
        if command in queries:
            _expect(params, 1)
            return queries[command]()
        if command == "SETP":
            _expect(params, 2)
            m.setpoint = float(params[1])
        elif command == "RANGE":
            _expect(params, 2)
            m.heater_range = int(params[1])
        elif command == "OUTMODE":
            if not 2 <= len(params) <= 4 or params[1] not in ("1", "3"):
                raise ValueError(f"output mode {params[1:]!r} not 1 (closed) or 3 (open loop)")
            m.open_loop = params[1] == "3"
        elif command == "MOUT":
            _expect(params, 2)
            m.manual_output = float(params[1])
        elif command == "RAMP":
            _expect(params, 3)
            if params[1] not in ("0", "1"):
                raise ValueError(f"ramp on/off {params[1]!r} not 0|1")
            m.set_ramp(params[1] == "1", float(params[2]))
        else:
            raise ValueError(f"unknown command {command}")
        return None


def _expect(params: List[str], count: int) -> None:
    if len(params) != count:
        raise ValueError(f"expected {count} parameter(s), got {len(params)}")


def _expect_output(params: List[str]) -> None:
    if params and params[0] != "1":
        raise ValueError(f"no output/loop {params[0]!r}")


class TemperatureControllerSimulator(LineSimulator):
    """The controller served with ``"\\r\\n"`` terminators over a pty and/or TCP.

    Args:
        name: for thread names and logs.
        **model_kwargs: passed to :class:`TemperatureModel` (``ambient``, ``time_constant``,
            ``clock`` ...).

    Use :meth:`start_pty` or :meth:`start_tcp`; :attr:`faults`, :attr:`received`,
    :meth:`restart` and :meth:`stop` come from :class:`LineSimulator`.
    """

    def __init__(self, name: str = "ls336", **model_kwargs: object):
        self.model = TemperatureModel(**model_kwargs)  # type: ignore[arg-type]
        self.adapter = TemperatureAdapter(self.model)
        super().__init__(self.adapter.handle_line, terminator="\r\n", name=name)

    @property
    def errors(self) -> List[Tuple[str, str]]:
        """``(command, reason)`` for every command the controller ignored."""
        return list(self.adapter.errors)


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m devices.temperature_controller [--pty] [--port N]``: serve until a signal."""
    from iocgate.sim import run_standalone

    return run_standalone("Simulated Lakeshore-336-like temperature controller",
                          TemperatureControllerSimulator, argv, allow_pty=True)


if __name__ == "__main__":
    raise SystemExit(main())
