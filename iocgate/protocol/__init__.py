"""Sans-I/O protocol cores: framing, SCPI and telnet-prompt replies, value conversion.

Nothing here imports a socket, serial or event-loop library. Parsers take the bytes received
so far and return either a result plus the leftover bytes, or :data:`NEED_DATA`.
"""

from ._framing import NEED_DATA, NeedData, encode_line, take_line, take_until_prompt
from ._scpi import format_set, parse_error, query_text
from ._values import format_value, parse_value

__all__ = [
    "NEED_DATA", "NeedData", "encode_line", "format_set", "format_value", "parse_error",
    "parse_value", "query_text", "take_line", "take_until_prompt",
]
