"""IEEE 488.2 arbitrary blocks: one byte table drives the parser (whole, byte by byte, with
trailing bytes) and the formatter."""

from __future__ import annotations

import struct

import numpy
import pytest

from iocgate.protocol import block_samples, format_block, take_block
from iocgate.testing import check_parser

TRAILING = b"#15extra\n"
FLOATS = struct.pack("<3f", 1.0, -0.5, 2.25)

# (terminator, wire bytes, payload); the definite-length ones also round-trip format_block
BLOCKS = [
    (b"\n", b"#15hello\n", b"hello"),
    (b"\n", b"#10\n", b""),
    (b"\n", b"#212" + FLOATS + b"\n", FLOATS),
    (b"\n", b"#15a\nb\nc\n", b"a\nb\nc"),  # terminators inside the payload are data
    (b"\n", b"#3010" + bytes(range(10)) + b"\n", bytes(range(10))),  # leading zero: valid
    (b"\r\n", b"#14\r\n#0\r\n", b"\r\n#0"),
    (b"", b"#15hello", b"hello"),
    (b"\n", b" \r\n#12ok\n", b"ok"),  # whitespace before '#' is skipped
    (b"\n", b"#0raw bytes\n", b"raw bytes"),  # indefinite length, up to the terminator
]


@pytest.mark.parametrize("term, wire, payload", BLOCKS)
def test_take_block_whole_bytewise_trailing(term, wire, payload):
    trailing = b"" if wire.startswith(b"#0") else TRAILING  # #0 runs to the terminator
    check_parser(lambda buf: take_block(buf, term), wire, payload, trailing)


CANONICAL = [b for b in BLOCKS if b[1][:2] != b"#0" and not b[1].startswith(b"#30")]


@pytest.mark.parametrize("term, wire, payload", CANONICAL)
def test_format_block_matches_the_table(term, wire, payload):
    assert format_block(payload) + term == wire.lstrip(b" \r\n")


@pytest.mark.parametrize("wire", [b"15hello\n", b"#x5hello\n", b"#2a5hello\n",
                                  b"#15helloX", b"+1.0E+00\n"])
def test_not_a_block(wire):
    with pytest.raises(ValueError):
        take_block(wire)


def test_samples():
    assert numpy.array_equal(block_samples(FLOATS), [1.0, -0.5, 2.25])
    assert numpy.array_equal(block_samples(struct.pack(">2h", -2, 300), ">i2"), [-2.0, 300.0])
    with pytest.raises(ValueError):
        block_samples(b"\x00\x01\x02", "<f4")
