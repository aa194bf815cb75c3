"""Declarative IOCs on caproto: PVGroups whose properties are bound to device nodes."""

from caproto.server import SubGroup, get_pv_pair_wrapper

from ..protocol._conversion import parse_number, resolve_enum_state
from ..server import PutCompletion
from ._binding import Binding, NodeSpec
from ._cli import make_parser, run_ioc, serve
from ._declare import DeclaredPV, command_specs, reading, setting
from ._device import DeviceConfig, Simulation
from ._device_group import DeviceGroup
from ._group import PVGroup
from ._health import Link
from ._motor import AxisStatus, MotorAxis, MotorRecord, add_record_aliases
from ._properties import pvproperty
from ._ramp import Ramp, RampState
from ._scanner import MissedScans

__all__ = [
    "AxisStatus", "Binding", "DeclaredPV", "DeviceConfig", "DeviceGroup", "Link", "MissedScans",
    "MotorAxis", "MotorRecord", "NodeSpec", "PVGroup", "PutCompletion", "Ramp", "RampState",
    "Simulation", "SubGroup", "add_record_aliases", "command_specs", "get_pv_pair_wrapper",
    "make_parser", "parse_number", "pvproperty", "reading", "resolve_enum_state", "run_ioc",
    "serve", "setting",
]
