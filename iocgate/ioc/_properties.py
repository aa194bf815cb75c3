"""``pvproperty`` with an optional binding to a device node."""

from __future__ import annotations

import enum
import inspect
from typing import Any, Mapping, Optional, Tuple, Union

from caproto import ChannelType
from caproto.server import pvproperty as _CaprotoPvproperty

from ._binding import Binding, NodeSpec

_DEFAULT_VALUES = {float: 0.0, int: 0, str: "", bool: False, ChannelType.STRING: "",
                   ChannelType.CHAR: "", ChannelType.DOUBLE: 0.0, ChannelType.FLOAT: 0.0,
                   ChannelType.LONG: 0, ChannelType.INT: 0}
_DEVICE_TYPES = {float: float, int: int, bool: int, str: str, ChannelType.STRING: str,
                 ChannelType.CHAR: str, ChannelType.DOUBLE: float, ChannelType.FLOAT: float,
                 ChannelType.LONG: int, ChannelType.INT: int, ChannelType.ENUM: int}
_INTEGRAL = {int, str, bool, ChannelType.STRING, ChannelType.CHAR, ChannelType.LONG,
             ChannelType.INT, ChannelType.ENUM}


class pvproperty(_CaprotoPvproperty):
    """A PV of a :class:`~iocgate.PVGroup`; every caproto ``pvproperty`` argument works.

    Binding arguments (all optional; without ``node`` this is a plain caproto property):

    Args:
        node: the device node behind this PV, relative to the group's device node: a command
            string (``"VOLT"``), a mapping of ``device.command`` keyword arguments
            (``{"get": "SETP? 1", "set": "SETP 1,{value}"}``) or a callable ``device -> node``.
            A writable PV writes it on put (the CA put fails if the device refuses or cannot
            be reached); a readable node is read on the group's batched scan. Without
            ``dtype`` or ``value`` a bound PV is a float (DOUBLE).
        readback: also create a read-only ``<NAME>_RBV`` PV: ``True`` reads it from ``node``,
            or give another node spec (e.g. the measured value). ``readback_doc`` is its doc.
        period: seconds between scans of this PV's nodes (default: the group's
            ``scan_period``).
        tolerance: put completion waits until the readback is within ``tolerance`` of the
            target (units of the PV); ``settle_timeout`` (s) bounds that wait, after which the
            put fails with a timeout.
        codes: device code for each member of an ``IntEnum`` dtype (default ``int(member)``).
        limits: ``(low, high)`` drive limits; puts outside are refused before they reach the
            device. Also the default display limits.
        units: engineering units (EGU). precision: digits after the decimal point (PREC);
            ignored for integer and enum PVs, for which CA carries none.
        access_group: the ACF access security group (ASG) of this PV (see ``--acf``).
        autosave: save this PV's value (``True``), or the listed record fields (e.g.
            ``("VAL", "HIGH")``), across restarts (see ``--autosave-dir``); ``restore``:
            ``"pv"`` (into the PV only) or ``"device"`` (also written to the device at start;
            the default, except for enum and bool PVs, which switch things on).
    """

    def __init__(self, get: Any = None, put: Any = None, startup: Any = None,
                 shutdown: Any = None, *, node: Optional[NodeSpec] = None,
                 readback: Union[None, bool, NodeSpec] = None, period: Optional[float] = None,
                 tolerance: Optional[float] = None, settle_timeout: float = 10.0,
                 codes: Optional[Mapping[Any, Any]] = None, readback_doc: Optional[str] = None,
                 limits: Optional[Tuple[float, float]] = None, units: Optional[str] = None,
                 precision: Optional[int] = None, dtype: Any = None, value: Any = None,
                 read_only: Optional[bool] = None, access_group: str = "DEFAULT",
                 autosave: Union[bool, Tuple[str, ...]] = False, restore: Optional[str] = None,
                 **kwargs: Any):
        if readback is not None and node is None:
            raise TypeError("readback= needs node= (the setpoint's node)")
        if dtype is None and value is not None:
            dtype = type(value)
        elif dtype is None and node is not None:
            dtype = float  # what the node parses replies to by default (caproto would pick int)
        enum_type = dtype if inspect.isclass(dtype) and issubclass(dtype, enum.IntEnum) else None
        if value is None:
            value = next(iter(enum_type)) if enum_type else _DEFAULT_VALUES.get(dtype)
        if units is not None:
            kwargs["units"] = units
        if precision is not None and dtype not in _INTEGRAL and not enum_type:
            kwargs["precision"] = precision  # CA carries no precision for integers
        if limits is not None:
            low, high = limits
            kwargs.setdefault("lower_ctrl_limit", low)
            kwargs.setdefault("upper_ctrl_limit", high)
            kwargs.setdefault("lower_disp_limit", low)
            kwargs.setdefault("upper_disp_limit", high)
        self.binding: Optional[Binding] = None
        if node is not None:
            if put is not None:
                raise TypeError("a property bound to a node writes it on put; "
                                "give either node= or put=, not both")
            if codes:
                device_type: type = type(next(iter(codes.values())))
            elif enum_type is not None:
                device_type = int
            else:
                device_type = _DEVICE_TYPES.get(dtype, float)
            self.binding = Binding(node=node, readback=readback, period=period,
                                   tolerance=tolerance, settle_timeout=settle_timeout,
                                   enum_type=enum_type, codes=codes, device_type=device_type)
            if not read_only:
                from ._bound import put_to_device
                put = put_to_device
        self.access_group = access_group
        self.autosave = autosave
        self.restore = restore
        self.readback_of: Optional[str] = None
        self.readback_doc = readback_doc
        super().__init__(get, put, startup, shutdown, dtype=dtype, value=value,
                         read_only=read_only, **kwargs)

    def __set_name__(self, owner: type, name: str) -> None:
        super().__set_name__(owner, name)
        if self.pvspec.alarm_group is None:
            # EPICS records alarm one by one; caproto would share one alarm among them all.
            self.pvspec = self.pvspec._replace(alarm_group=name)

    def make_readback(self, attr: str) -> pvproperty:
        """The ``<NAME>_RBV`` property for a property declared with ``readback=``."""
        binding = self.binding
        assert binding is not None and binding.readback is not None
        spec = self.pvspec
        name = (spec.name or attr) + "_RBV"
        node = binding.node if binding.readback is True else binding.readback
        cls_kwargs = {key: val for key, val in (spec.cls_kwargs or {}).items()
                      if not key.endswith("ctrl_limit")}
        doc = self.readback_doc or (f"Readback of {spec.doc[0].lower() + spec.doc[1:]}"
                                    if spec.doc else "Readback")
        rbv = pvproperty(name=name, node=node, period=binding.period, codes=binding.codes,
                         dtype=spec.dtype, value=spec.value, read_only=True,
                         max_length=spec.max_length, doc=doc, access_group=self.access_group,
                         **cls_kwargs)
        rbv.readback_of = attr
        return rbv
