"""Declarative IOCs on caproto: PVGroups whose properties are bound to device nodes."""

from caproto.server import SubGroup, get_pv_pair_wrapper

from ..protocol._conversion import parse_number, resolve_enum_state
from ._binding import Binding, NodeSpec
from ._cli import make_parser, run_ioc, serve
from ._device import DeviceConfig, Simulation
from ._device_group import DeviceGroup
from ._group import PVGroup
from ._health import Link
from ._properties import pvproperty
from ._ramp import Ramp, RampState
from ._scanner import MissedScans

__all__ = [
    "Binding", "DeviceConfig", "DeviceGroup", "Link", "MissedScans", "NodeSpec", "PVGroup",
    "Ramp", "RampState", "Simulation", "SubGroup", "get_pv_pair_wrapper", "make_parser",
    "parse_number", "pvproperty", "resolve_enum_state", "run_ioc", "serve",
]
