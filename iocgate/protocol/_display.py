"""Values as a user would type them (``caput PV <text>``), for log lines and messages.

``b'abc'`` is shown as ``abc``, ``np.uint16(2)`` as ``2``, ``np.float64(2.5)`` as ``2.5``,
an enum member by its state name, an array as its first items.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy

#: items of a sequence shown before the rest is summarised
MAX_ITEMS = 10


def display_value(value: Any) -> str:
    """Text for ``value`` as a user would type it on a command line.

    Bytes are decoded (UTF-8, else Latin-1); numpy scalars become their Python value; floats
    use the shortest text that reads back equal at their precision (``12.5``, a float32
    ``0.1`` as ``0.1``); enum members their name; text
    that is empty or holds spaces is double-quoted; sequences are space-separated, showing
    the first :data:`MAX_ITEMS` items then ``… (N values)``.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _quoted(_decode(bytes(value)))
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, numpy.floating):
        return str(value)  # shortest text at its own precision: float32(0.1) -> 0.1
    if isinstance(value, numpy.generic):
        return display_value(value.item())
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (list, tuple, numpy.ndarray)):
        items = [display_value(item) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… ({len(value)} values)")
        return " ".join(items) if len(value) != 1 else items[0]
    return str(value)


def _decode(data: bytes) -> str:
    data = data.split(b"\0", 1)[0]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _quoted(text: str) -> str:
    if text and not any(char.isspace() for char in text) and '"' not in text:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
