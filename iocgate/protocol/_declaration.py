"""What one instrument command is, as data: the part of a declaration both the IOC and the
simulator are made from. No I/O, no behaviour beyond the dynamics' arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple


@dataclass(frozen=True)
class Dynamics:
    """How a simulated value moves toward its target; every field optional.

    Attributes:
        slew: largest change per second (units/s); ``None``: no rate limit.
        lag: time constant of a first-order lag (s), applied after the slew; ``None``: none.
        noise: standard deviation of Gaussian noise added to every reading (units).
        scale: the followed value is multiplied by this (e.g. a measured output that
            follows a setpoint at 99.9 %).
    """

    slew: Optional[float] = None
    lag: Optional[float] = None
    noise: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("slew", "lag"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 (or None), not {value!r}")
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, not {self.noise!r}")

    def step(self, value: float, target: float, dt: float, slewed: float) -> Tuple[float, float]:
        """Advance by ``dt`` seconds: ``(new slewed value, new lagged value)``.

        ``slewed`` is the rate-limited intermediate, ``value`` the lagged output.
        """
        target *= self.scale
        if self.slew is not None:
            move = self.slew * dt
            slewed = target if abs(target - slewed) <= move else slewed + math.copysign(
                move, target - slewed)
        else:
            slewed = target
        if self.lag is not None:
            value = slewed + (value - slewed) * math.exp(-dt / self.lag)
        else:
            value = slewed
        return slewed, value


@dataclass(frozen=True)
class CommandSpec:
    """One command of an instrument, as the IOC sends it and the simulator answers it.

    Attributes:
        name: the state variable it reads or sets (the declaring attribute, e.g.
            ``"volt"``).
        header: the SCPI header (``"VOLT"``: query ``VOLT?``, set ``VOLT <v>``); or ``None``.
        get: a line-protocol query text (``"SETP? 1"``), when not SCPI.
        set: a line-protocol set template with ``{value}`` (``"SETP 1,{value}"``).
        kind: ``float``, ``int`` or ``str``: the type of the device value.
        value: the power-on value.
        limits: ``(low, high)`` accepted by a set, or ``None``.
        codes: the device codes of an enumerated setting, in state order, or ``None``.
        writable: whether the instrument accepts a set.
        follows: for a reading: the name of the setting it follows (a measured value).
        dynamics: how the value (or the follower) moves; ``None``: at once.
        quoted: the instrument sends and takes the value in double quotes (SCPI strings).
        reply_format: format spec of the value in the instrument's replies (``".3f"``:
            ``12.500``); ``None``: the simulator's default.
    """

    name: str
    header: Optional[str] = None
    get: Optional[str] = None
    set: Optional[str] = None
    kind: type = float
    value: Any = 0.0
    limits: Optional[Tuple[float, float]] = None
    codes: Optional[Tuple[Any, ...]] = None
    writable: bool = True
    follows: Optional[str] = None
    dynamics: Optional[Dynamics] = None
    quoted: bool = False
    reply_format: Optional[str] = None

    def check(self, value: Any) -> Any:
        """``value`` converted to :attr:`kind` and checked.

        Raises:
            ValueError: out of :attr:`limits`, not one of :attr:`codes`, or not convertible.
        """
        if self.codes is not None:
            for code in self.codes:
                if str(code).upper() == str(value).strip().strip("\"'").upper():
                    return code
            raise ValueError(f"{value!r} is not one of {', '.join(map(str, self.codes))}")
        converted = self.kind(float(value)) if self.kind is int else self.kind(value)
        if self.limits is not None and not self.limits[0] <= converted <= self.limits[1]:
            raise ValueError(f"{converted!r} outside {self.limits[0]:g}..{self.limits[1]:g}")
        return converted


def command_specs(ioc_class: type) -> List[CommandSpec]:
    """Every command declared in ``ioc_class`` (the ``specs`` of its properties, which
    ``iocgate.setting()``/``reading()`` make)."""
    specs: List[CommandSpec] = []
    for prop in ioc_class._pvs_.values():  # type: ignore[attr-defined]
        specs.extend(getattr(prop, "specs", ()))
    return specs
