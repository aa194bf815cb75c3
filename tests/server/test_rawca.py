"""The raw test client's own framing, checked against wire bytes and caproto's encoder."""

from __future__ import annotations

import caproto
import pytest
import rawca
from rawca import Cmd

# (what, frame arguments, wire bytes): one table drives the formatter and the parser.
CASES = [
    ("echo", (Cmd.ECHO,), bytes.fromhex("0017 0000 0000 0000 00000000 00000000")),
    ("version", (Cmd.VERSION, b"", 0, 13), bytes.fromhex("0000 0000 0000 000d 00000000 00000000")),
    ("read", (Cmd.READ_NOTIFY, b"", 6, 10, 3, 7),
     bytes.fromhex("000f 0000 0006 000a 00000003 00000007")),
    ("create", (Cmd.CREATE_CHAN, b"X:A\0", 0, 0, 1, 13),
     bytes.fromhex("0012 0008 0000 0000 00000001 0000000d") + b"X:A\0\0\0\0\0"),
    ("extended", (Cmd.WRITE, b"\1" * 0x10000, 6, 0x2000, 3, 4),
     bytes.fromhex("0004 ffff 0006 0000 00000003 00000004 00010000 00002000") + b"\1" * 0x10000),
]


@pytest.mark.parametrize("what,args,wire", CASES, ids=[c[0] for c in CASES])
def test_frame_and_parse(what, args, wire):
    assert rawca.frame(*args) == wire
    for data in (wire, wire + b"\0\x17"):  # whole, and with trailing bytes left unread
        messages, rest = rawca.parse(data)
        assert len(messages) == 1 and rest == data[len(wire):]
        assert messages[0].command == args[0]
    buffer, messages = b"", []
    for i in range(0, len(wire), 7 if what == "extended" else 1):  # a few bytes at a time
        got, buffer = rawca.parse(buffer + wire[i:i + (7 if what == "extended" else 1)])
        messages += got
    assert len(messages) == 1 and buffer == b""


def test_agrees_with_caproto_encoder():
    ours = rawca.frame(Cmd.READ_NOTIFY, b"", 20, 5, 11, 12)
    theirs = bytes(caproto.ReadNotifyRequest(data_type=20, data_count=5, sid=11, ioid=12))
    assert ours == theirs
    ours = rawca.frame(Cmd.SEARCH, b"X:DOUBLE\0", rawca.DONT_REPLY, 13, 9, 9)
    theirs = bytes(caproto.SearchRequest("X:DOUBLE", 9, 13))
    assert ours == theirs


def test_payload_sizes_follow_db_access_h():
    assert rawca.payload_size(34, 1) == 80 + 8  # dbr_ctrl_double: metadata + value
    assert rawca.payload_size(28, 1) == 44  # dbr_ctrl_string is dbr_sts_string
    assert rawca.payload_size(20, 3) == 16 + 24  # dbr_time_double, 3 elements
    assert rawca.payload_size(37, 1) == 48  # dbr_stsack_string
    meta, values = rawca.decode(6, 2, bytes.fromhex("3ff0000000000000 4000000000000000"))
    assert meta is None and list(values) == [1.0, 2.0]
