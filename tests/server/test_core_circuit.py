"""iocgate's sans-I/O circuit (``iocgate.server.Circuit``) driven with bytes, no sockets.

Every table case is fed whole and one byte at a time and must give the same reply bytes.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import List

import pytest
from caproto import AccessRights, ChannelDouble, ChannelInteger, ChannelString
from caproto.server import PVGroup, pvproperty

from iocgate import ioc
from iocgate.server import Circuit, ServerCore, _circuit, _pvdb, _wire as wire

H = struct.Struct(">HHHHII")
D = struct.Struct(">d")


def msg(command, data_type=0, count=0, p1=0, p2=0, payload=b"") -> bytes:
    payload += b"\0" * ((8 - len(payload) % 8) % 8)
    return H.pack(command, len(payload), data_type, count, p1, p2) + payload


def name(text: str) -> bytes:
    return text.encode() + b"\0"


class ReadOnly(ChannelDouble):
    def check_access(self, hostname, username):
        return AccessRights.READ


def make_pvdb():
    return {"D": ChannelDouble(value=2.5, units="mm"), "S": ChannelString(value="hi"),
            "L": ChannelInteger(value=0),
            "W": ChannelDouble(value=[1.0, 2.0, 3.0], max_length=5), "RO": ReadOnly(value=1.0)}


def feed(circuit: Circuit, data: bytes, mode: str) -> bytes:
    if mode == "whole":
        return b"".join(circuit.receive(data))
    return b"".join(b"".join(circuit.receive(data[i:i + 1])) for i in range(len(data)))


def connect(circuit: Circuit, pv: str, cid: int) -> int:
    reply = b"".join(circuit.receive(msg(18, 0, 0, cid, 13, name(pv))))
    assert H.unpack_from(reply, 16)[0] == 18, reply
    return H.unpack_from(reply, 16)[5]


def error(request: bytes, cid: int, status: int, text: str) -> bytes:
    return wire.error_message(request[:2] + b"\0\0" + request[4:16], cid, status, text)


CREATED = H.pack(22, 0, 0, 0, 1, 3) + H.pack(18, 0, 6, 1, 1, 1)
# (id, channels to create first, request, expected reply)
CASES = [
    ("version", [], msg(0, 0, 13), wire.VERSION_REPLY),
    ("echo", [], msg(23), wire.ECHO_REPLY),
    ("host and client name", [], msg(21, payload=b"host") + msg(20, payload=b"me"), b""),
    ("create", [], msg(18, 0, 0, 1, 13, name("D")), CREATED),
    ("create a field-less record name", [], msg(18, 0, 0, 1, 13, name("D.")), CREATED),
    ("create unknown", [], msg(18, 0, 0, 4, 13, name("nope")), H.pack(26, 0, 0, 0, 4, 0)),
    ("create read-only", [], msg(18, 0, 0, 2, 13, name("RO")),
     H.pack(22, 0, 0, 0, 2, 1) + H.pack(18, 0, 6, 1, 2, 1)),
    ("read double", ["D"], msg(15, 6, 1, 1, 77), H.pack(15, 8, 6, 1, 1, 77) + D.pack(2.5)),
    ("read twice (cached)", ["D"], msg(15, 6, 1, 1, 1) + msg(15, 6, 1, 1, 2),
     H.pack(15, 8, 6, 1, 1, 1) + D.pack(2.5) + H.pack(15, 8, 6, 1, 1, 2) + D.pack(2.5)),
    ("read as string", ["D"], msg(15, 0, 1, 1, 5),
     H.pack(15, 40, 0, 1, 1, 5) + b"2.5".ljust(40, b"\0")),
    ("deprecated READ", ["D"], msg(3, 6, 1, 1, 5), H.pack(3, 8, 6, 1, 1, 5) + D.pack(2.5)),
    ("array, count 0 is the current length", ["W"], msg(15, 6, 0, 1, 3),
     H.pack(15, 24, 6, 3, 1, 3) + struct.pack(">3d", 1, 2, 3)),
    ("array, count above length is zero-filled", ["W"], msg(15, 6, 5, 1, 3),
     H.pack(15, 40, 6, 5, 1, 3) + struct.pack(">5d", 1, 2, 3, 0, 0)),
    ("tcp search", [], msg(6, 10, 13, 5, 6, name("D")), H.pack(6, 0, 5064, 0, 0xFFFFFFFF, 6)),
    ("tcp search, unknown, DO_REPLY", [], msg(6, 10, 13, 5, 6, name("nope")),
     H.pack(14, 0, 10, 13, 5, 6)),
    ("tcp search, unknown, DONT_REPLY", [], msg(6, 5, 13, 5, 6, name("nope")), b""),
    ("read sync", [], msg(10, 0, 0, 3, 4), H.pack(10, 0, 0, 0, 3, 4)),
    ("string put into a double", ["D"], msg(19, 0, 1, 1, 8, b" 1e1 ".ljust(40, b"\0"))
     + msg(15, 6, 1, 1, 9), H.pack(19, 0, 0, 1, 1, 8) + H.pack(15, 8, 6, 1, 1, 9)
     + D.pack(10.0)),
    ("float text into a long", ["L"], msg(19, 0, 1, 1, 8, b"2.7".ljust(40, b"\0"))
     + msg(15, 5, 1, 1, 9), H.pack(19, 0, 0, 1, 1, 8) + H.pack(15, 8, 5, 1, 1, 9)
     + struct.pack(">i4x", 2)),
    ("text that is no number", ["L"], msg(19, 0, 1, 1, 8, b"abc".ljust(40, b"\0")),
     H.pack(19, 0, 0, 1, wire.ECA_PUTFAIL, 8)),
    ("integer text out of range", ["L"], msg(19, 0, 1, 1, 8, b"9" * 12 + b"\0" * 28),
     H.pack(19, 0, 0, 1, wire.ECA_PUTFAIL, 8)),
    ("read count too large", ["D"], msg(15, 6, 2, 1, 3),
     error(msg(15, 6, 2, 1, 3), 1, wire.ECA_BADCOUNT, "count too large")),
    ("write-notify then read", ["D"], msg(19, 6, 1, 1, 8, D.pack(7.0)) + msg(15, 6, 1, 1, 9),
     H.pack(19, 0, 6, 1, 1, 8) + H.pack(15, 8, 6, 1, 1, 9) + D.pack(7.0)),
    ("write without access", ["RO"], msg(4, 6, 1, 1, 8, D.pack(7.0)),
     error(msg(4, 6, 1, 1, 8), 1, wire.ECA_NOWTACCESS, "write refused")),
    ("write-notify without access", ["RO"], msg(19, 6, 1, 1, 8, D.pack(7.0)),
     H.pack(19, 0, 6, 1, wire.ECA_NOWTACCESS, 8)),
    ("clear channel", ["D"], msg(12, 0, 0, 1, 1), H.pack(12, 0, 0, 0, 1, 1)),
    ("subscribe and cancel", ["D"],
     msg(1, 6, 1, 1, 42, struct.pack(">fffH", 0, 0, 0, 5)) + msg(2, 6, 1, 1, 42),
     H.pack(1, 8, 6, 1, 1, 42) + D.pack(2.5) + H.pack(1, 0, 6, 1, 1, 42)),
]
# Cases after which the circuit is closing, as RSRV drops such clients (replies so far sent).
CLOSING = [
    ("read unknown sid", [], msg(15, 6, 1, 9, 3), b""),
    ("clear unknown sid", [], msg(12, 0, 0, 9, 3), b""),
    ("read bad type", ["D"], msg(15, 99, 1, 1, 3) + msg(23), b""),
    ("deprecated READ bad type", ["D"], msg(3, 99, 1, 1, 3),
     error(msg(3, 99, 1, 1, 3), 0, wire.ECA_BADTYPE, "bad DBR type")),
    ("write-notify bad type", ["D"], msg(19, 99, 1, 1, 3, D.pack(1.0)),
     H.pack(19, 0, 99, 1, wire.ECA_BADTYPE, 3)),
    ("subscribe bad type", ["D"], msg(1, 99, 1, 1, 3, struct.pack(">fffH", 0, 0, 0, 5)), b""),
    ("unknown command", [], msg(23) + msg(77, 1, 2, 3, 4) + msg(23),
     wire.ECHO_REPLY + error(msg(77, 1, 2, 3, 4), 0, wire.ECA_INTERNAL,
                             "invalid (damaged?) request code from TCP")),
    ("misaligned payload", [], H.pack(23, 3, 0, 0, 0, 0) + b"abc" + msg(23),
     error(H.pack(23, 3, 0, 0, 0, 0), 0, wire.ECA_INTERNAL, "misaligned protocol rejected")),
]


@pytest.mark.parametrize("mode", ["whole", "byte-by-byte"])
@pytest.mark.parametrize("channels,request_,expected,closes",
                         [c[1:] + (False,) for c in CASES] + [c[1:] + (True,) for c in CLOSING],
                         ids=[c[0] for c in CASES + CLOSING])
def test_table(channels, request_, expected, closes, mode):
    circuit = Circuit(ServerCore(make_pvdb()), ("127.0.0.1", 5))
    for cid, pv in enumerate(channels, start=1):
        connect(circuit, pv, cid)
    assert feed(circuit, request_, mode) == expected
    assert (circuit.closing is not None) == closes


def events(buffers: List[bytes]) -> List[float]:
    data, values = b"".join(buffers), []
    while data:
        command, size = H.unpack_from(data)[:2]
        assert command == 1
        values.append(D.unpack_from(data, 16)[0])
        data = data[16 + size:]
    return values


def _subscriber(core, mask=5):
    woken = []
    circuit = Circuit(core, ("127.0.0.1", 6), lambda: woken.append(1))
    sid = connect(circuit, "D", 1)
    first = circuit.receive(msg(1, 6, 1, sid, 42, struct.pack(">fffH", 0, 0, 0, mask)))
    assert events(first) == [2.5]
    return circuit, woken


def test_update_reaches_subscriber_and_wakes_it():
    core = ServerCore(make_pvdb())
    subscriber, woken = _subscriber(core)
    writer = Circuit(core, ("127.0.0.1", 7))
    sid = connect(writer, "D", 1)
    assert writer.receive(msg(4, 6, 1, sid, 0, D.pack(3.5))) == []
    assert woken and events(subscriber.take_output()) == [3.5]


@pytest.mark.parametrize("congested", [False, True])
def test_only_a_congested_subscriber_loses_updates_and_keeps_the_newest(congested):
    core = ServerCore(make_pvdb())
    subscriber, _ = _subscriber(core)
    subscriber.congested = congested
    writer = Circuit(core, ("127.0.0.1", 7))
    sid = connect(writer, "D", 1)
    writer.receive(b"".join(msg(4, 6, 1, sid, 0, D.pack(float(v))) for v in range(100)))
    held = subscriber.take_output(events=False)
    got = events(held + subscriber.take_output())
    if congested:
        assert held == [] and got == [96.0, 97.0, 98.0, 99.0]
        assert len(got) == _circuit.EVENT_QUEUE_DEPTH
    else:
        assert got == [float(v) for v in range(100)]


def test_events_off_then_on_resends_current_value():
    core = ServerCore(make_pvdb())
    subscriber, _ = _subscriber(core)
    assert subscriber.receive(msg(8)) == []
    writer = Circuit(core, ("127.0.0.1", 7))
    sid = connect(writer, "D", 1)
    writer.receive(msg(4, 6, 1, sid, 0, D.pack(4.0)) + msg(4, 6, 1, sid, 0, D.pack(5.0)))
    assert subscriber.take_output() == []
    assert events(subscriber.receive(msg(9))) == [5.0]


def test_masks_and_deadbands():
    pvdb = {"D": ChannelDouble(value=0.0, log_atol=1.0)}
    core = ServerCore(pvdb)
    subs = {mask: _subscriber_on(core, mask) for mask in (1, 2, 8)}
    writer = Circuit(core, ("127.0.0.1", 7))
    sid = connect(writer, "D", 1)
    for value in (0.5, 1.6, 1.7):
        writer.receive(msg(4, 6, 1, sid, 0, D.pack(value)))
    asyncio.run(pvdb["D"].write_metadata(units="V"))
    assert {m: events(c.take_output()) for m, c in subs.items()} == {
        1: [0.5, 1.6, 1.7], 2: [1.6], 8: [1.7]}


def _subscriber_on(core, mask):
    circuit = Circuit(core, ("127.0.0.1", 6))
    sid = connect(circuit, "D", 1)
    circuit.receive(msg(1, 6, 1, sid, 42, struct.pack(">fffH", 0, 0, 0, mask)))
    return circuit


def test_vanishing_subscriber_disturbs_nobody():
    core = ServerCore(make_pvdb())
    gone, _ = _subscriber(core)
    stays, _ = _subscriber(core)
    gone.close()
    gone.close()  # idempotent
    writer = Circuit(core, ("127.0.0.1", 7))
    sid = connect(writer, "D", 1)
    writer.receive(msg(4, 6, 1, sid, 0, D.pack(6.0)))
    assert events(stays.take_output()) == [6.0] and gone.take_output() == []
    stays.close()
    assert not core._subscribers  # every subscription released


class Slow(PVGroup):
    slow = pvproperty(value=0.0)
    fast = pvproperty(value=1.0)

    @slow.putter
    async def slow(self, instance, value):
        if value < 0:
            raise ValueError("negative")
        async with asyncio.timeout(5) if hasattr(asyncio, "timeout") else _Null():
            await asyncio.sleep(0.01)
        return value * 2


class _Null:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


def test_requests_after_a_putter_task_wait_for_it():
    """A putter runs in a task; the requests behind it on the circuit wait (arrival order),
    while another circuit is served at once."""
    async def main():
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        core = ServerCore(Slow(prefix="P:").pvdb, spawn=loop.create_task)
        circuit = Circuit(core, ("127.0.0.1", 5), done.set)
        other = Circuit(core, ("127.0.0.1", 6))
        slow, fast = connect(circuit, "P:slow", 1), connect(circuit, "P:fast", 2)
        first = circuit.receive(msg(19, 6, 1, slow, 1, D.pack(3.0)) + msg(15, 6, 1, slow, 2)
                                + msg(15, 6, 1, fast, 3))
        assert first == [] and circuit.busy
        assert b"".join(other.receive(msg(15, 6, 1, connect(other, "P:slow", 1), 9))) == \
            H.pack(15, 8, 6, 1, 1, 9) + D.pack(0.0)
        assert circuit.receive(msg(23)) == []  # still waiting: queued behind the put
        await asyncio.wait_for(done.wait(), 5)
        assert not circuit.busy
        assert b"".join(circuit.take_output()) == H.pack(19, 0, 6, 1, 1, 1) + \
            H.pack(15, 8, 6, 1, 1, 2) + D.pack(6.0) + H.pack(15, 8, 6, 1, 1, 3) + \
            D.pack(1.0) + wire.ECHO_REPLY
        done.clear()
        circuit.receive(msg(19, 6, 1, slow, 4, D.pack(-1.0)))
        await asyncio.wait_for(done.wait(), 5)
        assert b"".join(circuit.take_output()) == H.pack(19, 0, 6, 1, wire.ECA_PUTFAIL, 4)

    asyncio.run(main())


def test_oversized_request_closes_the_circuit():
    circuit = Circuit(ServerCore(make_pvdb(), max_array_bytes=16384), ("127.0.0.1", 5))
    assert circuit.receive(H.pack(4, 0xFFFF, 6, 0, 1, 0) + struct.pack(">II", 10_000_000, 1)) \
        == []
    assert circuit.closing is not None


def test_payload_cap_follows_the_largest_pv_whatever_the_environment():
    pvdb = make_pvdb()
    core = ServerCore(pvdb)  # EPICS_CA_AUTO_ARRAY_BYTES=YES: no limit from the environment
    assert core.max_payload == 5 * 40 + 80 + 16384  # W: 5 elements sent as strings
    pvdb["BIG"] = ChannelDouble(value=[0.0] * 1000, max_length=1000)
    assert core.max_payload == 1000 * 40 + 80 + 16384
    circuit = Circuit(core, ("127.0.0.1", 5))
    circuit.receive(H.pack(4, 0xFFFF, 6, 0, 1, 0) + struct.pack(">II", 2 ** 31, 1))
    assert circuit.closing is not None and circuit._have == 0  # nothing kept


def test_unconvertible_subscription_gets_getfail_once_logged(caplog):
    core = ServerCore(make_pvdb())
    circuit = Circuit(core, ("127.0.0.1", 5))
    sid = connect(circuit, "S", 1)
    requests = b"".join(msg(1, 6, 1, sid, i, struct.pack(">fffH", 0, 0, 0, 5))
                        for i in range(100, 300))
    with caplog.at_level("WARNING", logger="iocgate.server"):
        reply = b"".join(circuit.receive(requests))
    assert reply == b"".join(H.pack(1, 8, 6, 1, wire.ECA_GETFAIL, i) + bytes(8)
                             for i in range(100, 300))
    assert len(caplog.records) == 1
    assert not core._subscribers
    circuit.receive(msg(19, 0, 1, sid, 5, b"4.5".ljust(40, b"\0")))  # writes still work
    assert core.db.pvdb["S"].value == "4.5"
    caplog.clear()
    with caplog.at_level("WARNING", logger="iocgate.server"):
        circuit.close()
    assert [r.getMessage() for r in caplog.records] == [
        "client 127.0.0.1:5: 199 more failed subscriptions"]


def test_filter_names_do_not_grow_the_name_cache():
    core = ServerCore(make_pvdb())
    for i in range(_pvdb.MAX_DERIVED_NAMES + 500):
        assert core.db.resolve('W.{"arr":{"s":' + str(i % 3) + '}}') is not None
        assert core.db.exists('W.{"arr":{"s":0,"e":' + str(i) + '}}')
    assert len(core.db._derived) == _pvdb.MAX_DERIVED_NAMES


def test_pvdb_prepared_before_the_first_connect_and_later_pvs_when_asked():
    """The ServerCore sets up every pvdb PV when made (its Entry hooks the PV's publish),
    so no client's first connect pays for it; a PV added later is set up on first use."""
    pvdb = make_pvdb()
    core = ServerCore(pvdb)
    assert all("publish" in vars(data) for data in pvdb.values())
    pvdb["NEW"] = ChannelDouble(value=7.5)
    assert "publish" not in vars(pvdb["NEW"])
    circuit = Circuit(core, ("127.0.0.1", 1))
    sid = connect(circuit, "NEW", 1)
    assert "publish" in vars(pvdb["NEW"])
    reply = b"".join(circuit.receive(msg(15, 6, 1, sid, 9)))
    assert reply == msg(15, 6, 1, 1, 9, D.pack(7.5))


def test_search_replies_only_for_known_names_unless_asked():
    core = ServerCore(make_pvdb(), port=5999)
    datagram = msg(0, 0, 13) + msg(6, 5, 13, 1, 1, name("D")) + \
        msg(6, 5, 13, 2, 2, name("nope")) + msg(6, 10, 13, 3, 3, name("gone"))
    # Unknown names are never answered over UDP, even with DO_REPLY (RSRV: only over TCP).
    assert core.handle_datagram(datagram) == wire.VERSION_REPLY + wire.search_reply(5999, 1)
    assert core.handle_datagram(msg(6, 5, 13, 2, 2, name("nope"))) is None


def test_large_string_put_does_not_stall_the_server():
    """100,000 DBR_STRING values (``caput -a`` sends strings) into a double waveform: caproto's
    parser took about 6 s, during which the loop served no one."""
    count = 100_000
    pvdb = {"BIG": ChannelDouble(value=[0.0] * count, max_length=count)}
    circuit = Circuit(ServerCore(pvdb), ("127.0.0.1", 5))
    sid = connect(circuit, "BIG", 1)
    payload = b"".join(str(i).encode().ljust(40, b"\0") for i in range(count))
    started = time.perf_counter()
    reply = b"".join(circuit.receive(wire.header(19, len(payload), 0, count, sid, 7) + payload))
    elapsed = time.perf_counter() - started
    command, _, _, _, status, ioid = H.unpack_from(reply)
    assert (command, status, ioid) == (19, wire.ECA_NORMAL, 7), reply
    assert list(pvdb["BIG"].value[:3]) == [0.0, 1.0, 2.0]
    assert elapsed < 2.0, f"a 4 MB string put took {elapsed:.1f} s"


@pytest.mark.parametrize("count", [0, 1])
def test_stsack_string_of_an_empty_array(count):
    """DBR_STSACK_STRING of an empty waveform: an empty string, not an IndexError reply."""
    circuit = Circuit(ServerCore({"E": ChannelDouble(value=[], max_length=5)}), ("127.0.0.1", 5))
    sid = connect(circuit, "E", 1)
    reply = b"".join(circuit.receive(msg(15, 37, count, sid, 9)))
    command, size, data_type, _, status, ioid = H.unpack_from(reply)
    assert (command, data_type, status, ioid) == (15, 37, wire.ECA_NORMAL, 9), reply
    assert reply[16 + 8:16 + 9] == b"\0"  # the value field, after status/severity/ackt/acks


class Deferred(ioc.PVGroup):
    """A put that stores its value at once and completes when ``gate`` is set (as a ramp or
    a motor move): the IOC layer's ChannelData hands the completion to the circuit."""

    target = ioc.pvproperty(value=0.0, units="V", precision=1, doc="Completes on the gate")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()

    @target.putter
    async def target(self, instance, value):
        async def ends():
            await self.gate.wait()
            if value < 0:
                raise RuntimeError("the move failed")
        return ioc.PutCompletion(value, ends())


def test_a_deferred_put_frees_the_circuit_and_is_answered_when_it_completes():
    """The value is stored and a read right after it is answered (in order) while the put
    waits; the WRITE_NOTIFY reply comes when the completion ends, with its failure status."""
    async def main():
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        group = Deferred(prefix="P:")
        core = ServerCore(group.pvdb, spawn=loop.create_task)
        circuit = Circuit(core, ("127.0.0.1", 5), woken.set)
        sid = connect(circuit, "P:target", 1)
        for ioid, value, status in ((1, 3.0, wire.ECA_NORMAL), (3, -1.0, wire.ECA_PUTFAIL)):
            group.gate.clear()
            woken.clear()
            circuit.receive(msg(19, 6, 1, sid, ioid, D.pack(value))
                            + msg(15, 6, 1, sid, ioid + 1))
            await asyncio.wait_for(woken.wait(), 5)
            assert not circuit.busy
            assert b"".join(circuit.take_output()) == \
                H.pack(15, 8, 6, 1, 1, ioid + 1) + D.pack(value)  # read first, no notify
            woken.clear()
            group.gate.set()
            await asyncio.wait_for(woken.wait(), 5)
            assert b"".join(circuit.take_output()) == H.pack(19, 0, 6, 1, status, ioid)
        group.gate.clear()
        woken.clear()
        circuit.receive(msg(19, 6, 1, sid, 5, D.pack(4.0)))
        await asyncio.wait_for(woken.wait(), 5)  # stored: the circuit is free
        assert group.target.value == 4.0 and circuit.take_output() == []
        circuit.close()  # the client left before the put completed: nothing is sent
        woken.clear()
        group.gate.set()
        for _ in range(5):  # the completion task runs to its end
            await asyncio.sleep(0)
        assert circuit.take_output() == [] and not woken.is_set()

    asyncio.run(main())
