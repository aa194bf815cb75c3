"""Framing of text replies in a byte stream: terminated lines and prompt-delimited replies."""

from __future__ import annotations

import enum
from typing import Tuple, Union


class NeedData(enum.Enum):
    """Sentinel type: the bytes so far do not hold a complete reply."""

    NEED_DATA = "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA

#: ``(reply, leftover bytes)`` or :data:`NEED_DATA`.
Taken = Union[Tuple[bytes, bytes], NeedData]


def encode_line(text: str, terminator: str = "\n", encoding: str = "ascii") -> bytes:
    """Bytes to send for one command line.

    Raises:
        UnicodeEncodeError: ``text`` has characters the encoding cannot represent.
    """
    return (text + terminator).encode(encoding)


def take_line(buffer: bytes, terminator: bytes) -> Taken:
    """Split the first terminated line off ``buffer``.

    Args:
        buffer: bytes received so far.
        terminator: the line terminator, e.g. ``b"\\r\\n"``; must not be empty.

    Returns:
        ``(line, rest)`` with the terminator removed from ``line`` and ``rest`` untouched, or
        :data:`NEED_DATA` when no terminator has arrived yet.
    """
    if not terminator:
        raise ValueError("empty line terminator")
    index = buffer.find(terminator)
    if index < 0:
        return NEED_DATA
    return buffer[:index], buffer[index + len(terminator):]


def take_until_prompt(buffer: bytes, prompt: bytes, echo: bytes = b"",
                      terminator: bytes = b"\r\n") -> Taken:
    """Split off a telnet-style reply that ends with ``prompt``.

    The device echoes the command (``echo`` plus a terminator), prints its reply lines and then
    the prompt. The echo, if present at the start, and the prompt are removed; surrounding
    terminators and blanks are stripped from the reply.

    Args:
        buffer: bytes received so far.
        prompt: the prompt that ends a reply, e.g. ``b">"``; must not be empty.
        echo: the command as sent, without terminator; ``b""`` if the device does not echo.
        terminator: the device's line terminator (used to find the end of the echo).

    Returns:
        ``(reply, rest)`` or :data:`NEED_DATA`.
    """
    if not prompt:
        raise ValueError("empty prompt")
    start = 0
    if echo:
        if len(buffer) < len(echo) and echo.startswith(buffer):
            return NEED_DATA
        if buffer.startswith(echo):
            start = len(echo)
    index = buffer.find(prompt, start)
    if index < 0:
        return NEED_DATA
    body = buffer[start:index]
    if terminator and body.startswith(terminator):
        body = body[len(terminator):]
    return body.strip(), buffer[index + len(prompt):]


__all__ = ["NEED_DATA", "NeedData", "Taken", "encode_line", "take_line", "take_until_prompt"]
