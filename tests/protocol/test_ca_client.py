"""The client's CA codec: requests and replies as byte tables (whole, byte by byte, with
trailing bytes), DBR payloads checked against caproto's independent encoder."""

from __future__ import annotations

import caproto as ca
import numpy
import pytest

from iocgate.protocol import _ca_client as m, _ca_dbr as dbr

# (request built by our formatter, the same request as caproto encodes it)
REQUESTS = [
    (m.version(0), ca.VersionRequest(priority=0, version=13)),
    (m.search("XX:ai1", 7), ca.SearchRequest(name="XX:ai1", cid=7, version=13)),
    (m.create_channel("XX:ai1", 7), ca.CreateChanRequest(name="XX:ai1", cid=7, version=13)),
    (m.read_notify(3, 9, 20, 0), ca.ReadNotifyRequest(data_type=20, data_count=0, sid=3,
                                                      ioid=9)),
    (m.write(3, 9, 6, 1, dbr.encode(6, [2.5])),
     ca.WriteNotifyRequest(data=[2.5], data_type=6, data_count=1, sid=3, ioid=9)),
    (m.write(3, 9, 0, 1, dbr.encode(0, ["ab"]), notify=False),
     ca.WriteRequest(data=[b"ab"], data_type=0, data_count=1, sid=3, ioid=9)),
    (m.event_add(3, 4, 20, 0), ca.EventAddRequest(data_type=20, data_count=0, sid=3,
                                                  subscriptionid=4, low=0, high=0, to=0,
                                                  mask=5)),
    (m.event_cancel(3, 4, 20, 0), ca.EventCancelRequest(data_type=20, sid=3,
                                                        subscriptionid=4)),
    (m.clear_channel(3, 7), ca.ClearChannelRequest(sid=3, cid=7)),
    (m.echo(), ca.EchoRequest()),
    (m.host_name("pc1"), ca.HostNameRequest(name="pc1")),
    (m.client_name("me"), ca.ClientNameRequest(name="me")),
]


@pytest.mark.parametrize("ours, theirs", REQUESTS, ids=lambda r: type(r).__name__)
def test_requests_match_caproto(ours, theirs):
    if isinstance(theirs, ca.SearchRequest):  # caproto asks for a NOT_FOUND; we do not
        assert ours[:4] == bytes(theirs)[:4] and ours[6:] == bytes(theirs)[6:]
        assert ours[4:6] == b"\x00\x05"
    else:
        assert ours == bytes(theirs)


BIG = numpy.arange(70000, dtype=float)
# (what the reader must return, the wire bytes a server sends, encoded by caproto)
REPLIES = [
    (m.Reply(m.VERSION, 1, 13, 1, 0, b""), ca.VersionResponse(version=13)),
    (m.Reply(m.SEARCH, 5064, 0, 0xFFFFFFFF, 7, b"\x00\x0d" + b"\0" * 6),
     ca.SearchResponse(port=5064, ip="255.255.255.255", cid=7, version=13)),
    (m.Reply(m.CREATE_CHAN, 6, 16, 7, 3, b""),
     ca.CreateChanResponse(data_type=6, data_count=16, cid=7, sid=3)),
    (m.Reply(m.ACCESS_RIGHTS, 0, 0, 7, 3, b""), ca.AccessRightsResponse(cid=7,
                                                                         access_rights=3)),
    (m.Reply(m.CREATE_CH_FAIL, 0, 0, 7, 0, b""), ca.CreateChFailResponse(cid=7)),
    (m.Reply(m.READ_NOTIFY, 6, 1, 1, 9, dbr.encode(6, [2.5])),
     ca.ReadNotifyResponse(data=[2.5], data_type=6, data_count=1, status=1, ioid=9)),
    (m.Reply(m.READ_NOTIFY, 6, 70000, 1, 9, dbr.encode(6, BIG)),
     ca.ReadNotifyResponse(data=BIG, data_type=6, data_count=70000, status=1, ioid=9)),
    (m.Reply(m.WRITE_NOTIFY, 6, 1, 160, 9, b""),
     ca.WriteNotifyResponse(data_type=6, data_count=1, status=160, ioid=9)),
    (m.Reply(m.EVENT_ADD, 5, 1, 1, 4, dbr.encode(5, [42])),
     ca.EventAddResponse(data=[42], data_type=5, data_count=1, status=1,
                         subscriptionid=4)),
    (m.Reply(m.SERVER_DISCONN, 0, 0, 7, 0, b""), ca.ServerDisconnResponse(cid=7)),
    (m.Reply(m.ECHO, 0, 0, 0, 0, b""), ca.EchoResponse()),
    (m.Reply(m.RSRV_IS_UP, 13, 5064, 12, 0x7F000001, b""),
     ca.Beacon(version=13, server_port=5064, beacon_id=12, address="127.0.0.1")),
]


def _expected(reply, wire):
    size = len(wire) - (24 if reply.count >= 0xFFFF else 16)
    payload = bytes(reply.payload).ljust(size, b"\0")
    return reply._replace(payload=payload)


@pytest.mark.parametrize("reply, command", REPLIES, ids=lambda r: type(r).__name__)
def test_reply_whole_bytewise_and_with_trailing_bytes(reply, command):
    wire = bytes(command)
    expected = _expected(reply, wire)
    replies, used = m.read_messages(wire)
    assert [r._replace(payload=bytes(r.payload)) for r in replies] == [expected]
    assert used == len(wire)
    # byte by byte (for a large message: every byte of its headers, then a few cuts):
    # nothing until the last byte, then the message
    cuts = range(1, len(wire) + 1) if len(wire) < 4096 else [
        *range(1, 64), len(wire) // 2, len(wire) - 1, len(wire)]
    for cut in cuts:
        replies, used = m.read_messages(wire[:cut])
        if cut < len(wire):
            assert (replies, used) == ([], 0)
    assert [r._replace(payload=bytes(r.payload)) for r in replies] == [expected]
    # trailing bytes of the next message stay unread
    replies, used = m.read_messages(wire + wire[:11])
    assert len(replies) == 1 and used == len(wire)


def test_oversized_payload_is_refused():
    wire = bytes(ca.ReadNotifyResponse(data=BIG, data_type=6, data_count=70000, status=1,
                                       ioid=9))
    with pytest.raises(ValueError, match="exceeds the limit"):
        m.read_messages(wire, max_payload=1000)


def test_error_reply_names_the_request():
    request = ca.WriteNotifyRequest(data=[1.0], data_type=6, data_count=1, sid=3, ioid=9)
    wire = bytes(ca.ErrorResponse(original_request=request, cid=7, status=160,
                                  error_message="put failed"))
    (reply,), _ = m.read_messages(wire)
    assert (reply.command, reply.p1, reply.p2) == (m.ERROR, 7, 160)
    assert m.error_text(reply) == (m.WRITE_NOTIFY, "put failed")
    assert m.error_request(reply)[:5] == (m.WRITE_NOTIFY, 6, 1, 3, 9)


def test_search_reply_version():
    (reply,), _ = m.read_messages(bytes(ca.SearchResponse(port=5, ip="1.2.3.4", cid=1,
                                                          version=13)))
    assert m.search_reply_version(reply) == 13 and reply.p1 == 0x01020304


# ---- DBR payloads: every family and type, decoded from caproto's encoding ---------------
_VALUES = {0: [b"hello"], 1: [-3, 4], 2: [1.5, -2.25], 3: [2], 4: [104, 105, 0],
           5: [-70000, 42], 6: [3.125, -1e300]}


def _caproto_payload(data_type, values, status=3, severity=2):
    plain = dbr.native(data_type)
    md = ca.DBR_TYPES[data_type]()
    names = {name for name, *_ in getattr(md, "_fields_", ())}
    if "status" in names:
        md.status, md.severity = status, severity
    if "secondsSinceEpoch" in names or "stamp" in names:
        md.stamp.secondsSinceEpoch, md.stamp.nanoSeconds = 1000, 500_000_000
    if "units" in names:
        md.units = b"mm"
    if "precision" in names:
        md.precision = 4
    if "upper_disp_limit" in names:
        md.upper_disp_limit = 9
        md.lower_alarm_limit = 1
    if "upper_ctrl_limit" in names:
        md.upper_ctrl_limit = 7
    if "strs" in names:
        md.enum_strings = [b"Off", b"On"]
    response = ca.ReadNotifyResponse(data=values, data_type=data_type,
                                     data_count=len(values), status=1, ioid=1,
                                     metadata=md if data_type > 6 else None)
    (reply,), _ = m.read_messages(bytes(response))
    return plain, reply


@pytest.mark.parametrize("data_type", [t for t in range(35)
                                       if not (21 <= t and t % 7 == 0)])
def test_dbr_decode_matches_caproto(data_type):
    plain, reply = _caproto_payload(data_type, _VALUES[data_type % 7])
    values, md = dbr.decode(reply.data_type, reply.count, reply.payload)
    expected = _VALUES[plain]
    if plain == dbr.DBR.STRING:
        assert values == [v.decode() for v in expected]
    elif len(expected) == 1:  # one number: a plain list, no numpy
        assert values == expected and type(values) is list
    else:
        assert values.tolist() == expected and values.dtype.isnative
    if data_type >= 7:
        assert (md["status"], md["severity"]) == (3, 2)
    if 14 <= data_type < 21:
        assert md["posixseconds"] == 1000 + dbr.EPICS_EPOCH and md["nanoseconds"] == 5e8
        assert md["timestamp"] == pytest.approx(1000.5 + dbr.EPICS_EPOCH)
    if data_type >= 21 and plain not in (dbr.DBR.STRING, dbr.DBR.ENUM):
        assert md["units"] == "mm" and md["upper_disp_limit"] == 9
        assert md["lower_alarm_limit"] == 1
        assert ("precision" in md) == (plain in (dbr.DBR.FLOAT, dbr.DBR.DOUBLE))
        assert md.get("upper_ctrl_limit", 7) == 7 and ("upper_ctrl_limit" in md) == (
            data_type >= 28)
    if data_type >= 21 and plain == dbr.DBR.ENUM:
        assert md["enum_strs"] == ("Off", "On")


def test_dbr_names_and_promotion():
    assert dbr.type_name(dbr.promote(dbr.DBR.DOUBLE, "time")) == "time_double"
    assert dbr.type_name(31) == "ctrl_enum" and dbr.type_name(1) == "short"
    with pytest.raises(ValueError, match="form must be"):
        dbr.promote(6, "fancy")
    with pytest.raises(ValueError, match="carries no value"):
        dbr.native(37)


def test_dbr_encode_refuses_what_the_type_cannot_hold():
    with pytest.raises(ValueError, match="longer than 39"):
        dbr.encode(0, ["x" * 40])
    with pytest.raises(TypeError, match="cannot write"):
        dbr.encode(6, ["abc"])
    assert dbr.encode(5, [2.0]) == b"\x00\x00\x00\x02"


def test_short_payload_is_a_clear_error():
    with pytest.raises(ValueError, match="shorter than"):
        dbr.decode(20, 1, b"\0" * 8)
