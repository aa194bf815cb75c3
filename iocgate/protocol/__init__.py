"""Sans-I/O protocol cores: framing, SCPI and telnet-prompt replies, value conversion.

Nothing here imports a socket, serial or event-loop library. Parsers take the bytes received
so far and return either a result plus the leftover bytes, or :data:`NEED_DATA`.
"""

from ._declaration import CommandSpec, Dynamics
from ._framing import NEED_DATA, NeedData, encode_line, take_line, take_until_prompt
from ._scpi import completes_with_opc, format_set, has_query, parse_error, query_text
from ._values import fill_template, format_value, parse_value

__all__ = [
    "NEED_DATA", "CommandSpec", "completes_with_opc", "Dynamics", "encode_line", "fill_template",
    "format_set", "format_value", "has_query", "NeedData", "parse_error", "parse_value",
    "query_text", "take_line", "take_until_prompt",
]
