"""Declarative IOCs on caproto: PVGroups whose properties are bound to device nodes."""

from caproto.server import SubGroup, get_pv_pair_wrapper

from ._binding import Binding, NodeSpec
from ._cli import make_parser, run_ioc, serve
from ._conversion import parse_number, resolve_enum_state
from ._declare import DeclaredPV, command_specs, reading, setting
from ._device import DeviceConfig, Simulation
from ._device_group import DeviceGroup
from ._group import PVGroup
from ._health import Link
from ._motor import AxisStatus, MotorAxis, MotorRecord, add_record_aliases
from ._properties import pvproperty
from ._scanner import MissedScans

__all__ = [
    "AxisStatus", "MotorAxis", "MotorRecord", "add_record_aliases",
    "Binding", "command_specs", "DeclaredPV", "DeviceConfig", "DeviceGroup", "get_pv_pair_wrapper",
    "Link", "make_parser", "MissedScans", "NodeSpec", "parse_number", "PVGroup", "pvproperty",
    "reading", "resolve_enum_state", "run_ioc", "serve", "setting", "Simulation", "SubGroup",
]
