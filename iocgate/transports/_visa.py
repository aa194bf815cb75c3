"""VISA message link (pyvisa), presented as a byte stream."""

from __future__ import annotations

import select
import socket
from typing import Any

import pyvisa
from pyvisa import constants

from .._errors import DeviceDisconnected
from ._base import StreamBase

_DEFAULT_TERMINATOR = b"\n"
_ERRORS = (pyvisa.Error, OSError)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else max(1, int(seconds * 1000))


def _socket_input(resource: Any) -> str | None:
    """State of the input of pyvisa-py's TCP socket under ``resource``: ``"idle"`` (nothing
    received), ``"data"``, or ``"eof"`` (the peer closed it and nothing is buffered; pyvisa-py
    reports that as a read timeout, after spinning for the whole timeout). ``None`` for
    other resources and backends."""
    session = getattr(resource.visalib, "sessions", {}).get(resource.session)
    sock = getattr(session, "interface", None)
    if not isinstance(sock, socket.socket):
        return None
    if getattr(session, "_pending_buffer", b""):
        return "data"
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return "idle"
        return "data" if sock.recv(1, socket.MSG_PEEK) else "eof"
    except OSError:  # reset: the read reports it
        return "data"


def _nothing_buffered(resource: Any) -> bool:
    """Whether ``resource`` reports no received bytes waiting (serial resources); ``False``
    when it cannot tell."""
    try:
        return resource.bytes_in_buffer == 0
    except (*_ERRORS, AttributeError):
        return False


class VisaStream(StreamBase):
    """A VISA resource such as ``TCPIP::127.0.0.1::5025::SOCKET`` or ``ASRL/dev/ttyUSB0::INSTR``.

    Reads go up to the read terminator (VISA termination character), so each
    :meth:`read_some` returns one message; on a read timeout the partial message is lost.

    Args:
        resource: the VISA resource string.
        backend: the pyvisa backend, ``"@py"`` (pyvisa-py) by default.
        **attributes: resource attributes set after opening (e.g. ``baud_rate``).
    """

    _close_errors = _ERRORS

    def __init__(self, resource: str, backend: str = "@py", **attributes: Any):
        self.resource_name = resource
        self.name = f"visa://{resource}"
        self.backend = backend
        self._attributes = attributes

    def open(self, timeout: float | None) -> None:
        try:
            manager = pyvisa.ResourceManager(self.backend)
            resource = manager.open_resource(self.resource_name, open_timeout=_ms(timeout) or 0)
        except (*_ERRORS, ValueError) as exc:
            raise self._fail("cannot open", exc) from exc
        resource.write_termination = ""  # the protocol layer adds terminators itself
        resource.read_termination = _DEFAULT_TERMINATOR.decode()
        for key, value in self._attributes.items():
            setattr(resource, key, value)
        self._handle = resource

    def write(self, data: bytes) -> None:
        resource = self._opened()
        try:
            resource.write_raw(data)
        except _ERRORS as exc:
            raise self._fail("write failed", exc) from exc

    def _check_peer(self, resource: Any) -> str | None:
        state = _socket_input(resource)
        if state == "eof":
            self.close()
            raise DeviceDisconnected("connection closed by the device", endpoint=self.name)
        return state

    def read_some(self, timeout: float, terminator: bytes | None = None) -> bytes:
        resource = self._opened()
        term = (terminator or _DEFAULT_TERMINATOR).decode()
        state = self._check_peer(resource)
        if timeout <= 0 and (state == "idle" or state is None and _nothing_buffered(resource)):
            return b""  # a poll (flushing input) with nothing there: skip VISA's 1 ms read
        try:
            resource.timeout = _ms(timeout)
            if resource.read_termination != term:
                resource.read_termination = term
            return bytes(resource.read_raw())
        except pyvisa.VisaIOError as exc:
            if exc.error_code == constants.StatusCode.error_timeout:
                self._check_peer(resource)  # it may have hung up while we waited
                return b""
            raise self._fail("read failed", exc) from exc
        except _ERRORS as exc:
            raise self._fail("read failed", exc) from exc


__all__ = ["VisaStream"]
