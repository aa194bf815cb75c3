"""IEEE 488.2 arbitrary blocks: how instruments send binary data (waveforms, screenshots).

A definite-length block is ``#`` + one digit *n* + *n* digits giving the byte count + the
bytes: ``#15hello``, ``#212<12 bytes>``. An indefinite-length block is ``#0`` + bytes up to the
message terminator. SCPI instruments end the response message with a terminator (``\\n``)
after the block. :func:`take_block` is a sans-I/O parser for :meth:`Session.receive`.
"""

from __future__ import annotations

from typing import Any

import numpy

from ._framing import NEED_DATA, Taken

_WHITESPACE = b" \t\r\n"


def take_block(buffer: bytes, terminator: bytes = b"\n") -> Taken:
    """Split the first arbitrary block off ``buffer``.

    Args:
        buffer: bytes received so far; whitespace before ``#`` is skipped.
        terminator: the response message terminator expected after the block (consumed);
            ``b""`` if the instrument sends none.

    Returns:
        ``(payload, rest)``, or :data:`NEED_DATA` while the block is incomplete.

    Raises:
        ValueError: the bytes are not a block (no ``#``, a non-digit length, or something
            other than the terminator after the payload).
    """
    start = len(buffer) - len(buffer.lstrip(_WHITESPACE))
    head = buffer[start:start + 2]
    if len(head) < 1:
        return NEED_DATA
    if head[:1] != b"#":
        raise ValueError(f"expected an IEEE 488.2 block ('#'), got {buffer[start:start + 20]!r}")
    if len(head) < 2:
        return NEED_DATA
    if not head[1:2].isdigit():
        raise ValueError(f"bad block header {buffer[start:start + 12]!r}")
    digits = int(head[1:2])
    if digits == 0:
        if not terminator:
            raise ValueError("an indefinite-length block (#0) needs a terminator")
        end = buffer.find(terminator, start + 2)
        if end < 0:
            return NEED_DATA
        return buffer[start + 2:end], buffer[end + len(terminator):]
    count_text = buffer[start + 2:start + 2 + digits]
    if len(count_text) < digits:
        return NEED_DATA
    if not count_text.isdigit():
        raise ValueError(f"bad block length {count_text!r}")
    begin = start + 2 + digits
    end = begin + int(count_text)
    if len(buffer) < end + len(terminator):
        return NEED_DATA
    if buffer[end:end + len(terminator)] != terminator:
        raise ValueError(f"expected the terminator after the block, got "
                         f"{buffer[end:end + 10]!r}")
    return buffer[begin:end], buffer[end + len(terminator):]


def format_block(payload: bytes) -> bytes:
    """The definite-length block holding ``payload`` (no terminator).

    Raises:
        ValueError: more than 999,999,999 bytes (nine length digits).
    """
    count = str(len(payload)).encode()
    if len(count) > 9:
        raise ValueError(f"{len(payload)} bytes do not fit a definite-length block")
    return b"#" + str(len(count)).encode() + count + payload


def block_samples(payload: bytes, dtype: Any = "<f4") -> numpy.ndarray:
    """The samples in ``payload`` as a float array (``dtype`` is numpy's, e.g. ``"<i2"``,
    ``">f4"``).

    Raises:
        ValueError: the payload is not a whole number of samples.
    """
    kind = numpy.dtype(dtype)
    if len(payload) % kind.itemsize:
        raise ValueError(f"{len(payload)} bytes are not a whole number of {kind} samples")
    return numpy.frombuffer(payload, kind).astype(float)
