"""Checks for sans-I/O parsers (``parse(buffer) -> (result, rest) | NEED_DATA``)."""

from __future__ import annotations

from typing import Any, Callable

from ..protocol import NEED_DATA


def check_parser(parse: Callable[[bytes], Any], wire: bytes, expected: Any,
                 trailing: bytes = b"") -> None:
    """Assert that ``parse`` takes ``expected`` from ``wire`` whole, fed one byte at a time
    (every strict prefix must ask for more data), and with ``trailing`` bytes after it (which
    must stay unread)."""
    assert parse(wire) == (expected, b""), wire
    for end in range(len(wire)):
        assert parse(wire[:end]) is NEED_DATA, wire[:end]
    if trailing:
        assert parse(wire + trailing) == (expected, trailing), trailing
