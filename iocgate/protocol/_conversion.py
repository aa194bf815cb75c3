"""How an EPICS IOC converts put values: pure functions, no I/O.

A CA client may put any DBR type to any PV. EPICS base converts a DBR_STRING put into a
numeric field by parsing it as an integer and, failing that, as a float (truncated for
integer fields); an empty string is 0. Enum fields accept a state name, or an index given as
a number or as a numeric string. caproto 1.3 rejects "2.500000" on LONG PVs, which the C
``catime`` tool sends; these functions are what iocgate does instead.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

Number = Union[int, float]


def parse_number(text: Union[str, bytes], *, integer: bool) -> Number:
    """Parse a put string the way EPICS' dbConvert does, but stricter: softIoc 7.0.8.1 reads
    the leading number and ignores the rest ("12abc" -> 12, "0x10" -> 0 into a LONG, 16 into
    a DOUBLE; "1e3" -> 1 into a LONG), where this refuses the text or reads all of it (1000).

    Args:
        text: the string as sent (surrounding blanks are ignored).
        integer: the target field is an integer type; a float string is truncated toward 0.

    Returns:
        ``int`` when ``integer`` else ``float``.

    Raises:
        ValueError: not a number, or (integer) not finite; the message quotes the text.
    """
    if isinstance(text, bytes):
        text = text.split(b"\0", 1)[0].decode("latin-1")
    stripped = text.strip()
    if not stripped:
        return 0 if integer else 0.0
    if "_" in stripped:  # Python's digit separators: no EPICS number has them
        raise ValueError(f"{text!r} is not a number")
    if integer:
        try:
            return int(stripped, 10)
        except ValueError:
            pass
    try:
        value = float(stripped)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not integer:
        return value
    if not math.isfinite(value):
        raise ValueError(f"{text!r} does not fit an integer")
    return int(value)


def resolve_enum_state(value: object, states: Sequence[str]) -> str:
    """Return the state name a put of ``value`` selects on an enum PV.

    Accepts a state name (exact), an ``int`` index, or a string holding an index
    (``"1"``), as an EPICS mbbo/bo record does.

    Raises:
        ValueError: not a state of this PV; the message lists the states.
    """
    if isinstance(value, bytes):
        value = value.split(b"\0", 1)[0].decode("latin-1")
    if isinstance(value, str):
        if value in states:
            return value
        stripped = value.strip()
        if stripped in states:
            return stripped
        try:
            value = int(stripped, 10)
        except ValueError:
            raise ValueError(
                f"{value!r} is not one of the states {list(states)}") from None
    if isinstance(value, (int,)) or (hasattr(value, "__index__") and not isinstance(value, bool)):
        index = int(value)  # type: ignore[call-overload]
        if 0 <= index < len(states):
            return states[index]
        raise ValueError(f"index {index} is out of range for the states {list(states)}")
    if isinstance(value, bool):
        return resolve_enum_state(int(value), states)
    raise ValueError(f"{value!r} is not one of the states {list(states)}")
