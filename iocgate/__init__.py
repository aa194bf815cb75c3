"""iocgate: turn laboratory instruments into EPICS Channel Access IOCs."""

from ._errors import (
    DeviceDisconnected,
    DeviceError,
    DeviceLinkDown,
    DeviceProtocolError,
    DeviceRejected,
    DeviceTimeout,
    IocgateError,
    LimitError,
    NodeAccessError,
    ReadbackNotSettled,
)
from .protocol import Dynamics

# The IOC layer (and caproto's server) load on first use, so a client script that only
# imports iocgate.client starts without them.
_IOC_NAMES = ("DeviceConfig", "DeviceGroup", "MissedScans", "PVGroup", "Ramp",
              "Simulation", "SubGroup", "get_pv_pair_wrapper", "pvproperty", "reading",
              "run_ioc", "serve", "setting")


def __getattr__(name: str):
    if name in _IOC_NAMES:
        from . import ioc

        return getattr(ioc, name)
    if name == "ioc":
        import importlib

        return importlib.import_module(".ioc", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "DeviceDisconnected", "DeviceError", "DeviceLinkDown", "DeviceProtocolError", "DeviceRejected",
    "DeviceTimeout", "IocgateError", "LimitError", "NodeAccessError", "ReadbackNotSettled",
    "DeviceConfig", "DeviceGroup", "Dynamics", "MissedScans", "PVGroup", "Ramp", "Simulation",
    "SubGroup", "get_pv_pair_wrapper", "pvproperty", "reading", "run_ioc", "serve", "setting",
]
