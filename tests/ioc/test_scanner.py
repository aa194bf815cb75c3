"""DeviceScanner, exactly: a fake clock whose ``sleep`` only advances it, and a fake
``read_many`` over plain Python values, drive real BoundPVs of a real DeviceGroup.

The fake ``read_many`` is the scanner's collaborator (in the IOC it is
``iocgate.nodes.aread_many``); it records every batch with the clock time it started, and
can be told to take time (advance the clock), return error instances, or raise.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from caproto import AlarmSeverity, AlarmStatus

from iocgate import DeviceGroup, pvproperty
from iocgate._errors import DeviceRejected, DeviceTimeout, NodeAccessError
from iocgate.ioc._scanner import DeviceHealthSink, DeviceScanner, MissedScans


class StopScanning(Exception):
    """Raised by the fake sleep once the fake clock passes the test's end time."""


class FakeClock:
    """Monotonic seconds that move only when told; ``sleep`` advances them."""

    def __init__(self, end: float, start: float = 0.0):
        self.now = start
        self.end = end
        self.sleeps: List[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.now >= self.end:
            raise StopScanning


class Node:
    """A readable quantity of :class:`Instrument` (what a bound PV's node would be)."""

    def __init__(self, instrument: Instrument, key: str):
        self.instrument = instrument
        self.key = key


class Instrument:
    """Plain Python values standing in for a device, and the batched read that serves them
    (with the heartbeat a pass running past its period gets).

    Attributes:
        values: key -> value, or an exception instance returned in its place.
        batches: ``(clock time, [keys])`` of every ``read_many`` call, in order.
        read_times: seconds each successive call takes (the last one repeats).
        raise_on: call numbers (0-based) that raise instead of returning.
    """

    def __init__(self, clock: FakeClock, values: Dict[str, Any]):
        self.clock = clock
        self.values = dict(values)
        self.batches: List[Tuple[float, List[str]]] = []
        self.read_times: List[float] = [0.0]
        self.raise_on: Sequence[int] = ()
        self.hooks: Dict[int, Any] = {}  # call number -> called as that read starts
        self.late: List[float] = []  # heartbeats given, s into their pass

    def node(self, key: str) -> Node:
        return Node(self, key)

    async def read_many(self, nodes: List[Node], heartbeat: Any = None) -> List[Any]:
        call = len(self.batches)
        self.batches.append((self.clock.now, [node.key for node in nodes]))
        if call in self.hooks:
            self.hooks[call]()
        took = self.read_times[min(call, len(self.read_times) - 1)]
        if heartbeat is not None and took > heartbeat[0]:  # beats while the pass runs late
            period, beat = heartbeat
            for n in range(1, int(took // period) + 1):
                self.clock.now += period
                await beat(n * period)
                self.late.append(n * period)
            took -= int(took // period) * period
        self.clock.now += took
        if call in self.raise_on:
            raise RuntimeError("bug in read_many")
        return [self.values[node.key] for node in nodes]


class Meter(DeviceGroup):
    """Three scanned readings: A and B every second (the group default), C every 2 s."""

    scan_period = 1.0
    a = pvproperty(name="A", node=lambda dev: dev.node("a"), value=0.0, read_only=True)
    b = pvproperty(name="B", node=lambda dev: dev.node("b"), value=0, read_only=True)
    c = pvproperty(name="C", node=lambda dev: dev.node("c"), value=0.0, read_only=True,
                   period=2.0)


class RecordingHealth(DeviceHealthSink):
    def __init__(self) -> None:
        self.reports: List[Dict[str, Any]] = []

    async def report(self, *, connected: bool, errors: Sequence[BaseException],
                     overruns: int, duration: float) -> None:
        self.reports.append(dict(connected=connected, errors=list(errors), overruns=overruns,
                                 duration=duration))


def make_scanner(end: float, *, missed: MissedScans = MissedScans.SKIP,
                 health: Optional[DeviceHealthSink] = None, use_group_health: bool = False,
                 values: Optional[Dict[str, Any]] = None, start: float = 0.0
                 ) -> Tuple[DeviceScanner, Instrument, FakeClock, Meter]:
    clock = FakeClock(end, start)
    instrument = Instrument(clock, values or {"a": 1.5, "b": 7, "c": 2.5})
    group = Meter("M:", device=instrument)
    assert group.scanner is not None  # its items: the group's periods, all due at t=0
    scanner = DeviceScanner(group.scanner.items, instrument.read_many,
                            health=group if use_group_health else health, missed=missed,
                            clock=clock)
    return scanner, instrument, clock, group


def run(scanner: DeviceScanner, clock: FakeClock) -> None:
    async def main() -> None:
        try:
            await scanner.run(clock.sleep)
        except StopScanning:
            pass

    asyncio.run(main())


def test_all_due_items_go_to_one_read_many_call_at_their_own_rates():
    scanner, instrument, clock, group = make_scanner(end=3.5)
    run(scanner, clock)
    assert instrument.batches == [(0.0, ["a", "b", "c"]), (1.0, ["a", "b"]),
                                  (2.0, ["a", "b", "c"]), (3.0, ["a", "b"])]
    assert scanner.passes == 4 and scanner.overruns == 0
    assert (group.a.value, group.b.value, group.c.value) == (1.5, 7, 2.5)


def test_skip_policy_stays_on_the_period_grid_and_counts_overruns():
    scanner, instrument, clock, _ = make_scanner(end=10.0)
    instrument.values["c"] = 0.0
    for item in scanner.items:
        item.period = 1.0
    instrument.read_times = [2.5]  # every pass takes 2.5 periods
    run(scanner, clock)
    starts = [start for start, _ in instrument.batches]
    assert starts == [0.0, 3.0, 6.0, 9.0]  # missed passes dropped; still multiples of 1 s
    assert scanner.overruns == 4 == scanner.passes


def test_immediate_policy_runs_late_passes_back_to_back_then_catches_up():
    scanner, instrument, clock, _ = make_scanner(end=5.5, missed=MissedScans.IMMEDIATE)
    for item in scanner.items:
        item.period = 1.0
    instrument.read_times = [2.5, 0.0]  # only the first pass is slow
    run(scanner, clock)
    starts = [start for start, _ in instrument.batches]
    assert starts == [0.0, 2.5, 2.5, 3.0, 4.0, 5.0]  # the passes due at 1 and 2 run late
    assert scanner.overruns == 2
    assert not scanner.terminated


def test_restart_policy_runs_a_late_pass_at_once_then_counts_the_period_from_it():
    scanner, instrument, clock, _ = make_scanner(end=6.0, missed=MissedScans.RESTART)
    for item in scanner.items:
        item.period = 1.0
    instrument.read_times = [1.25, 0.0, 0.0, 1.5, 0.0]  # two slow passes, a little late each
    run(scanner, clock)
    starts = [start for start, _ in instrument.batches]
    # EPICS periodic scan: no pass waits for a grid point it missed (SKIP would wait to 2.0)
    assert starts == [0.0, 1.25, 2.25, 3.25, 4.75, 5.75]
    assert scanner.overruns == 2
    assert not scanner.terminated


def test_terminate_policy_stops_after_the_first_overrun():
    scanner, instrument, clock, _ = make_scanner(end=100.0, missed=MissedScans.TERMINATE)
    instrument.read_times = [1.5]
    run(scanner, clock)
    assert scanner.terminated
    assert scanner.passes == 1 and scanner.overruns == 1
    assert len(instrument.batches) == 1
    assert clock.now == 1.5  # returned by itself, without sleeping to the end


def test_a_pass_that_raises_is_logged_and_scanning_goes_on(caplog):
    scanner, instrument, clock, group = make_scanner(end=3.5)
    instrument.raise_on = (0,)  # the very first pass fails
    with caplog.at_level(logging.ERROR, logger="iocgate.ioc.scan"):
        run(scanner, clock)
    assert [start for start, _ in instrument.batches] == [0.0, 1.0, 2.0, 3.0]
    assert scanner.passes == 3  # the failed pass is not counted
    failed = [rec for rec in caplog.records if rec.getMessage() == "scan pass failed"]
    assert len(failed) == 1 and failed[0].exc_info[0] is RuntimeError
    assert group.a.value == 1.5  # published by the passes after the failure


def test_health_report_gets_link_state_errors_overruns_and_duration():
    health = RecordingHealth()
    timeout = DeviceTimeout(timeout=0.5, endpoint="sim")
    scanner, instrument, clock, group = make_scanner(end=3.0, health=health,
                                                     values={"a": timeout, "b": 3, "c": 1.0})
    instrument.read_times = [0.25, 1.5, 0.25]
    run(scanner, clock)
    assert instrument.batches == [(0.0, ["a", "b", "c"]), (1.0, ["a", "b"]), (2.5, ["c"])]
    assert health.reports == [
        dict(connected=False, errors=[timeout], overruns=0, duration=0.25),
        # overran: counted while it ran (SCAN_OVERRUNS moves before the pass ends)
        dict(connected=False, errors=[timeout], overruns=1, duration=1.5),
        dict(connected=True, errors=[], overruns=1, duration=0.25),
    ]
    # a failed read alarms its PV only and keeps the value; the others update
    assert group.a.value == 0.0
    assert (group.a.alarm.status, group.a.alarm.severity) == (
        AlarmStatus.TIMEOUT, AlarmSeverity.INVALID_ALARM)
    assert group.b.value == 3 and group.b.alarm.severity == AlarmSeverity.NO_ALARM


def test_a_refusal_is_an_error_but_the_link_stays_up():
    health = RecordingHealth()
    refused = DeviceRejected("-222,Data out of range")
    scanner, _, clock, group = make_scanner(end=0.5, health=health,
                                            values={"a": 1.0, "b": refused, "c": 1.0})
    run(scanner, clock)
    assert health.reports == [dict(connected=True, errors=[refused], overruns=0,
                                   duration=0.0)]
    assert group.b.alarm.status == AlarmStatus.COMM


def test_a_write_only_node_is_dropped_from_later_passes():
    scanner, instrument, clock, _ = make_scanner(
        end=1.5, values={"a": 1.0, "b": NodeAccessError("b is write-only"), "c": 1.0})
    run(scanner, clock)
    assert instrument.batches == [(0.0, ["a", "b", "c"]), (1.0, ["a"])]


def test_group_health_pvs_follow_the_reports():
    scanner, instrument, clock, group = make_scanner(end=1.5, use_group_health=True)
    instrument.read_times = [0.125]
    run(scanner, clock)
    assert group.connected.value == "Connected"
    assert (group.error_count.value, group.last_error.value) == (0, "")
    assert group.scan_time.value == pytest.approx(0.125)

    instrument.values["a"] = DeviceTimeout(timeout=0.5, endpoint="sim")  # the link drops
    clock.end = 3.5
    run(scanner, clock)  # passes at 2 (a, b, c) and 3 (a, b)
    assert group.connected.value == "Disconnected"
    assert (group.connected.alarm.status, group.connected.alarm.severity) == (
        AlarmStatus.COMM, AlarmSeverity.MAJOR_ALARM)
    assert group.error_count.value == 2
    assert "no reply within 0.5 s" in group.last_error.value

    instrument.values["a"] = 4.0  # the device answers again
    instrument.read_times = [2.5]  # ... slowly: one overrun
    clock.end = 7.5  # passes at 4 and 7, each counted late while it runs
    run(scanner, clock)
    assert group.connected.value == "Connected"
    assert group.connected.alarm.severity == AlarmSeverity.NO_ALARM
    assert group.last_error.value == ""
    assert group.error_count.value == 2 and group.scan_overruns.value == 2
    assert group.scan_time.value == pytest.approx(2.5)
    assert group.a.value == 4.0 and group.a.alarm.severity == AlarmSeverity.NO_ALARM


def test_a_device_down_from_the_start_alarms_connected():
    scanner, _, clock, group = make_scanner(
        end=0.5, use_group_health=True,
        values={"a": DeviceTimeout(timeout=0.5), "b": 1, "c": 1.0})
    run(scanner, clock)
    assert group.connected.value == "Disconnected"  # its initial value, now in alarm
    assert (group.connected.alarm.status, group.connected.alarm.severity) == (
        AlarmStatus.COMM, AlarmSeverity.MAJOR_ALARM)


def test_a_fresh_group_scanner_counts_no_overrun():
    scanner, instrument, clock, _ = make_scanner(start=5000.0, end=5002.5)
    run(scanner, clock)
    assert [start for start, _ in instrument.batches] == [5000.0, 5001.0, 5002.0]
    assert scanner.overruns == 0


def test_no_items_returns_at_once():
    clock = FakeClock(end=1.0)
    scanner = DeviceScanner([], Instrument(clock, {}).read_many, health=None, clock=clock)
    run(scanner, clock)
    assert scanner.passes == 0 and clock.sleeps == []


def test_last_error_and_log_name_the_cause_of_a_failed_connection(caplog):
    from iocgate.testing import free_port
    from iocs.power_supply import PowerSupplyIOC

    config = PowerSupplyIOC.device_config
    device = config.open({"host": "127.0.0.1", "port": free_port()}, timeout=0.5)
    group = PowerSupplyIOC(device=device)  # nothing listens there: connection refused
    assert group.scanner is not None
    caplog.set_level(logging.WARNING, logger="iocgate.ioc")
    try:
        asyncio.run(group.scanner.scan_once(group.scanner.items))
    finally:
        device.endpoint.close()
    assert group.connected.value == "Disconnected"
    assert "cannot connect" in group.last_error.value, group.last_error.value
    assert any("cannot connect" in record.getMessage() for record in caplog.records)


def test_a_new_default_period_applies_from_the_next_pass_and_spares_own_periods():
    scanner, instrument, clock, _ = make_scanner(end=4.2)
    instrument.hooks[1] = lambda: scanner.set_default_period(0.5)  # during the pass at 1 s
    run(scanner, clock)
    assert instrument.batches == [
        (0.0, ["a", "b", "c"]), (1.0, ["a", "b"]), (1.5, ["a", "b"]),
        (2.0, ["a", "b", "c"]), (2.5, ["a", "b"]), (3.0, ["a", "b"]), (3.5, ["a", "b"]),
        (4.0, ["a", "b", "c"])]
    with pytest.raises(ValueError):
        scanner.set_default_period(0.0)


def test_scan_time_and_overruns_show_a_late_pass_while_it_runs():
    scanner, instrument, clock, group = make_scanner(end=3.5, use_group_health=True)
    instrument.read_times = [2.5, 0.0]
    seen = []
    instrument.hooks[0] = lambda: seen.append("start")
    original = group.report_late

    async def report_late(**kw):
        await original(**kw)
        seen.append((group.scan_overruns.value, group.scan_time.value))

    group.report_late = report_late
    run(scanner, clock)
    assert seen == ["start", (1, 1.0), (1, 2.0)]  # while the 2.5 s pass still ran
    assert scanner.overruns == 1  # counted once, not again when the pass ended
    assert group.scan_time.value == 0.0  # the quick pass after it
