"""Transports: byte I/O at the edge (TCP, serial, VISA), and endpoints that own a link and
the lock (and, for async callers, the worker thread) serialising it. Library errors become
:class:`~iocgate.DeviceError` subclasses here and nowhere else."""

from ._base import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_REPLY_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
    ByteStream,
    StreamBase,
)
from ._endpoint import Endpoint, StreamEndpoint
from ._modbus import ModbusEndpoint
from ._serial import SerialStream
from ._session import Session
from ._tcp import TcpStream
from ._visa import VisaStream
from ._worker import Worker

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_REPLY_TIMEOUT", "DEFAULT_WRITE_TIMEOUT", "ByteStream",
    "StreamBase", "Endpoint", "ModbusEndpoint", "SerialStream", "Session", "StreamEndpoint",
    "TcpStream", "VisaStream", "Worker",
]
