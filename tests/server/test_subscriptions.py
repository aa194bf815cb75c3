"""Subscriptions: event masks, EVENTS_OFF/ON, cancel, count 0 on a dynamic array."""

from __future__ import annotations

import time
from typing import Dict, List

import pytest
import rawca
from rawca import DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE, Cmd

CTRL_DOUBLE = 34


def collect(circuit: rawca.Circuit, wanted: Dict[int, int], timeout: float = 5.0,
            settle: float = 0.3) -> Dict[int, List[rawca.Message]]:
    """Events by subscription id until each id in ``wanted`` has that many, then ``settle``
    seconds more (so that extra, unwanted events are caught too)."""
    got: Dict[int, List[rawca.Message]] = {subid: [] for subid in wanted}
    deadline = time.monotonic() + timeout
    while any(len(got[s]) < n for s, n in wanted.items()) and time.monotonic() < deadline:
        try:
            message = circuit.receive(deadline - time.monotonic())
        except TimeoutError:
            break
        if message.command == Cmd.EVENT_ADD:
            got.setdefault(message.p2, []).append(message)
    for message in circuit.quiet(settle):
        if message.command == Cmd.EVENT_ADD:
            got.setdefault(message.p2, []).append(message)
    return got


def event_values(messages: List[rawca.Message]) -> List[float]:
    return [float(rawca.decode(m.data_type, m.count, m.payload)[1][0]) for m in messages]


MASKS = (DBE_VALUE, DBE_LOG, DBE_ALARM, DBE_PROPERTY)
IGNORES_MASKS = "sends every event to every subscription, whatever its mask"


def subscribe_masks(circuit, writer, server):
    """DOUBLE set to 0.0, then one CTRL_DOUBLE subscription per mask, initial events drained."""
    wdouble = writer.create_channel(server.pv("DOUBLE"))
    assert writer.write(wdouble, [0.0]).p1 == rawca.ECA_NORMAL
    double = circuit.create_channel(server.pv("DOUBLE"))
    subs = {mask: circuit.subscribe(double, mask, CTRL_DOUBLE) for mask in MASKS}
    initial = collect(circuit, {s: 1 for s in subs.values()}, settle=0.1)
    assert all(len(initial[s]) == 1 for s in subs.values()), initial
    return wdouble, subs


@pytest.mark.servers(caproto_xfail=IGNORES_MASKS)
def test_value_log_and_alarm_masks(circuit, server):
    """Value (MDEL 0), log (ADEL 1) and alarm (HIGH 5 is MINOR) masks."""
    with rawca.Circuit(server.port) as writer:
        wdouble, subs = subscribe_masks(circuit, writer, server)
        for value in (0.5, 1.6, 6.0, 6.2, 0.0):
            assert writer.write(wdouble, [value]).p1 == rawca.ECA_NORMAL
    expected = {DBE_VALUE: [0.5, 1.6, 6.0, 6.2, 0.0], DBE_LOG: [1.6, 6.0, 0.0],
                DBE_ALARM: [6.0, 0.0], DBE_PROPERTY: []}
    got = collect(circuit, {subs[m]: len(v) for m, v in expected.items()})
    assert {m: event_values(got[subs[m]]) for m in expected} == expected
    severities = [rawca.decode(CTRL_DOUBLE, 1, m.payload)[0].severity
                  for m in got[subs[DBE_ALARM]]]
    assert severities == [1, 0]  # MINOR (HIGH), then NO_ALARM


@pytest.mark.servers(caproto_xfail=IGNORES_MASKS)
def test_property_mask(circuit, server):
    """A change of units reaches DBE_PROPERTY subscriptions only."""
    with rawca.Circuit(server.port) as writer:
        _, subs = subscribe_masks(circuit, writer, server)
        units = writer.create_channel(server.pv("DOUBLE.EGU" if server.kind == "softioc"
                                                else "EGU"))
        for unit in (b"um", b"mm"):
            assert writer.write(units, [unit.decode()], 0).p1 == rawca.ECA_NORMAL
            got = collect(circuit, {subs[DBE_PROPERTY]: 1})
            assert {m: len(got.get(subs[m], [])) for m in MASKS} == {
                DBE_VALUE: 0, DBE_LOG: 0, DBE_ALARM: 0, DBE_PROPERTY: 1}
            assert rawca.decode(CTRL_DOUBLE, 1, got[subs[DBE_PROPERTY]][0].payload)[0].units \
                == unit


def test_events_off_holds_events_until_on(circuit, server):
    chan = circuit.create_channel(server.pv("LONG"))
    with rawca.Circuit(server.port) as writer:
        wlong = writer.create_channel(server.pv("LONG"))
        assert writer.write(wlong, [0]).p1 == rawca.ECA_NORMAL
        subid = circuit.subscribe(chan, DBE_VALUE, 5)
        assert event_values(collect(circuit, {subid: 1}, settle=0.1)[subid]) == [0]
        circuit.send(rawca.frame(Cmd.EVENTS_OFF))
        circuit.echo()
        for value in (1, 2, 3):
            assert writer.write(wlong, [value]).p1 == rawca.ECA_NORMAL
        assert circuit.quiet(0.5) == []
        circuit.send(rawca.frame(Cmd.EVENTS_ON))
        got = event_values(collect(circuit, {subid: 1})[subid])
        assert got and got[-1] == 3 and got == sorted(got), got
        assert writer.write(wlong, [4]).p1 == rawca.ECA_NORMAL
        assert event_values(collect(circuit, {subid: 1})[subid]) == [4]


def test_cancel_is_acknowledged_and_stops_events(circuit, server):
    chan = circuit.create_channel(server.pv("LONG"))
    subid = circuit.subscribe(chan, DBE_VALUE)
    collect(circuit, {subid: 1}, settle=0.1)
    circuit.unsubscribe(chan, subid)
    ack = circuit.expect(Cmd.EVENT_ADD)
    assert ack.p2 == subid and ack.payload == b"", ack
    with rawca.Circuit(server.port) as writer:
        assert writer.write(writer.create_channel(server.pv("LONG")), [99]).p1 == 1
    assert circuit.quiet(0.3) == []


def test_count_zero_subscription_follows_the_length(circuit, server):
    dyn = circuit.create_channel(server.pv("DYN"))
    with rawca.Circuit(server.port) as writer:
        wdyn = writer.create_channel(server.pv("DYN"))
        assert writer.write(wdyn, [1.0, 2.0, 3.0]).p1 == rawca.ECA_NORMAL
        subid = circuit.subscribe(dyn, DBE_VALUE, 6, 0)
        first = collect(circuit, {subid: 1}, settle=0.1)[subid]
        assert [m.count for m in first] == [3]
        assert writer.write(wdyn, [7.0] * 5).p1 == rawca.ECA_NORMAL
        events = collect(circuit, {subid: 1})[subid]
        assert [m.count for m in events] == [5]
        assert list(rawca.decode(6, 5, events[0].payload)[1]) == [7.0] * 5
        assert writer.write(wdyn, [1.0, 2.0, 3.0]).p1 == rawca.ECA_NORMAL


def test_many_subscriptions_one_write(circuit, server):
    chan = circuit.create_channel(server.pv("LONG"))
    subids = [circuit.subscribe(chan, DBE_VALUE, 5) for _ in range(50)]
    collect(circuit, {s: 1 for s in subids}, settle=0.1)
    with rawca.Circuit(server.port) as writer:
        assert writer.write(writer.create_channel(server.pv("LONG")), [1234]).p1 == 1
    got = collect(circuit, {s: 1 for s in subids})
    assert all(event_values(got[s]) == [1234] for s in subids), got
