"""Serial byte stream (pyserial): device paths, ptys and pyserial URLs (``loop://``,
``socket://host:port``, ``rfc2217://``...)."""

from __future__ import annotations

from typing import Any

import serial

from ._base import DEFAULT_WRITE_TIMEOUT, StreamBase

_ERRORS = (serial.SerialException, OSError)  # SerialTimeoutException is a SerialException


class SerialStream(StreamBase):
    """A serial port opened with :func:`serial.serial_for_url`.

    Args:
        port: a device path (``/dev/ttyUSB0``, ``/dev/pts/3``) or a pyserial URL.
        baudrate: bits per second.
        write_timeout: seconds a write may block (flow control holding it back).
        **settings: further pyserial settings (``bytesize``, ``parity``, ``stopbits``,
            ``xonxoff``, ``rtscts``...).
    """

    late_replies_survive_reopen = True
    _close_errors = _ERRORS

    def __init__(self, port: str, baudrate: int = 9600, *,
                 write_timeout: float = DEFAULT_WRITE_TIMEOUT, **settings: Any):
        self.port = port
        self.name = port if "://" in port else f"serial://{port}"
        if port.startswith("socket://"):  # a new TCP connection leaves a late reply behind
            self.late_replies_survive_reopen = False
        self._settings = dict(settings, baudrate=baudrate, write_timeout=write_timeout)

    def open(self, timeout: float | None) -> None:
        # Opening a local port does not block; ``timeout`` matters only for socket:// URLs,
        # which pyserial connects with its own fixed timeout.
        try:
            port = serial.serial_for_url(self.port, do_not_open=True, **self._settings)
            port.open()
        except (*_ERRORS, ValueError) as exc:
            raise self._fail("cannot open", exc) from exc
        self._handle = port

    def write(self, data: bytes) -> None:
        port = self._opened()
        try:
            port.write(data)
        except _ERRORS as exc:
            raise self._fail("write failed", exc) from exc

    def read_some(self, timeout: float, terminator: bytes | None = None) -> bytes:
        port = self._opened()
        try:
            port.timeout = max(timeout, 0.0)
            data = port.read(1)
            if data and port.in_waiting:
                data += port.read(port.in_waiting)
        except _ERRORS as exc:
            raise self._fail("read failed", exc) from exc
        return data


__all__ = ["SerialStream"]
