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
from .ioc import (
    DeviceConfig,
    DeviceGroup,
    MissedScans,
    PVGroup,
    Simulation,
    SubGroup,
    get_pv_pair_wrapper,
    pvproperty,
    reading,
    run_ioc,
    serve,
    setting,
)
from .protocol import Dynamics

__version__ = "0.1.0"

__all__ = [
    "DeviceConfig", "DeviceDisconnected", "DeviceError", "DeviceGroup", "DeviceProtocolError",
    "DeviceRejected", "DeviceTimeout", "Dynamics", "get_pv_pair_wrapper", "IocgateError",
    "LimitError", "MissedScans", "NodeAccessError", "PVGroup", "pvproperty", "reading", "run_ioc",
    "serve", "setting", "Simulation", "SubGroup",
]
