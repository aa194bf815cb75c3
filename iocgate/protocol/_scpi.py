"""SCPI command text: queries, set commands with a format, and the error-queue reply."""

from __future__ import annotations

import re
from typing import Any, List, Sequence, Tuple

from ._values import fill_template, format_value

_ERROR = re.compile(r'^\s*([+-]?\d+)\s*(?:,\s*"?(.*?)"?\s*)?$')


def query_text(command: str) -> str:
    """The query for ``command``: ``"VOLT"`` -> ``"VOLT?"`` (unchanged if it ends in ``?``)."""
    return command if command.endswith("?") else command + "?"


def format_set(command: str, value: Any, set_format: str | None = None,
               opc: bool = False) -> str:
    """The text that sets ``command`` to ``value``.

    Args:
        command: the SCPI header, e.g. ``"VOLT"``.
        value: the value; ``None`` sends the bare header (an event such as ``"*RST"``).
        set_format: a :meth:`str.format` template; the value is both the first positional
            field and ``{value}`` (``"VOLT {:.3f}"``, ``"SETP 1,{value}"``), see
            :func:`~iocgate.protocol.fill_template`. Default: ``"<command> <value>"``.
        opc: append ``;*OPC?`` so that the device answers ``1`` when the set has completed.
    """
    if set_format is not None:
        text = fill_template(set_format, value)
    elif value is None:
        text = command
    else:
        text = f"{command} {format_value(value)}"
    return text + ";*OPC?" if opc else text


def compound_query(queries: Sequence[str]) -> str:
    """One program message asking every query of ``queries`` in turn: ``["MEAS:VOLT?",
    "MEAS:CURR?"]`` -> ``"MEAS:VOLT?;:MEAS:CURR?"``.

    Every header after the first is made absolute (a leading ``:``), since SCPI reads a
    header after ``;`` relative to the previous one's node; common commands (``*IDN?``) stay
    as they are.
    """
    units = [text if i == 0 or text.startswith((":", "*")) else ":" + text
             for i, text in enumerate(queries)]
    return ";".join(units)


def split_compound_reply(reply: str, count: int) -> List[str]:
    """The ``count`` replies of a compound query: ``"1.5;0.25"`` -> ``["1.5", "0.25"]``
    (``;`` inside a quoted string does not split).

    Raises:
        ValueError: the reply holds another number of replies (a query failed and the
            instrument left its reply out, or the instrument does not chain queries).
    """
    parts: List[str] = []
    for piece in reply.split(";"):
        if parts and (parts[-1].count('"') % 2 or parts[-1].count("'") % 2):
            parts[-1] += ";" + piece  # still inside a quoted string
        else:
            parts.append(piece)
    if len(parts) != count:
        raise ValueError(f"expected {count} replies separated by ';', got {len(parts)}")
    return [part.strip() for part in parts]


def has_query(text: str) -> bool:
    """Whether the program message ``text`` asks for a response: one of its ``;``-separated
    commands has a header ending in ``?`` (``"VOLT 2;*OPC?"``, ``"V0 1;MEAS:V0?"``).

    Such a set command gets a reply line, which must be read so that it cannot be taken for
    the answer to the next query.
    """
    return any(unit.split(None, 1)[0].endswith("?")
               for unit in text.split(";") if unit.strip())


def completes_with_opc(text: str) -> bool:
    """Whether ``text`` ends with ``*OPC?``, whose reply must then be ``1``."""
    return text.rstrip().upper().endswith("*OPC?")


def header_nodes(pattern: str) -> List[Tuple[str, str, bool]]:
    """The nodes of a header in SCPI notation: ``"SYSTem:ERRor[:NEXT]?"`` ->
    ``[("SYST", "SYSTEM", False), ("ERR", "ERROR", False), ("NEXT", "NEXT", True)]``
    (short form, long form, optional), upper case, without ``?``."""
    nodes = []
    for optional, name in re.findall(r"(\[?):?([A-Za-z*][A-Za-z0-9]*)\]?", pattern.rstrip("?")):
        short = "".join(c for c in name if not c.islower()) or name
        nodes.append((short.upper(), name.upper(), bool(optional)))
    return nodes


def short_header(pattern: str) -> str:
    """The shortest header a pattern in SCPI notation accepts, which a driver sends:
    ``"[SOURce:]VOLTage[:LEVel]"`` -> ``"VOLT"``, ``"MEASure[:SCALar]:CURRent?"`` ->
    ``"MEAS:CURR?"``; a plain header is returned unchanged."""
    short = ":".join(s for s, _, optional in header_nodes(pattern) if not optional)
    return short + ("?" if pattern.endswith("?") else "")


def parse_error(reply: str) -> Tuple[int, str]:
    """Parse a ``SYST:ERR?`` reply such as ``-222,"Data out of range"``.

    Returns:
        ``(code, message)``; code 0 means the queue is empty.

    Raises:
        ValueError: the reply is not an error-queue entry.
    """
    match = _ERROR.match(reply)
    if match is None:
        raise ValueError(f"not a SCPI error-queue reply: {reply!r}")
    return int(match.group(1)), match.group(2) or ""


__all__ = ["completes_with_opc", "compound_query", "format_set", "has_query", "header_nodes",
           "parse_error", "query_text", "short_header", "split_compound_reply"]
