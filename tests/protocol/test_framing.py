"""Framing parsers: each byte table runs whole, byte by byte, and with trailing bytes."""

from __future__ import annotations

import pytest

from iocgate.protocol import NEED_DATA, encode_line, take_line, take_until_prompt

TRAILING = b"NEXT\r\n>"

# (terminator, wire bytes, reply)
LINES = [
    (b"\n", b"2.5\n", b"2.5"),
    (b"\n", b"\n", b""),
    (b"\r\n", b"+295.123\r\n", b"+295.123"),
    (b"\r\n", b"a\rb\r\n", b"a\rb"),  # a lone CR is data when the terminator is CRLF
    (b"\r", b"OK\r", b"OK"),
    (b"\n", b'-222,"Data out of range"\n', b'-222,"Data out of range"'),
]

# (prompt, echo, wire bytes, reply)
PROMPTED = [
    (b">", b"VOLT?", b"VOLT?\r\n2.5\r\n>", b"2.5"),
    (b">", b"", b"2.5\r\n>", b"2.5"),
    (b"> ", b"STATUS", b"STATUS\r\nline 1\r\nline 2\r\n> ", b"line 1\r\nline 2"),
    (b">", b"SET 3", b"SET 3\r\n>", b""),
    (b"$ ", b"x", b"x\r\n$ ", b""),
]


def feed_bytewise(parse, wire: bytes):
    """Feed ``wire`` one byte at a time; every strict prefix must ask for more data."""
    for end in range(len(wire)):
        assert parse(wire[:end]) is NEED_DATA, wire[:end]
    return parse(wire)


@pytest.mark.parametrize("term, wire, reply", LINES)
def test_take_line_whole_bytewise_trailing(term, wire, reply):
    parse = lambda buf: take_line(buf, term)  # noqa: E731
    assert parse(wire) == (reply, b"")
    assert feed_bytewise(parse, wire) == (reply, b"")
    assert parse(wire + TRAILING) == (reply, TRAILING)


@pytest.mark.parametrize("prompt, echo, wire, reply", PROMPTED)
def test_take_until_prompt_whole_bytewise_trailing(prompt, echo, wire, reply):
    parse = lambda buf: take_until_prompt(buf, prompt, echo)  # noqa: E731
    assert parse(wire) == (reply, b"")
    assert feed_bytewise(parse, wire) == (reply, b"")
    assert parse(wire + b"junk") == (reply, b"junk")


def test_prompt_inside_echo_is_not_the_end():
    wire = b"A>B\r\n7\r\n>"
    assert take_until_prompt(wire[:4], b">", b"A>B") is NEED_DATA
    assert take_until_prompt(wire, b">", b"A>B") == (b"7", b"")


def test_empty_terminator_or_prompt_is_refused():
    with pytest.raises(ValueError):
        take_line(b"x", b"")
    with pytest.raises(ValueError):
        take_until_prompt(b"x", b"")


@pytest.mark.parametrize("text, term, wire", [
    ("VOLT 2.5", "\n", b"VOLT 2.5\n"), ("KRDG? A", "\r\n", b"KRDG? A\r\n"), ("", "\n", b"\n"),
])
def test_encode_line_is_the_inverse_of_take_line(text, term, wire):
    assert encode_line(text, term) == wire
    assert take_line(wire, term.encode()) == (text.encode(), b"")


def test_encode_line_refuses_unencodable_text():
    with pytest.raises(UnicodeEncodeError):
        encode_line("µA", "\n", "ascii")
    assert encode_line("µA", "\n", "utf-8") == "µA\n".encode()
