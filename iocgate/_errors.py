"""The exception tree shared by every iocgate layer.

::

    IocgateError
    ├── DeviceError                    something went wrong talking to an instrument
    │   ├── DeviceTimeout              (also TimeoutError) no reply within the timeout
    │   │   └── ReadbackNotSettled     a put was taken but its readback did not reach it in time
    │   ├── DeviceDisconnected         (also ConnectionError) the link is down or was lost
    │   │   └── DeviceLinkDown         refused at once: the link failed and is not retried yet
    │   ├── DeviceProtocolError        (also ValueError) the reply does not parse; carries ``raw``
    │   └── DeviceRejected             the instrument refused the command (e.g. SCPI error queue)
    ├── NodeAccessError            (also PermissionError) read of a write-only node, or the reverse
    └── LimitError                     (also ValueError) a value outside a node's limits, refused
                                       before it reached the instrument

Every device error names the endpoint (``tcp://127.0.0.1:5025``) and, where there is one,
the command, so a log line is enough to find the failing instrument.
"""

from __future__ import annotations

from typing import Optional


class IocgateError(Exception):
    """Root of every exception raised on purpose by iocgate."""


class DeviceError(IocgateError):
    """A failure talking to an instrument.

    Attributes:
        endpoint: where the instrument is, e.g. ``tcp://127.0.0.1:5025`` or ``serial:///dev/pts/3``.
        command: the command being executed when it failed, or ``None``.
    """

    def __init__(self, message: str, *, endpoint: str = "", command: Optional[str] = None):
        self.message = message
        self.endpoint = endpoint
        self.command = command
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f" [{self.endpoint}]" if self.endpoint else ""
        what = f" while executing {self.command!r}" if self.command is not None else ""
        return f"{self.message}{where}{what}"


class DeviceTimeout(DeviceError, TimeoutError):
    """No (complete) reply arrived within the timeout.

    Attributes:
        timeout: the number of seconds waited.
    """

    def __init__(self, message: str = "no reply", *, timeout: Optional[float] = None,
                 endpoint: str = "", command: Optional[str] = None):
        self.timeout = timeout
        if timeout is not None:
            message = f"{message} within {timeout:g} s"
        super().__init__(message, endpoint=endpoint, command=command)


class ReadbackNotSettled(DeviceTimeout):
    """The device took a put, but the readback was not within the declared tolerance of the
    target in time (the link is fine: a fault of the instrument, not of the connection)."""


class DeviceDisconnected(DeviceError, ConnectionError):
    """The link to the instrument is down (refused, closed by the peer, or lost).

    The next call on the same endpoint tries to reconnect, with capped exponential backoff.
    """


class DeviceLinkDown(DeviceDisconnected):
    """Refused without any I/O: the link failed (timeout or disconnect) and the next attempt
    is not due yet.

    Attributes:
        cause: the error that took the link down (a DeviceTimeout for a hung instrument).
        retry_in: seconds until the next attempt is allowed (0: one may be under way).
    """

    def __init__(self, cause: DeviceError, retry_in: float, *, endpoint: str = "",
                 command: Optional[str] = None):
        self.cause = cause
        self.retry_in = retry_in
        super().__init__(f"link down, next attempt in {retry_in:.2f} s ({cause.message})",
                         endpoint=endpoint, command=command)


class DeviceProtocolError(DeviceError, ValueError):
    """The instrument answered something that does not parse.

    Attributes:
        raw: the reply exactly as received (``str`` or ``bytes``).
    """

    def __init__(self, message: str, *, raw: object = None, endpoint: str = "",
                 command: Optional[str] = None):
        self.raw = raw
        if raw is not None:
            message = f"{message}: {raw!r}"
        super().__init__(message, endpoint=endpoint, command=command)


class DeviceRejected(DeviceError):
    """The instrument understood the command but refused it (for SCPI: a non-zero error queue)."""


class NodeAccessError(IocgateError, PermissionError):
    """A read of a write-only node, or a write to a read-only one."""


class LimitError(IocgateError, ValueError):
    """A value outside the node's or PV's limits; it was not sent to the instrument."""


__all__ = [
    "IocgateError", "DeviceError", "DeviceTimeout", "DeviceDisconnected", "DeviceLinkDown",
    "DeviceProtocolError", "DeviceRejected", "NodeAccessError", "LimitError",
    "ReadbackNotSettled",
]
