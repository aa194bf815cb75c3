"""A connected byte stream plus its receive buffer: the object endpoint jobs talk through."""

from __future__ import annotations

import time
from typing import Callable

from .._errors import DeviceTimeout
from ..protocol import NEED_DATA, encode_line, take_line
from ..protocol._framing import Taken
from ._base import ByteStream


class Session:
    """Line- and reply-level I/O over one open :class:`ByteStream`; used only under the
    endpoint lock.

    Attributes:
        encoding: text encoding of commands and replies.
        reply_timeout: default seconds allowed for a reply.
    """

    def __init__(self, stream: ByteStream, *, encoding: str, reply_timeout: float):
        self.stream = stream
        self.encoding = encoding
        self.reply_timeout = reply_timeout
        self._buffer = b""

    @property
    def name(self) -> str:
        return self.stream.name

    def send(self, data: bytes) -> None:
        """Send raw bytes."""
        self.stream.write(data)

    def send_line(self, text: str, terminator: str = "\n") -> None:
        """Send ``text`` plus ``terminator``, encoded."""
        self.stream.write(encode_line(text, terminator, self.encoding))

    def receive(self, parse: Callable[[bytes], Taken], *, timeout: float | None = None,
                command: str | None = None, hint: bytes | None = None) -> bytes:
        """Read until ``parse`` finds a complete reply in the buffer; keep what follows.

        Args:
            parse: a sans-I/O parser from :mod:`iocgate.protocol`.
            timeout: seconds for the whole reply; default :attr:`reply_timeout`.
            command: named in the timeout error.
            hint: the terminator, for message-based transports.

        Raises:
            DeviceTimeout: no complete reply in time (the endpoint then drops the link); the
                message shows the first bytes of an incomplete reply.
            DeviceDisconnected: the link failed.
        """
        timeout = self.reply_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            taken = parse(self._buffer)
            if taken is not NEED_DATA:
                reply, self._buffer = taken
                return reply
            remaining = deadline - time.monotonic()
            if remaining <= 0:  # what did arrive shows e.g. a wrong terminator
                what = f"incomplete reply {self._buffer[:80]!r}" if self._buffer else "no reply"
                raise DeviceTimeout(what, timeout=timeout, endpoint=self.name, command=command)
            self._buffer += self.stream.read_some(remaining, hint)

    def receive_line(self, terminator: str = "\n", *, timeout: float | None = None,
                     command: str | None = None) -> str:
        """One reply line, decoded, terminator removed."""
        term = terminator.encode(self.encoding)
        line = self.receive(lambda buf: take_line(buf, term), timeout=timeout, command=command,
                            hint=term)
        return line.decode(self.encoding, errors="replace")

    def query(self, text: str, write_termination: str = "\n", read_termination: str = "\n",
              *, timeout: float | None = None) -> str:
        """Send one command line and return its one-line reply.

        Input not read yet (buffered, or already received by the OS: a second reply line,
        an unsolicited message) is discarded first: in a query/reply protocol it cannot
        belong to this query.
        """
        self.flush_input()
        self.send_line(text, write_termination)
        return self.receive_line(read_termination, timeout=timeout, command=text)

    def receive_chunk(self, timeout: float | None = None) -> bytes:
        """Whatever has arrived (buffered first), waiting up to ``timeout`` s for something;
        ``b""`` if nothing came."""
        if not self._buffer:
            self._buffer = self.stream.read_some(
                self.reply_timeout if timeout is None else timeout)
        data, self._buffer = self._buffer, b""
        return data

    def discard_late_reply(self, timeout: float, quiet: float = 0.05) -> bytes:
        """Wait up to ``timeout`` s for a reply that missed its deadline and discard it.

        Returns once the link has been quiet for ``quiet`` s after something arrived, or when
        ``timeout`` elapses with nothing; returns the discarded bytes.
        """
        data, self._buffer = self._buffer, b""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return data
            more = self.stream.read_some(min(quiet, remaining) if data else remaining)
            if not more and data:
                return data
            data += more

    def flush_input(self) -> bytes:
        """Discard and return everything received so far (buffered and pending)."""
        data, self._buffer = self._buffer, b""
        while True:
            more = self.stream.read_some(0.0)
            if not more:
                return data
            data += more


__all__ = ["Session"]
