"""Which PV type serves a Python value, and the conversions both ways. No I/O."""

from __future__ import annotations

import enum
import json
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

from caproto import ChannelType

#: characters of a DBR_STRING kept (the rest is cut off)
STRING_LENGTH = 39
#: characters a JSON-valued PV (dicts, lists, other objects) holds
JSON_LENGTH = 4096


class Switch(enum.IntEnum):
    """States of a PV serving a ``bool``."""

    Off = 0
    On = 1


def _identity(value: Any) -> Any:
    return value


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return value[0]
    return value


@dataclass(frozen=True)
class Kind:
    """How a value is served.

    Attributes:
        initial: the PV's first value.
        kwargs: ``pvproperty`` arguments (``dtype``, ``max_length``).
        numeric: whether units, precision and limits apply.
        to_pv: Python value -> PV value. to_python: PV value (as a putter receives it) ->
            Python value.
    """

    initial: Any
    kwargs: Dict[str, Any] = field(default_factory=dict)
    numeric: bool = False
    to_pv: Callable[[Any], Any] = _identity
    to_python: Callable[[Any], Any] = _identity


def kind_of(value: Any, dtype: Optional[type] = None) -> Kind:
    """The :class:`Kind` for ``value`` (or for ``dtype`` if given): ``bool`` -> enum Off/On,
    ``int`` -> LONG, other real numbers and ``None`` -> DOUBLE, ``str`` -> STRING (40
    characters; ``dtype=ChannelType.CHAR``: a long string of :data:`JSON_LENGTH`), anything
    else -> JSON text in a CHAR waveform of :data:`JSON_LENGTH`."""
    kind = dtype if dtype is not None else type(value)
    if kind is ChannelType.CHAR:
        return Kind(str(value or ""), {"dtype": ChannelType.CHAR, "max_length": JSON_LENGTH},
                    to_pv=lambda v: str(v)[:JSON_LENGTH - 1], to_python=str)
    if kind is bool:
        return Kind(Switch.On if value else Switch.Off, {"dtype": Switch},
                    to_pv=lambda v: (Switch.On if v else Switch.Off).name,
                    to_python=lambda v: _scalar(v) in (Switch.On.name, Switch.On, 1))
    if kind is int or (dtype is None and isinstance(value, numbers.Integral)):
        return Kind(int(value or 0), {"dtype": int}, numeric=True, to_pv=int,
                    to_python=lambda v: int(_scalar(v)))
    if value is None or kind is float or (dtype is None and isinstance(value, numbers.Real)):
        return Kind(float(value or 0.0), {"dtype": float}, numeric=True, to_pv=float,
                    to_python=lambda v: float(_scalar(v)))
    if kind is str:
        return Kind(_short_text(value or ""), {"dtype": ChannelType.STRING},
                    to_pv=_short_text, to_python=lambda v: str(_scalar(v)))
    return Kind(_to_json(value), {"dtype": ChannelType.CHAR, "max_length": JSON_LENGTH},
                to_pv=_to_json, to_python=json.loads)


def _short_text(value: Any) -> str:
    return str(value)[:STRING_LENGTH]


def _to_json(value: Any) -> str:
    text = json.dumps(value, default=str)
    if len(text) >= JSON_LENGTH:
        raise ValueError(f"value needs {len(text)} characters, the PV holds {JSON_LENGTH - 1}")
    return text
