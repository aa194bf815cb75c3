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
)
from .ioc import (
    DeviceConfig,
    DeviceGroup,
    MissedScans,
    PVGroup,
    Ramp,
    Simulation,
    SubGroup,
    get_pv_pair_wrapper,
    pvproperty,
    run_ioc,
    serve,
)

__version__ = "0.1.0"

__all__ = [
    "DeviceDisconnected", "DeviceError", "DeviceLinkDown", "DeviceProtocolError", "DeviceRejected",
    "DeviceTimeout", "IocgateError", "LimitError", "NodeAccessError",
    "DeviceConfig", "DeviceGroup", "MissedScans", "PVGroup", "Ramp", "Simulation", "SubGroup",
    "get_pv_pair_wrapper", "pvproperty", "run_ioc", "serve",
]
