"""iocgate: turn laboratory instruments into EPICS Channel Access IOCs."""

from ._errors import (
    DeviceDisconnected,
    DeviceError,
    DeviceProtocolError,
    DeviceRejected,
    DeviceTimeout,
    IocgateError,
    LimitError,
    NodeAccessError,
)

__version__ = "0.1.0"

__all__ = [
    "DeviceDisconnected", "DeviceError", "DeviceProtocolError", "DeviceRejected",
    "DeviceTimeout", "IocgateError", "LimitError", "NodeAccessError",
]
