"""A single-axis motion controller speaking an SMC100-like ASCII protocol (serial or TCP).

Every command starts with the controller address (``1``), then a two-letter code; queries
end in ``?`` or are status commands; the controller answers only queries, echoing address
and code (``1TP`` -> ``1TP2.50000``). Line terminator ``"\\r\\n"``. Like the real one it never
answers a set; a refused command leaves a code for ``TE`` (``@`` none, ``A`` unknown command,
``C`` parameter missing or out of range, ``H`` not allowed while not referenced).

Commands::

    1PA<x> / 1PA?       move absolute to <x> mm (within SL..SR) / target
    1PR<dx>             move relative
    1TP                 position now, mm
    1TS                 status: 4 hex error bits + 2 hex state, e.g. 1TS000033
                        bits 0x0200 positive end of run, 0x0100 negative end of run
                        states 0A not referenced, 1E homing, 28 moving, 32/33 ready
    1ST                 stop now
    1OR                 home search (moves to 0 mm, then ready)
    1VA<v> / 1VA?       velocity, mm/s (1e-6..1000)
    1AC<a> / 1AC?       acceleration, mm/s² (1e-6..1e5)
    1SL<x> / 1SL?       negative software limit, mm      1SR<x> / 1SR?  positive one
    1TE                 last error code, then cleared     1VE  firmware version

Physics (:class:`MotionModel`): trapezoidal moves with the velocity and acceleration set,
evaluated lazily from an injectable clock; the travel ends at ``travel`` mm, where the end of
run switches are: a move beyond stops there with the switch flag set.
"""

from __future__ import annotations

import math
import re
import threading
import time
from typing import Callable, List, Optional, Tuple

from iocgate.sim import LineSimulator

__all__ = ["VERSION", "MotionModel", "MotorControllerSimulator", "Smc100Protocol"]

VERSION = "SMC_CC - v2.0.0 (iocgate simulator)"
NOT_REFERENCED, HOMING, MOVING, READY_FROM_HOMING, READY = 0x0A, 0x1E, 0x28, 0x32, 0x33
POSITIVE_END, NEGATIVE_END = 0x0200, 0x0100


class MotionModel:
    """One axis: position, trapezoidal moves, soft limits and end-of-run switches.

    Args:
        travel: ``(low, high)`` ends of travel, mm (the switches).
        velocity: mm/s; acceleration: mm/s².
        referenced: start as if homed (ready) rather than not referenced.
        clock: monotonic seconds.
    """

    def __init__(self, travel: Tuple[float, float] = (-25.0, 25.0), velocity: float = 5.0,
                 acceleration: float = 50.0, referenced: bool = True,
                 clock: Callable[[], float] = time.monotonic):
        self.travel = travel
        self._clock = clock
        self._lock = threading.RLock()
        self._start, self._end, self._t0 = 0.0, 0.0, clock()
        self._velocity, self._acceleration = velocity, acceleration
        self.soft_low, self.soft_high = travel
        self._homing = False
        self.referenced = referenced

    # ------------------------------------------------------------------ motion
    @property
    def velocity(self) -> float:
        """Cruise velocity, mm/s; a change applies from now on (a move under way goes on
        from where it is)."""
        return self._velocity

    @velocity.setter
    def velocity(self, mm_per_s: float) -> None:
        with self._lock:
            self._rebase()
            self._velocity = float(mm_per_s)

    @property
    def acceleration(self) -> float:
        """Acceleration, mm/s²; a change applies from now on."""
        return self._acceleration

    @acceleration.setter
    def acceleration(self, mm_per_s2: float) -> None:
        with self._lock:
            self._rebase()
            self._acceleration = float(mm_per_s2)

    def _rebase(self) -> None:
        """Restart the present move from where the stage is now (the profile's parameters
        are about to change)."""
        self._start, self._t0 = self.position, self._clock()

    def _duration(self, distance: float) -> float:
        v, a = self._velocity, self._acceleration
        if distance >= v * v / a:
            return distance / v + v / a
        return 2 * math.sqrt(distance / a)

    def _travelled(self, elapsed: float, distance: float) -> float:
        v, a = self._velocity, self._acceleration
        total = self._duration(distance)
        if elapsed >= total:
            return distance
        ramp = min(v / a, total / 2)
        peak = a * ramp
        if elapsed <= ramp:
            return 0.5 * a * elapsed ** 2
        cruise_end = total - ramp
        if elapsed <= cruise_end:
            return 0.5 * a * ramp ** 2 + peak * (elapsed - ramp)
        left = total - elapsed
        return distance - 0.5 * a * left ** 2

    @property
    def position(self) -> float:
        """Position now, mm. Setting it (backdoor) puts the stage there, at rest."""
        with self._lock:
            distance = abs(self._end - self._start)
            done = self._travelled(self._clock() - self._t0, distance)
            if done >= distance:
                return self._end
            return self._start + math.copysign(done, self._end - self._start)

    @position.setter
    def position(self, mm: float) -> None:
        with self._lock:
            self._start = self._end = min(max(float(mm), self.travel[0]), self.travel[1])
            self._t0 = self._clock()

    @property
    def moving(self) -> bool:
        with self._lock:
            return self.position != self._end

    def move_to(self, target: float) -> None:
        """Start a move; a target beyond the travel stops at the end switch."""
        with self._lock:
            self._rebase()
            self._end = min(max(target, self.travel[0]), self.travel[1])
            self._homing = False

    def stop(self) -> None:
        with self._lock:
            self.position = self.position
            self._homing = False

    def home(self) -> None:
        self.move_to(0.0)
        with self._lock:
            self._homing = True
            self.referenced = True

    def status(self) -> Tuple[int, int]:
        """``(error bits, state code)`` as ``1TS`` reports them."""
        with self._lock:
            position, moving = self.position, self.moving
            bits = (POSITIVE_END if position >= self.travel[1] else 0) | (
                NEGATIVE_END if position <= self.travel[0] else 0)
            if moving:
                return bits, HOMING if self._homing else MOVING
            if not self.referenced:
                return bits, NOT_REFERENCED
            return bits, READY_FROM_HOMING if self._homing else READY


_COMMAND = re.compile(r"^(\d*)([A-Za-z]{2})(\?)?\s*(.*)$")


class Smc100Protocol:
    """The command set over a :class:`MotionModel`; :meth:`handle` is a LineSimulator
    handler (one line in, the reply or ``None`` out)."""

    def __init__(self, model: MotionModel, address: int = 1):
        self.model = model
        self.address = address
        self.error = "@"

    def handle(self, line: str) -> Optional[str]:
        match = _COMMAND.match(line.strip())
        if not match or int(match.group(1) or 0) != self.address:
            return None  # another controller's line, or noise: a real one stays silent
        code, query, arg = match.group(2).upper(), bool(match.group(3)), match.group(4)
        prefix = f"{self.address}{code}"
        m = self.model
        if code in ("TP", "TS", "TE", "VE"):
            return prefix + self._status(code)
        settings = {"VA": ("velocity", 1e-6, 1e3), "AC": ("acceleration", 1e-6, 1e5),
                    "SL": ("soft_low", -1e6, 0.0), "SR": ("soft_high", 0.0, 1e6)}
        if code in settings or code == "PA":
            attr, low, high = settings.get(code, ("_end", m.soft_low, m.soft_high))
            if query:
                return f"{prefix}{getattr(m, attr):.5f}"
            number = self._number(arg, low, high)
            if number is None:
                return None
            if code == "PA":
                self._move(number)
            else:
                setattr(m, attr, number)
            return None
        if code == "PR":
            step = self._number(arg, -1e6, 1e6)
            if step is not None:
                self._move(m.position + step, check=True)
            return None
        if code in ("ST", "OR"):
            m.stop() if code == "ST" else m.home()
            return None
        self.error = "A"
        return None

    def _status(self, code: str) -> str:
        if code == "TP":
            return f"{self.model.position:.5f}"
        if code == "TS":
            bits, state = self.model.status()
            return f"{bits:04X}{state:02X}"
        if code == "VE":
            return " " + VERSION
        error, self.error = self.error, "@"
        return error

    def _number(self, arg: str, low: float, high: float) -> Optional[float]:
        try:
            number = float(arg)
        except ValueError:
            number = math.nan
        if not low <= number <= high:
            self.error = "C"
            return None
        return number

    def _move(self, target: float, check: bool = False) -> None:
        m = self.model
        if not m.referenced:
            self.error = "H"
        elif check and not m.soft_low <= target <= m.soft_high:
            self.error = "C"
        else:
            m.move_to(target)


class MotorControllerSimulator(LineSimulator):
    """The controller served over TCP and/or a pty (``"\\r\\n"`` lines).

    Args:
        **model_kwargs: for :class:`MotionModel` (``travel``, ``velocity``, ...).

    ``model`` is the backdoor's state (``SET position 3``, ``SET referenced OFF``).
    """

    def __init__(self, address: int = 1, **model_kwargs: object):
        self.model = MotionModel(**model_kwargs)  # type: ignore[arg-type]
        self.protocol = Smc100Protocol(self.model, address)
        super().__init__(self.protocol.handle, terminator="\r\n", name="smc100")


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m devices.motor_controller [--port N] [--pty] [--control-port N]``."""
    from iocgate.sim import run_standalone

    return run_standalone("Simulated SMC100-like motion controller", MotorControllerSimulator,
                          argv, allow_pty=True)


if __name__ == "__main__":
    raise SystemExit(main())
