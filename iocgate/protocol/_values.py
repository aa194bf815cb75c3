"""Conversion between device reply text and Python values, and back.

Supported types: ``float``, ``int``, ``bool``, ``str``, any :class:`enum.Enum` subclass,
``list[float]`` / ``typing.List[T]`` and :class:`numpy.ndarray` (comma-separated values).
"""

from __future__ import annotations

import enum
import typing
from typing import Any, Callable

import numpy

_TRUE = {"1", "ON", "TRUE", "YES"}
_FALSE = {"0", "OFF", "FALSE", "NO"}


def _parse_bool(text: str) -> bool:
    word = text.strip().upper()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    number = float(word)  # "1.000E+00" style replies; ValueError if not a number
    if number in (0.0, 1.0):
        return bool(number)
    raise ValueError(f"not a boolean: {text!r}")


def _parse_int(text: str) -> int:
    text = text.strip()
    try:
        return int(text, 0) if text[:2].lower() in ("0x", "0b", "0o") else int(text)
    except ValueError:
        number = float(text)  # "+5.000E+00" from instruments that always send floats
        if not number.is_integer():
            raise
        return int(number)


def _parse_enum(kind: type[enum.Enum], text: str) -> enum.Enum:
    text = text.strip()
    upper = text.upper()  # device words are case-insensitive ("ON", "On", "on")
    for member in kind:
        if str(member.value) == text:
            return member
    for member in kind:
        if member.name.upper() == upper or str(member.value).upper() == upper:
            return member
    for member in kind:  # numeric codes: "1" == "+1" == "1.0"
        try:
            if float(member.value) == float(text):
                return member
        except (TypeError, ValueError):
            continue
    raise ValueError(f"not a {kind.__name__} code: {text!r}")


def _split(text: str) -> list[str]:
    text = text.strip()
    return [part.strip() for part in text.split(",")] if text else []


def parse_value(text: str, kind: Any = str) -> Any:
    """Convert one reply to ``kind``.

    Args:
        text: the reply without terminator.
        kind: ``float``, ``int``, ``bool`` (accepts 0/1/ON/OFF/TRUE/FALSE), ``str`` (returned
            stripped), an ``Enum`` subclass (matched by value, then by name or value in any
            case, then by numeric value),
            ``list[float]``-style generics or ``numpy.ndarray`` (``"1,2,3"``), or any callable
            taking the text.

    Returns:
        The converted value.

    Raises:
        ValueError: the text does not parse as ``kind`` (callers wrap it with the raw reply).
    """
    if kind is str:
        return text.strip()
    if kind is float:
        return float(text)
    if kind is int:
        return _parse_int(text)
    if kind is bool:
        return _parse_bool(text)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return _parse_enum(kind, text)
    if kind is numpy.ndarray:
        return numpy.array([float(part) for part in _split(text)])
    if kind is list or typing.get_origin(kind) is list:
        args = typing.get_args(kind)
        item: Callable[[str], Any] = args[0] if args else float
        return [parse_value(part, item) for part in _split(text)]
    if callable(kind):
        return kind(text)
    raise TypeError(f"unsupported value type {kind!r}")


def format_value(value: Any) -> str:
    """Text for ``value`` in a command: enums send their device code, booleans ``1``/``0``,
    sequences are comma-separated, floats use ``repr`` precision (``2.5`` -> ``"2.5"``)."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, (bool, numpy.bool_)):
        return "1" if value else "0"
    if isinstance(value, (list, tuple, numpy.ndarray)):
        return ",".join(format_value(item) for item in value)
    if isinstance(value, numpy.generic):
        return str(value.item())
    return str(value)


class _Field:
    """A value in a command template: ``{}`` gives :func:`format_value` text, a format spec
    (``{:.3f}``) formats the value itself (an enum's device code)."""

    def __init__(self, value: Any):
        self.value = value

    def __format__(self, spec: str) -> str:
        if not spec:
            return format_value(self.value)
        code = self.value.value if isinstance(self.value, enum.Enum) else self.value
        return format(code, spec)


def fill_template(template: str, value: Any) -> str:
    """``template`` (:meth:`str.format` syntax) with ``value`` as both the first positional
    field and ``{value}``: ``fill_template("SETP 1,{value:.2f}", 300)`` -> ``"SETP 1,300.00"``;
    a field without a spec gets :func:`format_value` text (``True`` -> ``"1"``).

    Raises:
        ValueError: the spec does not suit the value (``{:.2f}`` with a string).
    """
    field = _Field(value)
    return template.format(field, value=field)


__all__ = ["fill_template", "format_value", "parse_value"]
