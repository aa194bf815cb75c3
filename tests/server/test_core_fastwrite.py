"""The scalar put fast path (``iocgate.server._fastwrite``) against caproto's own write.

Two twin pvdbs are served by two sans-I/O servers. On one every entry keeps its FastWriter;
on the other it is removed, so every put runs caproto's ``ChannelData.write``. The same
put sequence (in range, refused by control limits, NaN, crossing HIGH/HIHI/LOW/LOLO both
ways, inside and outside deadbands, WRITE and WRITE_NOTIFY) goes to both, with monitors
of several types and masks, under one fake clock. Replies, monitor events (bytes, so
timestamps included; per subscription, as caproto itself orders the subscriptions of one
update by a hash of object ids), value, alarm and cached status must be identical after
every put.
"""

from __future__ import annotations

import logging
import math
import struct
import time
from typing import Dict, List, Tuple

import pytest
from caproto import ChannelDouble, ChannelFloat, ChannelInteger, ChannelShort, ChannelType
from caproto._dbr import timestamp_to_epics
from caproto.server import PVGroup, pvproperty
from hypothesis import given, settings, strategies as st
from rawca import frame

from iocgate.ioc._channels import TYPE_MAP, _NumericFromString, _RefuseCleanly
from iocgate.server import Circuit, ServerCore, _wire as wire, register_plain_write
from iocgate.server._fastwrite import epics_time

LIMITS = dict(upper_ctrl_limit=10.0, lower_ctrl_limit=-10.0, upper_alarm_limit=8.0,
              lower_alarm_limit=-8.0, upper_warning_limit=5.0, lower_warning_limit=-5.0)
DOUBLES = [0.0, 1.0, 1.5, 3.0, 5.0, 6.0, 8.0, 9.9, 10.0, 10.5, 7.0, 4.0, 0.0, -5.0, -6.0,
           -8.0, -9.0, -11.0, float("nan"), -4.9, 2.0, 2.2, 2.0, float("inf"), 0.25, 0.0]
DBE_VALUE, DBE_LOG, DBE_ALARM = 1, 2, 4
# (data type, mask) of the monitors on every PV: native and TIME (the fast encoder), the
# other metadata classes and a foreign type (caproto's _read), masks VALUE/LOG/ALARM.
MONITORS = [(None, DBE_VALUE | DBE_ALARM), ("TIME", DBE_VALUE), ("TIME", DBE_LOG),
            ("TIME", DBE_ALARM), ("CTRL", DBE_VALUE | DBE_ALARM), ("GR", DBE_LOG),
            ("STS", DBE_VALUE), (ChannelType.STRING, DBE_VALUE | DBE_LOG | DBE_ALARM),
            (ChannelType.TIME_DOUBLE, DBE_VALUE)]


class Group(PVGroup):
    REC = pvproperty(value=0.0, record="ai", value_atol=0.5, log_atol=2.0, **LIMITS)
    PLAIN = pvproperty(value=0.0, **LIMITS)
    LONG = pvproperty(value=0, dtype=int, upper_alarm_limit=100, lower_alarm_limit=-100)


class IocGroup(PVGroup):
    """PVs of iocgate's IOC layer (write verifies first, then caproto's write)."""

    NUM = pvproperty(value=0.0, dtype=TYPE_MAP[float], **LIMITS)


def make_pvdb() -> Dict[str, object]:
    pvdb = dict(Group(prefix="G:").pvdb)
    pvdb.update(IocGroup(prefix="I:").pvdb)
    pvdb["D"] = ChannelDouble(value=0.0, value_atol=1.0, **LIMITS)
    pvdb["L"] = ChannelInteger(value=0, upper_warning_limit=50, lower_warning_limit=-50)
    pvdb["S"] = ChannelShort(value=0, upper_ctrl_limit=1000, lower_ctrl_limit=-1000)
    pvdb["F"] = ChannelFloat(value=0.0, log_atol=0.75, **LIMITS)
    return pvdb


class Clock:
    """Stands in for ``time.time``; each put sets the time both twins see."""

    now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(time, "time", fake)
    return fake


@pytest.fixture(scope="module", autouse=True)
def ioc_layer_writes():
    register_plain_write(_RefuseCleanly.write)
    register_plain_write(_NumericFromString.write_from_dbr)


class Twin:
    """One sans-I/O server with a writer and a monitoring circuit on every PV."""

    def __init__(self, fast: bool):
        self.pvdb = make_pvdb()
        self.core = ServerCore(self.pvdb, spawn=_run_now)
        self.writer = Circuit(self.core, ("127.0.0.1", 1))
        self.monitor = Circuit(self.core, ("127.0.0.1", 2))
        self.sids: Dict[str, int] = {}
        self.fast_puts = self.again_puts = 0
        for cid, pv in enumerate(self.pvdb, 1):
            request = frame(wire.CREATE_CHAN, pv.encode() + b"\0", 0, 0, cid, 13)
            reply = b"".join(self.writer.receive(request))
            self.sids[pv] = wire.HEADER.unpack_from(reply, 16)[5]
            self.monitor.receive(request)
            entry = self.writer.channels[self.sids[pv]].entry
            if not fast:
                entry.fast = None
            elif entry.fast is not None:
                entry.fast.write = self._counting(entry.fast.write)
        self.subscribe_all(0)

    def subscribe_all(self, first_id: int) -> list:
        """Add every MONITORS subscription again to every PV; the initial events, sorted."""
        out: List[bytes] = []
        for cid, pv in enumerate(self.pvdb, 1):
            native = int(self.pvdb[pv].data_type)
            for n, (kind, mask) in enumerate(MONITORS):
                out += self.monitor.receive(frame(
                    wire.EVENT_ADD, struct.pack(">fffH", 0, 0, 0, mask),
                    _monitor_type(native, kind), 1, self.sids[pv], first_id + cid * 100 + n))
        events = _by_subscription(b"".join(out + self.monitor.take_output()))
        assert len(events) == len(self.pvdb) * len(MONITORS)
        return events

    def _counting(self, write):
        def counted(value, core, again: bool = False) -> bool:
            done = write(value, core, again)
            self.fast_puts += done
            self.again_puts += done and again
            return done
        return counted

    def put(self, pv: str, value, notify: bool, ioid: int) -> Tuple[bytes, list, tuple]:
        if isinstance(time.time, Clock):
            time.time.now = 1_700_000_000.0 + ioid * 1.2345
        return self.receive(pv, self.put_frame(pv, value, notify, ioid))

    def put_frame(self, pv: str, value, notify: bool, ioid: int) -> bytes:
        dbr = int(self.pvdb[pv].data_type)
        fmt = {ChannelType.DOUBLE: ">d", ChannelType.LONG: ">i", ChannelType.INT: ">h",
               ChannelType.FLOAT: ">f"}[dbr]
        command = wire.WRITE_NOTIFY if notify else wire.WRITE
        return frame(command, struct.pack(fmt, value), dbr, 1, self.sids[pv], ioid)

    def receive(self, pv: str, requests: bytes) -> Tuple[list, list, tuple]:
        """Hand ``requests`` to the writer in one piece; its replies and the monitor's
        events (per subscription) and the state of ``pv`` after them."""
        data = self.pvdb[pv]
        replies = _by_subscription(b"".join(self.writer.receive(requests)
                                            + self.writer.take_output()))
        events = _by_subscription(b"".join(self.monitor.take_output()))
        state = (_same_nan(data.value), type(data.value), data.alarm.status,
                 data.alarm.severity, data.alarm.severity_to_acknowledge,
                 data._data["timestamp"].secondsSinceEpoch, data._data["timestamp"].nanoSeconds,
                 data.status, data.severity, data._status)
        return replies, events, state


def _by_subscription(stream: bytes) -> list:
    """Events in order per subscription id (caproto orders the subscriptions of one
    update by a set of specs hashed on object ids, which differs between twins)."""
    messages, consumed = wire.split_messages(stream, 1 << 20)
    assert consumed == len(stream)
    events = [(m[4], m[:4], bytes(m[6])) for m in messages]
    return sorted(events, key=lambda event: event[0])


def _monitor_type(native: int, kind) -> int:
    if kind is None:
        return native
    if isinstance(kind, str):
        return int(ChannelType[f"{kind}_{ChannelType(native).name}"])
    return int(kind)


def _same_nan(value):
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def _run_now(coro) -> None:
    """``spawn`` for these servers: a putter-less write never waits, so finish it here."""
    with pytest.raises(StopIteration):
        coro.send(None)


def _run(puts: List[Tuple[str, object]]) -> Tuple[Twin, Twin]:
    fast, slow = Twin(fast=True), Twin(fast=False)
    for ioid, (pv, value) in enumerate(puts):
        notify = ioid % 3 == 0
        got, want = fast.put(pv, value, notify, ioid), slow.put(pv, value, notify, ioid)
        assert got == want, f"put #{ioid} {pv}={value!r}"
    assert fast.subscribe_all(9000) == slow.subscribe_all(9000)  # initial values: current
    return fast, slow


def _sequence() -> List[Tuple[str, object]]:
    puts = [(pv, v) for pv in ("G:REC", "G:PLAIN", "D", "F") for v in DOUBLES]
    puts += [("I:NUM", v) for v in DOUBLES if not math.isinf(v)]
    puts += [("G:LONG", v) for v in (0, 5, 99, 100, 150, 20, -100, -101, 0, 0, 7)]
    puts += [("L", v) for v in (0, 49, 50, 51, -50, 0, 2**31 - 1, -2**31)]
    puts += [("S", v) for v in (0, 999, 1000, 1001, -1001, -1000, 12)]
    return puts


def test_fast_path_matches_caproto_write(clock):
    fast, slow = _run(_sequence())
    assert slow.fast_puts == 0
    # most puts change no alarm and are not refused: those took the fast path
    assert fast.fast_puts > len(_sequence()) // 2, fast.fast_puts


def test_fast_path_batched_puts_match_caproto_write(clock):
    """Consecutive puts to one PV received in one piece (a flood: the fast path checks
    once per run what does not depend on the value) give what caproto's write gives, also
    when a put in the run changes the alarm, another PV's put or a new subscription on
    the writing circuit comes in between, and a put of the run is refused."""
    fast, slow = Twin(fast=True), Twin(fast=False)
    values = (1.0, 2.0, 2.2, 6.0, 6.5, 9.0, 0.0, 11.0, 0.5, 0.75, float("nan"), 0.1)
    for twin in (fast, slow):
        rec, sid = twin.pvdb["G:REC"], twin.sids["G:REC"]
        requests = [twin.put_frame("G:REC", v, i % 4 == 0, i) for i, v in enumerate(values)]
        requests.insert(5, twin.put_frame("D", 3.0, True, 50))
        requests.insert(9, frame(wire.EVENT_ADD, struct.pack(">fffH", 0, 0, 0, DBE_VALUE),
                                 int(ChannelType.TIME_DOUBLE), 1, sid, 77))
        requests += [twin.put_frame("G:REC", v, False, 60 + i) for i, v in enumerate(
            (0.2, 0.3, 0.4))]
        twin.result = twin.receive("G:REC", b"".join(requests))
        assert rec.value == 0.4
    assert fast.result == slow.result
    assert fast.fast_puts >= 8 and fast.again_puts >= 4, (fast.fast_puts, fast.again_puts)


def test_fast_path_follows_record_severity_fields(clock):
    """HHSV/HSV of an ai record change the severity caproto assigns; the fast path must
    still agree when the severity fields are set or hold an unknown string."""
    fast, slow = Twin(fast=True), Twin(fast=False)
    for twin in (fast, slow):
        fields = twin.pvdb["G:REC"].field_inst
        fields.hihi_severity._data["value"] = "MINOR"
        fields.high_severity._data["value"] = "NO_ALARM"
    for ioid, value in enumerate((6.0, 9.0, 9.5, 7.0, 6.5, 0.0, 0.5)):
        assert fast.put("G:REC", value, True, ioid) == slow.put("G:REC", value, True, ioid)
    for twin in (fast, slow):
        twin.pvdb["G:REC"].field_inst.low_severity._data["value"] = "bogus"
    for ioid, value in enumerate((0.25, -6.0, 0.5), 10):
        assert fast.put("G:REC", value, False, ioid) == slow.put("G:REC", value, False, ioid)
    assert fast.fast_puts >= 3


def test_fast_path_not_taken_for_custom_write_paths():
    class Verified(ChannelDouble):
        async def verify_value(self, value):
            return value * 2

    class Custom(PVGroup):
        PUT = pvproperty(value=0.0)

        @PUT.putter
        async def PUT(self, instance, value):
            return value

    class FromDbr(ChannelDouble):
        async def write_from_dbr(self, *args, **kwargs):
            return await super().write_from_dbr(*args, **kwargs)

    names = ("V", "A", "C:PUT", "F", "OK")
    core = ServerCore({"V": Verified(value=0.0), "A": ChannelDouble(value=[1.0, 2.0]),
                       **Custom(prefix="C:").pvdb, "F": FromDbr(value=0.0),
                       "OK": ChannelDouble(value=0.0)})
    assert [core.db.resolve(pv).entry.fast is None for pv in names] == [
        True, True, True, True, False]
    with pytest.raises(ValueError):
        register_plain_write(Verified.verify_value)


def test_a_write_override_registered_after_its_class_was_checked_is_admitted():
    """The per-class verdict is cached; registering an override must renew it."""
    class Forwarding(ChannelDouble):
        async def write(self, *args, **kwargs):
            return await super().write(*args, **kwargs)

    assert ServerCore({"P": Forwarding(value=0.0)}).db.resolve("P").entry.fast is None
    register_plain_write(Forwarding.write)
    assert ServerCore({"P": Forwarding(value=0.0)}).db.resolve("P").entry.fast is not None


def test_debug_logging_putter_takes_slow_path(clock, caplog):
    """PVGroup.group_write logs each put at DEBUG; with that enabled the logs must match."""
    fast, slow = Twin(fast=True), Twin(fast=False)
    with caplog.at_level(logging.DEBUG, logger=fast.pvdb["G:PLAIN"].group.log.name):
        assert fast.put("G:PLAIN", 1.0, False, 1) == slow.put("G:PLAIN", 1.0, False, 1)
    assert fast.fast_puts == 0
    assert [r.getMessage() for r in caplog.records].count("group_write: PLAIN = 1.0") == 2
    assert fast.put("G:PLAIN", 2.0, False, 2) == slow.put("G:PLAIN", 2.0, False, 2)
    assert fast.fast_puts == 1


def test_second_server_on_same_pvdb_sees_fast_puts():
    """Two servers on one pvdb: a put through the first must not leave the second's read
    cache stale (the first declines the fast path once the second wrapped publish)."""
    pvdb = {"D": ChannelDouble(value=1.0)}
    first, second = ServerCore(pvdb), ServerCore(pvdb)
    reader, writer = Circuit(second, ("127.0.0.1", 1)), Circuit(first, ("127.0.0.1", 2))
    for circuit in (writer, reader):  # the first server's entry (and FastWriter) first
        circuit.receive(frame(wire.CREATE_CHAN, b"D\0", 0, 0, 1, 13))
    read = frame(wire.READ_NOTIFY, b"", ChannelType.DOUBLE, 1, 1, 5)
    assert b"".join(reader.receive(read))[-8:] == struct.pack(">d", 1.0)
    writer.receive(frame(wire.WRITE, struct.pack(">d", 2.5), ChannelType.DOUBLE, 1, 1, 6))
    assert b"".join(reader.receive(read))[-8:] == struct.pack(">d", 2.5)
    assert first.db.resolve("D").entry.fast is not None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["G:REC", "D", "I:NUM"]),
                          st.floats(min_value=-12, max_value=12)), min_size=1, max_size=25))
def test_random_put_sequences_match(puts):
    real_time = time.time
    time.time = Clock()
    try:
        _run(puts)
    finally:
        time.time = real_time


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=700_000_000, max_value=4_000_000_000),
       st.one_of(st.integers(0, 999_999).map(lambda us: (us + 0.5) / 1e6),
                 st.floats(min_value=0, max_value=1, exclude_max=True),
                 st.sampled_from([0.9999995, 0.99999949999, 0.0000005, 0.9999999999])))
def test_epics_time_matches_caproto(seconds, fraction):
    unix = seconds + fraction
    assert epics_time(unix) == timestamp_to_epics(unix)
