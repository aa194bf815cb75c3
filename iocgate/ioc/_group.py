"""``PVGroup``: caproto's PVGroup with EPICS put semantics and node-bound properties."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar, Dict, Iterator, Optional, Tuple

from caproto.server import PVGroup as _CaprotoPVGroup

from .._compat._caproto import PVGroupMeta as _CaprotoPVGroupMeta
from ._bound import BoundPV
from ._channels import TYPE_MAP, TYPE_MAP_READ_ONLY
from ._properties import pvproperty
from ._ramp import RampRunner


class PVGroupMeta(_CaprotoPVGroupMeta):
    """Adds the ``<NAME>_RBV`` property, right after its setpoint, for every property
    declared with ``readback=``."""

    def __new__(metacls, name: str, bases: Tuple[type, ...], dct: Dict[str, Any]):
        expanded: Dict[str, Any] = OrderedDict()
        for attr, value in dct.items():
            expanded[attr] = value
            binding = getattr(value, "binding", None)
            if isinstance(value, pvproperty) and binding is not None and binding.readback:
                rbv_attr = f"{attr}_rbv"
                if rbv_attr in dct:
                    raise TypeError(f"{name}.{attr} has readback=, so {rbv_attr} is generated; "
                                    f"remove the explicit {rbv_attr}")
                expanded[rbv_attr] = value.make_readback(attr)
            if isinstance(value, pvproperty) and value.ramp is not None:
                generated = value.make_ramp_pvs(attr)
                clash = sorted(set(generated) & set(dct))
                if clash:
                    raise TypeError(f"{name}.{attr} has ramp=, so {clash} are generated; "
                                    f"remove the explicit ones")
                expanded.update(generated)
        cls = super().__new__(metacls, name, bases, expanded)
        trailing = [attr for attr in getattr(cls, "_trailing_pvs_", ()) if attr in cls._pvs_]
        for attr in trailing:  # e.g. health PVs: listed after the instrument's own
            cls._pvs_.move_to_end(attr)
        return cls


class PVGroup(_CaprotoPVGroup, metaclass=PVGroupMeta):
    """A group of PVs; everything caproto's ``PVGroup`` does, plus:

    * properties bound to device nodes (see :class:`~iocgate.pvproperty`), resolved against
      ``device`` (given here, or inherited from the parent group);
    * puts converted as an EPICS IOC converts them, and refused puts that change nothing.

    Args:
        prefix: prepended to every PV name (default: the class's ``default_prefix``).
        device: the device node bound properties are relative to (e.g.
            ``ControlSystem().tcp(host, port).scpi()``); ``None`` leaves bound properties
            unbound (soft PVs), which is what ``--list-pvs`` style introspection needs.
    """

    type_map = TYPE_MAP
    type_map_read_only = TYPE_MAP_READ_ONLY
    default_prefix: ClassVar[str] = ""

    def __init__(self, prefix: Optional[str] = None, *, device: Any = None,
                 macros: Optional[Dict[str, str]] = None, parent: Optional[Any] = None,
                 name: Optional[str] = None, **kwargs: Any):
        if device is None and parent is not None:
            device = getattr(parent, "device", None)
        self.device = device
        self.bound_pvs: Dict[str, BoundPV] = {}
        super().__init__(self.default_prefix if prefix is None else prefix,
                         macros=macros, parent=parent, name=name, **kwargs)
        if device is not None:
            self._bind(device)

    def _bind(self, device: Any) -> None:
        props = type(self)._pvs_
        for attr, channel in self.attr_pvdb.items():
            binding = getattr(props.get(attr), "binding", None)
            if binding is None:
                continue
            node = binding.make_node(device, binding.node)
            self.bound_pvs[attr] = BoundPV(channel, binding, node)
        for attr, bound in self.bound_pvs.items():
            readback_of = props[attr].readback_of
            if readback_of is not None:
                self.bound_pvs[readback_of].readback = bound
        for attr, bound in self.bound_pvs.items():
            ramp = getattr(props[attr], "ramp", None)
            if ramp is not None:
                status = self.bound_pvs.get(f"{attr}_ramping")
                bound.ramp = RampRunner(ramp, bound, self.attr_pvdb[f"{attr}_ramp_rate"],
                                        self.attr_pvdb[f"{attr}_ramping"],
                                        status.node if status is not None else None)

    def walk_bound_pvs(self) -> Iterator[BoundPV]:
        """Every bound PV of this group and of its subgroups on the same device."""
        yield from self.bound_pvs.values()
        for attr, group in self.groups.items():
            if "." not in attr and getattr(group, "device", None) is self.device:
                yield from group.walk_bound_pvs()
