"""Declare an instrument once: ``setting()`` and ``reading()`` make bound PVs whose command
specs also drive the instrument's simulator (:class:`iocgate.sim.ScpiSimulator`).

::

    class Psu(DeviceGroup):
        volt = setting("VOLT", readback="MEAS:VOLT", units="V", precision=3,
                       limits=(0, 30), follow=Dynamics(slew=10), doc="Output voltage")
        output = setting("OUTP", states=("Off", "On"), doc="Output relay")

PV names come from the attribute by a rule: upper case (``volt`` -> ``VOLT``, readback
``VOLT_RBV``); give ``name=`` to override. An SCPI header may be given in SCPI notation
(``"[SOURce:]VOLTage[:LEVel]"``): the IOC sends its short form (``VOLT``), the simulator
accepts every form.
"""

from __future__ import annotations

import enum
from typing import Any, Optional, Sequence, Tuple, Union

from caproto import ChannelType

from ..protocol._declaration import CommandSpec, Dynamics, command_specs
from ..protocol._scpi import short_header
from ._binding import NodeSpec
from ._properties import pvproperty

__all__ = ["DeclaredPV", "command_specs", "reading", "setting"]

#: bytes of a text reading (identification strings are often longer than DBR_STRING's 40)
TEXT_LENGTH = 256


class DeclaredPV(pvproperty):
    """A :class:`~iocgate.pvproperty` that knows its instrument commands (``specs``)."""

    def __init__(self, *args: Any, sim: Tuple[dict, ...] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sim = sim
        self.specs: Tuple[CommandSpec, ...] = ()

    def _name_by_rule(self, attr: str) -> None:
        if self.pvspec.name is None:
            self.pvspec = self.pvspec._replace(name=attr.upper())
        if not self.specs:
            self.specs = tuple(CommandSpec(name=attr if i == 0 else f"{attr}_rbv",
                                           **({"follows": attr} if i else {}), **fields)
                               for i, fields in enumerate(self._sim))

    def __set_name__(self, owner: type, name: str) -> None:
        self._name_by_rule(name)
        super().__set_name__(owner, name)

    def make_readback(self, attr: str) -> pvproperty:
        self._name_by_rule(attr)  # the metaclass asks before __set_name__ runs
        return super().make_readback(attr)


def _node_fields(node: NodeSpec) -> dict:
    if isinstance(node, str):
        return {"header": node}
    if isinstance(node, dict) and "cmd" in node:
        return {"header": node["cmd"]}
    if isinstance(node, dict):
        return {"get": node.get("get"), "set": node.get("set")}
    return {}


def _sent(node: NodeSpec) -> NodeSpec:
    """The node the IOC binds: an SCPI header in its short form."""
    return short_header(node) if isinstance(node, str) else node


def _unquote(reply: str) -> str:
    return reply.strip().strip('"')


def _quoted(node: NodeSpec) -> NodeSpec:
    """An SCPI header whose value travels in double quotes (``FUNC "VOLT"``)."""
    if not isinstance(node, str):
        raise TypeError("quoted=True needs an SCPI header")
    node = short_header(node)
    return {"cmd": node, "set_format": node + ' "{value}"', "parse": _unquote}


def _states(states: Optional[Sequence[str]], codes: Optional[Sequence[Any]]
            ) -> Tuple[Optional[type], Optional[dict], Optional[Tuple[Any, ...]]]:
    """``(IntEnum, codes mapping for pvproperty, device codes in state order)``."""
    if states is None:
        if codes is not None:
            raise TypeError("codes= needs states=")
        return None, None, None
    enum_type = enum.IntEnum("States", [(state, i) for i, state in enumerate(states)])
    if codes is None:
        codes = tuple(range(len(states)))
    if len(codes) != len(states):
        raise ValueError(f"{len(states)} states but {len(codes)} codes")
    return enum_type, dict(zip(enum_type, codes)), tuple(codes)


def setting(node: NodeSpec, *, doc: str, states: Optional[Sequence[str]] = None,
            codes: Optional[Sequence[Any]] = None, readback: Union[bool, NodeSpec] = True,
            follow: Optional[Dynamics] = None, value: Any = None,
            limits: Optional[Tuple[float, float]] = None, dtype: Any = None,
            quoted: bool = False, reply_format: Optional[str] = None,
            **kwargs: Any) -> DeclaredPV:
    """A writable instrument setting and (by default) its ``_RBV`` readback.

    Args:
        node: the SCPI header (``"VOLT"``, or in SCPI notation ``"[SOURce:]VOLTage"``) or a
            line-protocol mapping
            (``{"get": "SETP? 1", "set": "SETP 1,{value}"}``).
        doc: what the setting does (the PV's DESC).
        states: state names of an enumerated setting (``("Off", "On")``); the PV is an
            ENUM with these words.
        codes: the device code of each state (default ``0, 1, ...``).
        readback: ``True``: ``_RBV`` reads the setting back through ``node``; another node
            spec: ``_RBV`` reads that (a measured value, which in the simulator follows the
            setting with ``follow`` dynamics); ``False``: no readback.
        follow: simulator dynamics of the measured readback (:class:`Dynamics`).
        quoted: the value travels in double quotes (SCPI string parameters).
        reply_format: how the simulator formats the value and its readback in replies
            (``".3f"``); default: its own.
        value, limits, dtype, and any :class:`~iocgate.pvproperty` argument (``units``,
            ``precision``, ``readback_doc``...).
    """
    enum_type, code_map, code_tuple = _states(states, codes)
    if enum_type is not None:
        dtype = enum_type
    kind = _kind(dtype, value, code_tuple)
    power_on = value if value is not None else (code_tuple[0] if code_tuple else kind())
    sim = [dict(_node_fields(node), kind=kind, value=_device_value(power_on, code_tuple),
                limits=limits, codes=code_tuple, quoted=quoted, reply_format=reply_format)]
    if readback not in (True, False):
        sim.append(dict(_node_fields(readback), kind=kind, value=sim[0]["value"],
                        writable=False, dynamics=follow or Dynamics(),
                        reply_format=reply_format))
    node = _quoted(node) if quoted else _sent(node)
    return DeclaredPV(node=node, readback=_sent(readback) or None, dtype=dtype, value=value,
                      limits=limits, codes=code_map, sim=tuple(sim), doc=doc, **kwargs)


def reading(node: NodeSpec, *, doc: str, states: Optional[Sequence[str]] = None,
            codes: Optional[Sequence[Any]] = None, noise: float = 0.0, value: Any = None,
            dtype: Any = None, reply_format: Optional[str] = None,
            **kwargs: Any) -> DeclaredPV:
    """A read-only instrument value (a measurement, a status, an identification).

    Args:
        node, doc, states, codes, reply_format: as for :func:`setting`.
        noise: standard deviation of the simulator's noise on it (units of the PV).
        dtype: ``str`` makes a long string (a CHAR waveform of up to :data:`TEXT_LENGTH`
            bytes, ``caget -S``), since DBR_STRING holds only 40 characters.
        value, and any :class:`~iocgate.pvproperty` argument.
    """
    if dtype is str:
        dtype = ChannelType.CHAR
        kwargs.setdefault("max_length", TEXT_LENGTH)
        value = "" if value is None else value
    enum_type, code_map, code_tuple = _states(states, codes)
    if enum_type is not None:
        dtype = enum_type
    kind = _kind(dtype, value, code_tuple)
    power_on = value if value is not None else (code_tuple[0] if code_tuple else kind())
    sim = (dict(_node_fields(node), kind=kind, value=_device_value(power_on, code_tuple),
                codes=code_tuple, writable=False, reply_format=reply_format,
                dynamics=Dynamics(noise=noise) if noise else None),)
    return DeclaredPV(node=_sent(node), dtype=dtype, value=value, read_only=True, codes=code_map,
                      sim=sim, doc=doc, **kwargs)


def _kind(dtype: Any, value: Any, codes: Optional[Tuple[Any, ...]]) -> type:
    if codes is not None:
        return type(codes[0])
    if dtype is None:
        return type(value) if value is not None else float
    if dtype in (str, ChannelType.STRING, ChannelType.CHAR):
        return str
    return int if dtype in (int, ChannelType.LONG, ChannelType.INT) else float


def _device_value(value: Any, codes: Optional[Tuple[Any, ...]]) -> Any:
    if codes is not None and isinstance(value, (int, enum.Enum)) and not isinstance(value, bool):
        return codes[int(value)]
    return value
