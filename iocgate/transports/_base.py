"""The byte-stream interface every transport implements, and shared defaults."""

from __future__ import annotations

from typing import Any, Protocol

from .._errors import DeviceDisconnected

#: Seconds allowed to open a connection (TCP connect, serial open, VISA open).
DEFAULT_CONNECT_TIMEOUT = 3.0
#: Seconds allowed for a complete reply.
DEFAULT_REPLY_TIMEOUT = 2.0
#: Seconds allowed for a write to be accepted by the OS / driver.
DEFAULT_WRITE_TIMEOUT = 2.0


class ByteStream(Protocol):
    """A blocking, connection-oriented byte stream, used by one thread at a time (under its
    endpoint's lock).

    Implementations translate their library's errors in one place: a failed open, a closed or
    broken link raise :class:`~iocgate.DeviceDisconnected`; nothing else escapes except bugs.
    """

    name: str
    #: True if a reply still in flight can arrive after the link is closed and reopened (a
    #: serial line); False if reopening leaves it behind (a new TCP connection).
    late_replies_survive_reopen: bool

    def open(self, timeout: float | None) -> None:
        """Connect within ``timeout`` seconds (``None``: no limit)."""

    def close(self) -> None:
        """Release the link; safe to call twice."""

    def write(self, data: bytes) -> None:
        """Send all of ``data``; a write cut by an error may have sent part of it."""

    def read_some(self, timeout: float, terminator: bytes | None = None) -> bytes:
        """Bytes received within ``timeout`` seconds, or ``b""`` if none arrived.

        ``terminator`` is a hint for message-based links (VISA) that read up to it; byte
        streams ignore it.
        """


class StreamBase:
    """Bookkeeping shared by the transports: the open handle, error translation, and an
    idempotent :meth:`close`."""

    name: str
    late_replies_survive_reopen = False
    #: exceptions a handle may raise while closing a link that is already broken
    _close_errors: tuple = (OSError,)
    _handle: Any = None

    def _fail(self, what: str, exc: BaseException) -> DeviceDisconnected:
        """Close; return the error to raise for ``exc`` (``raise self._fail(...) from exc``)."""
        self.close()
        return DeviceDisconnected(f"{what}: {exc}", endpoint=self.name)

    def _opened(self) -> Any:
        """The open handle; raises :class:`~iocgate.DeviceDisconnected` if there is none."""
        if self._handle is None:
            raise DeviceDisconnected("not connected", endpoint=self.name)
        return self._handle

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except self._close_errors:
                pass  # the device or link vanished; nothing is left to release


__all__ = ["StreamBase", "ByteStream", "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_REPLY_TIMEOUT",
           "DEFAULT_WRITE_TIMEOUT"]
