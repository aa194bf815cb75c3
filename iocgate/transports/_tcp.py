"""TCP byte stream."""

from __future__ import annotations

import socket

from .._errors import DeviceDisconnected
from ._base import DEFAULT_WRITE_TIMEOUT, StreamBase


class TcpStream(StreamBase):
    """A TCP client connection (``TCP_NODELAY`` on: commands are small and latency matters).

    Args:
        host, port: where the instrument listens.
        write_timeout: seconds a send may block (a peer that stops reading).
    """

    def __init__(self, host: str, port: int, *, write_timeout: float = DEFAULT_WRITE_TIMEOUT):
        self.host = host
        self.port = int(port)
        self.name = f"tcp://{host}:{self.port}"
        self.write_timeout = write_timeout

    def open(self, timeout: float | None) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:  # refused, unreachable, connect timeout
            raise self._fail("cannot connect", exc) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._handle = sock

    def write(self, data: bytes) -> None:
        sock = self._opened()
        try:
            sock.settimeout(self.write_timeout)
            sock.sendall(data)
        except OSError as exc:
            raise self._fail("send failed", exc) from exc

    def read_some(self, timeout: float, terminator: bytes | None = None) -> bytes:
        sock = self._opened()
        try:
            sock.settimeout(max(timeout, 0.0))
            data = sock.recv(65536)
        except (socket.timeout, BlockingIOError):  # nothing within timeout (0: non-blocking)
            return b""
        except OSError as exc:
            raise self._fail("receive failed", exc) from exc
        if not data:
            self.close()
            raise DeviceDisconnected("connection closed by the device", endpoint=self.name)
        return data


__all__ = ["TcpStream"]
