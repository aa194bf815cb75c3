"""Ramped setpoints: ``pvproperty(ramp=Ramp.stepped(...))`` or ``Ramp.by_device(...)``.

A ramped setpoint ``<NAME>`` comes with ``<NAME>_RAMP_RATE``, ``<NAME>_RAMPING`` (Idle/Ramping)
and ``<NAME>_RAMP_STOP``. A put to ``<NAME>`` stores the target at once and completes when the
ramp ends (reached, stopped: ``<NAME>`` shows where, or replaced by a newer put), so ``caput -c``
and pyepics ``put(wait=True)`` wait for it while the client's other requests go on
(:class:`~iocgate.server.PutCompletion`).
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from .. import _compat
from ._binding import NodeSpec

log = logging.getLogger("iocgate.ioc")


class RampState(enum.IntEnum):
    Idle = 0
    Ramping = 1


class RampStop(enum.IntEnum):
    Ready = 0
    Stop = 1


@dataclass(frozen=True)
class Ramp:
    """How a setpoint ramps; make one with :meth:`stepped` or :meth:`by_device`.

    Attributes:
        units: rate units, e.g. ``"V/s"``. per: seconds in the rate's time unit (1 for
            ``/s``, 60 for ``/min``).
        limits: ``(low, high)`` accepted rates; puts outside are refused.
        precision: digits of the rate PV.
        rate: the starting rate of a stepped ramp; 0 writes a new setpoint at once.
        interval: seconds between the steps iocgate writes (stepped), or between reads of
            the device's ramp status (by device).
        rate_node, status_node: the device's ramp rate (read/write) and ramp status (reads
            true/1 while ramping) for a ramp the device runs itself; ``None`` for stepped.
    """

    units: str
    limits: Tuple[float, float]
    per: float = 1.0
    precision: int = 3
    rate: float = 0.0
    interval: float = 0.1
    rate_node: Optional[NodeSpec] = None
    status_node: Optional[NodeSpec] = None

    def __post_init__(self) -> None:
        low, high = self.limits
        if not 0 <= low < high:
            raise ValueError(f"ramp rate limits must be 0 <= low < high, not {self.limits!r}")
        if not (self.per > 0 and self.interval > 0):
            raise ValueError("per and interval must be > 0 s")
        if (self.rate_node is None) != (self.status_node is None):
            raise ValueError("a device ramp needs both rate= and status= nodes")

    @classmethod
    def stepped(cls, *, units: str, limits: Tuple[float, float], rate: float = 0.0,
                per: float = 1.0, interval: float = 0.1, precision: int = 3) -> Ramp:
        """iocgate moves the device's setpoint toward the target at ``<NAME>_RAMP_RATE``
        (the rate when the put arrives), writing a step every ``interval`` s; rate 0 writes
        the target at once.

        Raises:
            ValueError: ``rate`` outside ``limits`` (0 is always allowed).
        """
        if rate and not limits[0] <= rate <= limits[1]:
            raise ValueError(f"rate {rate!r} outside the limits {limits!r}")
        return cls(units=units, limits=limits, per=per, precision=precision, rate=rate,
                   interval=interval)

    @classmethod
    def by_device(cls, *, rate: NodeSpec, status: NodeSpec, units: str,
                  limits: Tuple[float, float], per: float = 1.0, interval: float = 0.2,
                  precision: int = 3) -> Ramp:
        """The device ramps by itself: ``rate`` reads and writes its ramp rate, ``status``
        reads whether it is ramping; a put completes once ``status`` reads false.
        ``<NAME>_RAMP_STOP`` writes back the setpoint the device's readback reports (the
        ramp's present value), so the ramp ends where it is."""
        return cls(units=units, limits=limits, per=per, precision=precision,
                   interval=interval, rate_node=rate, status_node=status)

    @property
    def by_the_device(self) -> bool:
        return self.status_node is not None

    def properties(self, name: str, attr: str, doc: str) -> Dict[str, Any]:
        """The three generated properties, by attribute name."""
        from ._properties import pvproperty

        what = doc[0].lower() + doc[1:] if doc else name
        rate_doc = f"Ramp rate of {what} ({self.units}; 0 = no ramp)" if not (
            self.by_the_device) else f"Ramp rate of {what} ({self.units}), the device's own"
        if self.by_the_device:
            rate = pvproperty(name=f"{name}_RAMP_RATE", node=self.rate_node, value=0.0,
                              units=self.units, precision=self.precision,
                              limits=self.limits, doc=rate_doc)
            ramping = pvproperty(name=f"{name}_RAMPING", node=self.status_node,
                                 dtype=RampState, read_only=True,
                                 doc=f"Whether {what} is ramping (the device's ramp status)")
        else:
            rate = pvproperty(name=f"{name}_RAMP_RATE", value=float(self.rate),
                              units=self.units, precision=self.precision,
                              limits=self.limits, doc=rate_doc)
            ramping = pvproperty(name=f"{name}_RAMPING", dtype=RampState, read_only=True,
                                 doc=f"Whether {what} is ramping")
        stop = pvproperty(name=f"{name}_RAMP_STOP", dtype=RampStop, put=_stop_putter(attr),
                          doc=f"Put Stop to end the ramp of {what} where it is now")
        return {f"{attr}_ramp_rate": rate, f"{attr}_ramping": ramping,
                f"{attr}_ramp_stop": stop}


def _stop_putter(attr: str) -> Any:
    async def put_stop(group: Any, instance: Any, value: Any) -> Any:
        bound = group.bound_pvs.get(attr)
        if value in ("Stop", 1, RampStop.Stop) and bound is not None and bound.ramp:
            await bound.ramp.stop()
        return RampStop.Ready.name

    return put_stop


class RampRunner:
    """Runs the ramps of one bound setpoint (see :class:`Ramp`).

    Args:
        ramp: the declaration.
        setpoint: the setpoint's BoundPV (its ``readback`` is read when a device ramp stops).
        rate: the ``<NAME>_RAMP_RATE`` channel. ramping: the ``<NAME>_RAMPING`` channel.
        status: the device's ramp status node (by device), else ``None``.
    """

    def __init__(self, ramp: Ramp, setpoint: Any, rate: Any, ramping: Any,
                 status: Any = None):
        self.ramp = ramp
        self.setpoint = setpoint
        self.rate = rate
        self.ramping = ramping
        self.status = status
        self._generation = 0  # counts moves; a newer move takes over from an older one
        self._stopped = 0  # the generation that :meth:`stop` ended
        self.active = False

    @property
    def takes_time(self) -> bool:
        """Whether a move now runs as a ramp (by the device, or at a rate above 0); else it
        writes the target at once."""
        return self.ramp.by_the_device or float(self.rate.value) > 0

    async def move(self, target: float) -> Optional[float]:
        """Ramp the device's setpoint to ``target``; return where it ended.

        Returns when the target is reached, :meth:`stop` is called (the value reached), or
        a newer :meth:`move` takes over (``None``: the newer put sets the PV).

        Raises:
            DeviceError: a write or a status read failed; the device's setpoint is where the
                last accepted write left it (by device: wherever its own ramp got to).
                Cancelling leaves it there too.
        """
        self._generation += 1
        mine = self._generation
        self.active = True
        try:
            if self.ramp.by_the_device:
                reached = await self._follow_device(target, mine)
            else:
                reached = await self._step(target, mine)
            return reached if self._generation == mine else None
        finally:
            if self._generation == mine:
                self.active = False
                await self._show(RampState.Idle)

    async def stop(self) -> None:
        """End the ramp in progress where it is now (nothing happens when none runs)."""
        if not self.active:
            return
        self._stopped = self._generation
        if self.ramp.by_the_device:  # the move ends when the device reports its ramp over
            source = self.setpoint.readback or self.setpoint
            here = await source.node.aget()
            await self.setpoint.node.aput(here)
            log.info("%s: ramp stopped at %s", self.setpoint.name, here)

    async def _step(self, target: float, mine: int) -> float:
        rate = float(self.rate.value) / self.ramp.per
        if rate <= 0:
            await self.setpoint.node.aput(target)
            return target
        start = float(await self.setpoint.node.aget())
        direction = 1.0 if target >= start else -1.0
        began = time.monotonic()
        value = start
        await self._show(RampState.Ramping)
        while value != target and self._running(mine):
            await _compat.sleep(self.ramp.interval)
            if not self._running(mine):
                break
            moved = rate * (time.monotonic() - began)
            value = target if moved >= abs(target - start) else start + direction * moved
            await self.setpoint.node.aput(value)
        return value

    async def _follow_device(self, target: float, mine: int) -> float:
        await self.setpoint.node.aput(target)
        while self._generation == mine:
            ramping = _truthy(await self.status.aget())
            await self._show(RampState.Ramping if ramping else RampState.Idle)
            if not ramping:
                break
            await _compat.sleep(self.ramp.interval)
        if self._stopped != mine:
            return target
        return float(await (self.setpoint.readback or self.setpoint).node.aget())

    def _running(self, mine: int) -> bool:
        """Whether move number ``mine`` is neither stopped nor replaced by a newer one."""
        return self._generation == mine and self._stopped != mine

    async def _show(self, state: RampState) -> None:
        if self.ramping.value != state.name:
            await self.ramping.write(state.name, verify_value=False)


def _truthy(reply: Any) -> bool:
    if isinstance(reply, str):
        reply = reply.strip()
        return reply not in ("", "0", "0.0") and reply.lower() not in ("false", "off", "idle")
    return bool(reply)
