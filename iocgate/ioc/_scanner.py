"""One scheduler per device: every read due in a period goes to the device in one batched
worker pass (no task per PV), and exceptions never stop it."""

from __future__ import annotations

import enum
import logging
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Set

from .._errors import DeviceDisconnected, DeviceLinkDown, DeviceTimeout
from ._bound import BoundPV

log = logging.getLogger("iocgate.ioc.scan")


class MissedScans(str, enum.Enum):
    """What the scheduler does when a pass overruns a period (after QMI's loop tasks).

    IMMEDIATE: run the late passes at once, back to back, until caught up.
    SKIP: drop the missed passes and continue on the original period grid.
    RESTART: run one late pass at once, then count the period from it (an EPICS periodic
    scan thread's rule: passes run back to back while they take longer than the period, and
    no pass waits for a grid point it has missed).
    TERMINATE: stop scanning; every scanned PV goes to a SCAN/INVALID alarm.
    """

    IMMEDIATE = "immediate"
    SKIP = "skip"
    RESTART = "restart"
    TERMINATE = "terminate"


#: seconds the scheduler sleeps at most before looking at its items again (a new scan period
#: takes effect within this time even while a long sleep was due)
MAX_SLEEP = 0.5


class ScanItem:
    """One scanned PV: its period (s), whether that is the group's default (which
    ``SCAN_PERIOD`` changes), and when it is next due (monotonic s)."""

    __slots__ = ("bound", "period", "next_due", "follows_default", "endpoint")

    def __init__(self, bound: BoundPV, period: float, start: float,
                 follows_default: bool = False):
        if not period > 0:
            raise ValueError(f"{bound.name}: scan period must be > 0 s, not {period!r}")
        self.bound = bound
        self.period = period
        self.next_due = start
        self.follows_default = follows_default
        self.endpoint = getattr(bound.node, "endpoint", None)


class DeviceHealthSink:
    """Where the scheduler reports; the group's health PVs implement it."""

    async def report(self, *, connected: bool, errors: Sequence[BaseException],
                     overruns: int, duration: float) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    async def report_late(self, *, overruns: int, elapsed: float) -> None:
        """A pass is still running ``elapsed`` s after it started, past its period."""


class DeviceScanner:
    """Reads every scanned PV of one device at its period, batched per pass.

    Link state: the first timeout or lost link of a pass takes the endpoint down (see
    :mod:`iocgate.transports._endpoint`): the rest of the pass is not sent, and every PV on
    that endpoint goes to TIMEOUT (hung) or COMM (disconnected) / INVALID at once, with one
    fresh timestamp, as CONNECTED drops. While down, a pass sends one probe per backoff step
    and nothing else. When the link answers again, every PV on it is read in the next pass,
    whatever its own period.

    Args:
        items: what to scan.
        read_many: ``await read_many(nodes, heartbeat=...)`` -> results aligned with nodes
            (value or the DeviceError instance); iocgate.nodes.aread_many.
        health: receives connection state, errors, overruns and pass durations, and news of
            a pass running late while it runs.
        missed: the :class:`MissedScans` policy.
        clock: monotonic seconds (replaceable in tests).
        link_watchers: ``await watcher(error, stamp)`` when a link goes down, for PVs that
            poll the device themselves (e.g. a motor record's readback): they alarm in the
            same moment, with the same timestamp, as the scanned PVs.
    """

    def __init__(self, items: List[ScanItem], read_many: Callable[..., Any],
                 health: Optional[DeviceHealthSink], missed: MissedScans = MissedScans.RESTART,
                 clock: Callable[[], float] = time.monotonic,
                 link_watchers: Sequence[Callable[[BaseException, float], Any]] = ()):
        self.items = items
        self.link_watchers = list(link_watchers)
        self._read_many = read_many
        self._health = health
        self.missed = MissedScans(missed)
        self._clock = clock
        self.overruns = 0
        self.passes = 0
        self.terminated = False
        self._late_counted = False
        self._down: Set[Any] = set()  # endpoints whose link is down

    def set_default_period(self, period: float) -> None:
        """Make ``period`` (s) the period of every item that follows the group's default;
        the next pass of each comes ``period`` after its last one (at once if that passed).

        Raises:
            ValueError: ``period`` is not > 0.
        """
        if not period > 0:
            raise ValueError(f"scan period must be > 0 s, not {period!r}")
        for item in self.items:
            if item.follows_default:
                item.next_due += period - item.period
                item.period = period

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
            await sleep(min(max(delay, 0.0), MAX_SLEEP))

    async def scan_once(self, due: Sequence[ScanItem]) -> None:
        """Read ``due`` in one batched pass and publish values or alarms."""
        readable = [item for item in due if item.bound.readable]
        tokens = [item.bound.scan_token() for item in readable]
        period = min(item.period for item in due) if due else 1.0
        self._late_counted = False
        started = self._clock()
        results = await self._read_many([item.bound.node for item in readable],
                                        heartbeat=(period, self._running_late))
        duration = self._clock() - started
        stamp = time.time()  # one timestamp for every alarm this pass raises
        read_ok: Set[ScanItem] = set()
        link_errors: Dict[Any, BaseException] = {}
        errors = []
        for item, token, result in zip(readable, tokens, results):
            if isinstance(result, PermissionError):  # a write-only node: never read again
                item.bound.readable = False
                continue
            if isinstance(result, (DeviceDisconnected, DeviceTimeout)):
                if item.endpoint is not None:
                    link_errors.setdefault(item.endpoint, result)
            elif not isinstance(result, BaseException):
                read_ok.add(item)
            error = await item.bound.apply(result, token, stamp)
            if error is not None and not isinstance(error, DeviceLinkDown):
                errors.append(error)  # refusals without I/O are not device errors...
        if not errors:  # ... unless nothing else says why a link went down (a failed put)
            errors = [err for endpoint, err in link_errors.items()
                      if endpoint not in self._down][:1]
        up = {item.endpoint for item in read_ok if item.endpoint is not None}
        await self._link_changes(link_errors, up, read_ok, stamp)
        self.passes += 1
        if self._health is not None:
            await self._health.report(connected=not self._down and not any(
                isinstance(err, (DeviceDisconnected, DeviceTimeout)) for err in errors),
                errors=errors, overruns=self.overruns, duration=duration)

    async def _link_changes(self, link_errors: Dict[Any, BaseException], up: Set[Any],
                            read_ok: Set[ScanItem], stamp: float) -> None:
        """Alarm every PV of an endpoint that went down (also those read just before it
        did: their next read would only probe the link); make every PV of one that came
        back due now."""
        for endpoint, error in link_errors.items():
            if endpoint not in self._down:
                log.warning("%s: link down: %s", endpoint.name, error)
                self._down.add(endpoint)
                for watcher in self.link_watchers:
                    await watcher(error, stamp)
            for item in self.items:
                if item.endpoint is endpoint:
                    await item.bound.apply(error, None, stamp)
        now = self._clock()
        for endpoint in up - set(link_errors):
            if endpoint in self._down:
                log.info("%s: link up again; reading every PV on it", endpoint.name)
                self._down.discard(endpoint)
                for item in self.items:
                    if item.endpoint is endpoint and item not in read_ok:
                        item.next_due = min(item.next_due, now)

    async def _running_late(self, elapsed: float) -> None:
        """Heartbeat of a pass still running past its period."""
        if not self._late_counted:
            self._late_counted = True
            self.overruns += 1
        if self._health is not None:
            await self._health.report_late(overruns=self.overruns, elapsed=elapsed)

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
            elif self.missed is MissedScans.RESTART:
                item.next_due = now
        if overran:
            if not self._late_counted:  # not counted yet while the pass ran
                self.overruns += 1
            if self.missed is MissedScans.TERMINATE:
                self.terminated = True
                log.error("scan overran its period; terminating as configured")
