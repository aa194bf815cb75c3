"""``pvproperty`` with an optional binding to a device node."""

from __future__ import annotations

import enum
import inspect
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from caproto import ChannelType
from caproto.server import pvproperty as _CaprotoPvproperty

from ._binding import Binding, NodeSpec
from ._limits import AlarmLimits, ctrl_metadata, install_fields
from ._ramp import Ramp

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
        alarm_limits: ``(lolo, low, high, hihi)``: every reading of a bound PV is checked as
            an EPICS ai record checks it (status HIHI/HIGH/LOW/LOLO); the limits show in
            DBR_CTRL/GR and can be changed at run time through the record fields
            ``.HIHI .HIGH .LOW .LOLO .HHSV .HSV .LSV .LLSV .HYST``. A device alarm
            (COMM/TIMEOUT, INVALID) takes precedence.
        alarm_severities: ``(llsv, lsv, hsv, hhsv)`` (default MAJOR, MINOR, MINOR, MAJOR);
            ``"NO_ALARM"`` switches that limit off.
        alarm_hysteresis: HYST, in the PV's units: an alarm clears only once the reading is
            this far back inside the limit.
        ramp: a :class:`~iocgate.Ramp`: the setpoint ramps (stepped by iocgate, or by the
            device itself), with ``<NAME>_RAMP_RATE``, ``<NAME>_RAMPING`` and
            ``<NAME>_RAMP_STOP``; a put completes when the ramp ends.
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
                 read_only: Optional[bool] = None,
                 alarm_limits: Optional[Tuple[float, float, float, float]] = None,
                 alarm_severities: Optional[Tuple[Any, Any, Any, Any]] = None,
                 alarm_hysteresis: float = 0.0, ramp: Optional[Ramp] = None,
                 access_group: str = "DEFAULT", autosave: Union[bool, Tuple[str, ...]] = False,
                 restore: Optional[str] = None, **kwargs: Any):
        if readback is not None and node is None:
            raise TypeError("readback= needs node= (the setpoint's node)")
        if dtype is None and value is not None:
            dtype = type(value)
        elif dtype is None and node is not None:
            dtype = float  # what the node parses replies to by default (caproto would pick int)
        elif dtype is None and alarm_limits is not None:
            dtype = float
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
        self.alarm_limits: Optional[AlarmLimits] = None
        if alarm_limits is not None:
            self.alarm_limits = AlarmLimits.declared(alarm_limits, alarm_severities,
                                                     alarm_hysteresis)
            _add_limit_fields(kwargs, self.alarm_limits, dtype, read_only)
        elif alarm_severities is not None or alarm_hysteresis:
            raise TypeError("alarm_severities= and alarm_hysteresis= need alarm_limits=")
        if ramp is not None and (node is None or read_only):
            raise TypeError("ramp= needs a writable property bound to a node")
        self.ramp = ramp
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
                                   enum_type=enum_type, codes=codes, device_type=device_type,
                                   alarm_limits=self.alarm_limits)
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
        if self.alarm_limits is not None:
            install_fields(self, self.alarm_limits)

    def __set_name__(self, owner: type, name: str) -> None:
        super().__set_name__(owner, name)
        if self.pvspec.alarm_group is None:
            # EPICS records alarm one by one; caproto would share one alarm among them all.
            self.pvspec = self.pvspec._replace(alarm_group=name)

    def make_ramp_pvs(self, attr: str) -> dict:
        """The ``<NAME>_RAMP_RATE``, ``<NAME>_RAMPING`` and ``<NAME>_RAMP_STOP`` properties
        of a property declared with ``ramp=``, by attribute name."""
        assert self.ramp is not None
        return self.ramp.properties(self.pvspec.name or attr, attr, self.pvspec.doc or "")

    def make_readback(self, attr: str) -> pvproperty:
        """The ``<NAME>_RBV`` property for a property declared with ``readback=``."""
        binding = self.binding
        assert binding is not None and binding.readback is not None
        spec = self.pvspec
        name = (spec.name or attr) + "_RBV"
        node = binding.node if binding.readback is True else binding.readback
        cls_kwargs = {key: val for key, val in (spec.cls_kwargs or {}).items()
                      if not key.endswith(("ctrl_limit", "alarm_limit", "warning_limit"))}
        doc = self.readback_doc or (f"Readback of {spec.doc[0].lower() + spec.doc[1:]}"
                                    if spec.doc else "Readback")
        rbv = pvproperty(name=name, node=node, period=binding.period, codes=binding.codes,
                         dtype=spec.dtype, value=spec.value, read_only=True,
                         max_length=spec.max_length, doc=doc, access_group=self.access_group,
                         **cls_kwargs)
        rbv.readback_of = attr
        return rbv


#: record type of a PV with alarm limits: (integer PV, read-only) -> caproto record fields
_LIMIT_RECORDS = {(False, True): "ai", (False, False): "ao", (True, True): "longin",
                  (True, False): "longout"}


def _add_limit_fields(kwargs: Dict[str, Any], limits: AlarmLimits, dtype: Any,
                      read_only: Optional[bool]) -> None:
    """Give a PV with alarm limits its record fields and its DBR_CTRL limits."""
    if dtype not in (float, int, ChannelType.DOUBLE, ChannelType.FLOAT, ChannelType.LONG,
                     ChannelType.INT):
        raise TypeError(f"alarm_limits= needs a numeric PV, not dtype {dtype!r}")
    if kwargs.get("fields"):
        raise TypeError("alarm_limits= sets the record fields; give no fields= with it")
    integer = dtype in (int, ChannelType.LONG, ChannelType.INT)
    kwargs.setdefault("record", _LIMIT_RECORDS[integer, bool(read_only)])
    for key, val in ctrl_metadata(limits).items():
        kwargs.setdefault(key, val)
