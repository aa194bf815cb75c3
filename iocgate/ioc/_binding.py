"""What a bound property declares about its device node, and the conversions between PV
values and device values. No I/O here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Union

from ._limits import AlarmLimits

#: How a property names its node, relative to the group's device node:
#: a command string (``"MEAS:VOLT"`` -> ``device.command("MEAS:VOLT", type=...)``), a mapping of
#: keyword arguments for ``device.command(**mapping)`` (``{"get": "KRDG? A"}``), or a callable
#: ``device -> node`` for anything else.
NodeSpec = Union[str, Mapping[str, Any], Callable[[Any], Any]]


@dataclass(frozen=True)
class Binding:
    """The device side of one pvproperty.

    Attributes:
        node: the node read/written for this PV (see :data:`NodeSpec`).
        readback: ``None`` for no readback PV; ``True`` to read back through ``node`` itself;
            or a separate :data:`NodeSpec` (e.g. a measured value).
        period: seconds between reads of readable nodes; ``None`` uses the group's
            ``scan_period``.
        tolerance: if set, a put completes only once the readback is within this distance of
            the target (in the PV's units); ``settle_timeout`` seconds bound the wait.
        settle_timeout: seconds a put may wait for the readback to settle before it fails.
        enum_type: the ``IntEnum`` the PV's states come from, or ``None``.
        codes: device code for each enum member; default ``int(member)``.
        device_type: the Python type the node parses replies to / formats values from.
        alarm_limits: the declared alarm limits readings are checked against (the record
            fields change them at run time), or ``None``.
    """

    node: Optional[NodeSpec]
    readback: Union[None, bool, NodeSpec] = None
    period: Optional[float] = None
    tolerance: Optional[float] = None
    settle_timeout: float = 10.0
    enum_type: Optional[type] = None
    codes: Optional[Mapping[Any, Any]] = None
    device_type: type = float
    alarm_limits: Optional[AlarmLimits] = None
    _code_to_state: Dict[Any, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.enum_type is not None:
            table = {_normalise(self.device_code(member)): member.name
                     for member in self.enum_type}  # type: ignore[attr-defined]
            self._code_to_state.update(table)

    def make_node(self, device: Any, spec: NodeSpec) -> Any:
        """Build the node that ``spec`` names under ``device``."""
        if callable(spec):
            return spec(device)
        if isinstance(spec, str):
            return device.command(spec, type=self.device_type)
        kwargs = dict(spec)
        kwargs.setdefault("type", self.device_type)
        return device.command(**kwargs)

    def device_code(self, member: enum.Enum) -> Any:
        if self.codes is not None and member in self.codes:
            return self.codes[member]
        return int(member.value)

    def to_device(self, pv_value: Any) -> Any:
        """Convert a value as stored in the PV into what the node's ``set`` takes."""
        if self.enum_type is not None:
            return self.device_code(self.enum_type[pv_value])  # type: ignore[index]
        if isinstance(pv_value, (list, tuple)) and len(pv_value) == 1:
            pv_value = pv_value[0]
        return self.device_type(pv_value) if self.device_type in (int, float, str) else pv_value

    def to_pv(self, device_value: Any) -> Any:
        """Convert what the node's ``get`` returned into the PV's value.

        Raises:
            ValueError: an enum code that names no state.
        """
        if self.enum_type is not None:
            if isinstance(device_value, enum.Enum):
                device_value = self.device_code(device_value)  # type: ignore[arg-type]
            try:
                return self._code_to_state[_normalise(device_value)]
            except KeyError:
                raise ValueError(f"device code {device_value!r} names no state of "
                                 f"{self.enum_type.__name__}") from None
        return device_value


def _normalise(code: Any) -> Any:
    if isinstance(code, str):
        text = code.strip().upper()
        try:
            return int(text)
        except ValueError:
            return text
    if isinstance(code, bool):
        return int(code)
    return code
