"""One scheduler per device: every read due in a period goes to the device in one batched
worker pass (no task per PV), and exceptions never stop it."""

from __future__ import annotations

import enum
import logging
import time
from typing import Any, Callable, List, Optional, Sequence

from .._errors import DeviceDisconnected, DeviceTimeout
from ._bound import BoundPV

log = logging.getLogger("iocgate.ioc.scan")


class MissedScans(str, enum.Enum):
    """What the scheduler does when a pass overruns a period (after QMI's loop tasks).

    IMMEDIATE: run the late passes at once, back to back, until caught up.
    SKIP: drop the missed passes and continue on the original period grid.
    TERMINATE: stop scanning; every scanned PV goes to a SCAN/INVALID alarm.
    """

    IMMEDIATE = "immediate"
    SKIP = "skip"
    TERMINATE = "terminate"


class ScanItem:
    __slots__ = ("bound", "period", "next_due")

    def __init__(self, bound: BoundPV, period: float, start: float):
        if not period > 0:
            raise ValueError(f"{bound.name}: scan period must be > 0 s, not {period!r}")
        self.bound = bound
        self.period = period
        self.next_due = start


class DeviceHealthSink:
    """Where the scheduler reports; the group's health PVs implement it."""

    async def report(self, *, connected: bool, errors: Sequence[BaseException],
                     overruns: int, duration: float) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class DeviceScanner:
    """Reads every scanned PV of one device at its period, batched per pass.

    Args:
        items: what to scan.
        read_many: ``await read_many(nodes)`` -> results aligned with nodes (value or the
            DeviceError instance); iocgate.nodes.aread_many.
        health: receives connection state, errors, overruns and pass durations.
        missed: the :class:`MissedScans` policy.
        clock: monotonic seconds (replaceable in tests).
    """

    def __init__(self, items: List[ScanItem], read_many: Callable[[list], Any],
                 health: Optional[DeviceHealthSink], missed: MissedScans = MissedScans.SKIP,
                 clock: Callable[[], float] = time.monotonic):
        self.items = items
        self._read_many = read_many
        self._health = health
        self.missed = MissedScans(missed)
        self._clock = clock
        self.overruns = 0
        self.passes = 0
        self.terminated = False

    async def run(self, sleep: Callable[[float], Any]) -> None:
        """Scan until cancelled (or terminated by the TERMINATE policy)."""
        if not self.items:
            return
        started = self._clock()
        for item in self.items:  # time before the scanner started is not an overrun
            item.next_due = max(item.next_due, started)
        while not self.terminated:
            now = self._clock()
            due = [item for item in self.items if item.next_due <= now]
            if due:
                try:
                    await self.scan_once(due)
                except Exception:  # a bug must not end scanning; say so loudly, go on
                    log.exception("scan pass failed")
                self._reschedule(due, self._clock())
            if self.terminated:
                break
            delay = min(item.next_due for item in self.items) - self._clock()
            await sleep(max(delay, 0.0))

    async def scan_once(self, due: Sequence[ScanItem]) -> None:
        """Read ``due`` in one batched pass and publish values or alarms."""
        readable = [item for item in due if item.bound.readable]
        tokens = [item.bound.scan_token() for item in readable]
        started = self._clock()
        results = await self._read_many([item.bound.node for item in readable])
        duration = self._clock() - started
        errors = []
        for item, token, result in zip(readable, tokens, results):
            if isinstance(result, PermissionError):  # a write-only node: never read again
                item.bound.readable = False
                continue
            error = await item.bound.apply(result, token)
            if error is not None:
                errors.append(error)
        self.passes += 1
        if self._health is not None:
            link_down = any(isinstance(err, (DeviceDisconnected, DeviceTimeout))
                            for err in errors)
            await self._health.report(connected=not link_down, errors=errors,
                                      overruns=self.overruns, duration=duration)

    def _reschedule(self, due: Sequence[ScanItem], now: float) -> None:
        overran = False
        for item in due:
            item.next_due += item.period
            if item.next_due > now:
                continue
            overran = True
            if self.missed is MissedScans.SKIP:
                missed = int((now - item.next_due) // item.period) + 1
                item.next_due += missed * item.period
        if overran:
            self.overruns += 1
            if self.missed is MissedScans.TERMINATE:
                self.terminated = True
                log.error("scan overran its period; terminating as configured")


