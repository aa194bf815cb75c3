"""Sans-I/O wire format of iocgate's CA server (``iocgate.server._wire``), as byte tables."""

from __future__ import annotations

import asyncio
import struct

import pytest
from caproto import ChannelDouble, ChannelInteger, ChannelType
from caproto.server import PVGroup, pvproperty

from iocgate.server import _wire as wire

H = struct.Struct(">HHHHII")

# (description, encoded by iocgate, expected bytes on the wire)
TABLE = [
    ("version reply", wire.VERSION_REPLY, H.pack(0, 0, 0, 13, 0, 0)),
    ("echo reply", wire.ECHO_REPLY, H.pack(23, 0, 0, 0, 0, 0)),
    ("small header", wire.header(15, 8, 6, 1, 1, 9), H.pack(15, 8, 6, 1, 1, 9)),
    ("extended by count", wire.header(15, 8, 6, 0x10000, 1, 9),
     H.pack(15, 0xFFFF, 6, 0, 1, 9) + struct.pack(">II", 8, 0x10000)),
    ("extended by size", wire.header(1, 0x10000, 4, 10, 1, 2),
     H.pack(1, 0xFFFF, 4, 0, 1, 2) + struct.pack(">II", 0x10000, 10)),
    ("search reply", wire.search_reply(5064, 7),
     H.pack(6, 8, 5064, 0, 0xFFFFFFFF, 7) + b"\x00\x0d" + b"\0" * 6),
    ("not found", wire.not_found_reply(13, 7), H.pack(14, 0, 10, 13, 7, 7)),
    ("beacon", wire.beacon(5064, 3, 0x7F000001), H.pack(13, 0, 13, 5064, 3, 0x7F000001)),
    ("string payload", wire.string_payload("abc"), b"abc\0\0\0\0\0"),
    ("string payload, 8 chars", wire.string_payload("abcdefgh"), b"abcdefgh" + b"\0" * 8),
    ("error", wire.error_message(H.pack(15, 0, 6, 1, 3, 4), 9, wire.ECA_BADCHID, "x"),
     H.pack(11, 24, 0, 0, 9, 410) + H.pack(15, 0, 6, 1, 3, 4) + b"x" + b"\0" * 7),
]


@pytest.mark.parametrize("encoded,expected", [t[1:] for t in TABLE], ids=[t[0] for t in TABLE])
def test_encoders(encoded, expected):
    assert encoded == expected


MESSAGES = [
    H.pack(0, 0, 0, 13, 0, 0),
    H.pack(18, 8, 0, 0, 1, 13) + b"X:DOUBLE\0"[:8],
    H.pack(15, 0, 6, 1, 1, 2),
    H.pack(4, 0xFFFF, 6, 0, 1, 0) + struct.pack(">II", 16, 2) + struct.pack(">dd", 1.5, 2.5),
]
STREAM = b"".join(MESSAGES)


def _split_incrementally(chunks):
    """Feed chunks as a circuit does: keep the unparsed rest, parse when enough arrived."""
    rest, found = b"", []
    for chunk in chunks:
        rest += chunk
        messages, used = wire.split_messages(rest, 1 << 20)
        found += [(m[0], m[1], m[2], m[3], m[4], m[5], bytes(m[6])) for m in messages]
        rest = rest[used:]
    return found, rest


def _expected():
    return [(0, 0, 13, 0, 0, 16, b""), (18, 0, 0, 1, 13, 16, b"X:DOUBLE"),
            (15, 6, 1, 1, 2, 16, b""), (4, 6, 2, 1, 0, 24, struct.pack(">dd", 1.5, 2.5))]


@pytest.mark.parametrize("mode", ["whole", "byte-by-byte", "with-trailing"])
def test_split_messages(mode):
    if mode == "whole":
        chunks = [STREAM]
    elif mode == "byte-by-byte":
        chunks = [STREAM[i:i + 1] for i in range(len(STREAM))]
    else:
        chunks = [STREAM + MESSAGES[3][:20]]
    found, rest = _split_incrementally(chunks)
    assert found == _expected()
    assert rest == (MESSAGES[3][:20] if mode == "with-trailing" else b"")


def test_split_refuses_oversized_payload():
    with pytest.raises(ValueError):
        wire.split_messages(H.pack(4, 0xFFFF, 6, 0, 1, 0) + struct.pack(">II", 10_000_000, 1),
                            1 << 20)


def test_parse_search_datagram():
    names = [b"A\0\0\0\0\0\0\0", b"LONGER:NAME\0\0\0\0\0"]
    datagram = H.pack(0, 0, 0, 13, 0, 0) + b"".join(
        H.pack(6, len(n), 10 if i else 5, 13, 100 + i, 100 + i) + n for i, n in enumerate(names))
    assert wire.parse_search(datagram) == (True, [("A", 5, 13, 100),
                                                  ("LONGER:NAME", 10, 13, 101)])
    assert wire.parse_search(datagram[:-3]) == (True, [("A", 5, 13, 100)])


class _Group(PVGroup):
    i16 = pvproperty(value=-3, dtype=ChannelType.INT)
    f32 = pvproperty(value=1.25, dtype=ChannelType.FLOAT)
    i32 = pvproperty(value=70000)
    f64 = pvproperty(value=2.5)


@pytest.mark.parametrize("dbr_type", [1, 2, 5, 6, 15, 16, 19, 20])
def test_scalar_shortcut_matches_caproto_read(dbr_type):
    """The shortcut for numeric scalars gives exactly the bytes of caproto's read path."""
    pvdb = _Group(prefix="S:").pvdb
    native = ChannelType(dbr_type if dbr_type < 7 else dbr_type - 14)
    data = next(d for d in pvdb.values() if d.data_type == native)
    metadata, values = asyncio.run(data.read(ChannelType(dbr_type)))
    assert wire.scalar_payload(data, dbr_type) == wire.dbr_payload(dbr_type, 1, metadata, values)


@pytest.mark.parametrize("data,dbr_type", [
    (ChannelDouble(value=1.0), 5),          # another type: needs conversion
    (ChannelDouble(value=1.0), 34),         # CTRL: needs metadata
    (ChannelDouble(value=[1.0, 2.0]), 6),   # array
    (ChannelInteger(value=2 ** 40), 5),     # out of range: caproto decides
])
def test_scalar_shortcut_declines(data, dbr_type):
    assert wire.scalar_payload(data, dbr_type) is None


def test_dbr_payload_pads_and_truncates_to_count():
    assert wire.dbr_payload(6, 3, b"", [1.0]) == struct.pack(">ddd", 1.0, 0, 0)
    assert wire.dbr_payload(6, 1, b"", [1.0, 2.0]) == struct.pack(">d", 1.0)
    assert wire.dbr_payload(0, 1, b"", [b"hi"]) == b"hi" + b"\0" * 38


def test_ctrl_string_metadata_is_sts_sized():
    """EPICS sends DBR_CTRL_STRING as dbr_sts_string: 4 bytes of status/severity, value."""
    data = ChannelDouble(value=1.0)
    metadata, values = asyncio.run(data.read(ChannelType.CTRL_STRING))
    payload = wire.dbr_payload(28, 1, metadata, values)
    assert len(payload) == 4 + 40 and payload[4:7] == b"1.0"


@pytest.mark.parametrize("data_type", [0, 7, 14, 21, 28, 6, 4])
@pytest.mark.parametrize("count", [1, 3, 5])
def test_put_values_match_caproto(data_type, count):
    from caproto._commands import extract_data

    rng = __import__("random").Random(data_type * 10 + count)
    payload = b"".join(bytes(rng.choice(b"ab\0") for _ in range(40)) for _ in range(count))
    for cut in (len(payload), len(payload) - 48):  # a short payload too
        mine, theirs = (wire.put_values(payload[:cut], data_type, count),
                        extract_data(payload[:cut], data_type, count))
        assert type(mine) is type(theirs) and list(mine) == list(theirs)
