"""Sans-I/O protocol cores: framing, SCPI and telnet-prompt replies, value conversion.

Nothing here imports a socket, serial or event-loop library. Parsers take the bytes received
so far and return either a result plus the leftover bytes, or :data:`NEED_DATA`.
"""

from ._blocks import block_samples, format_block, take_block
from ._declaration import CommandSpec, Dynamics
from ._display import display_value
from ._framing import NEED_DATA, NeedData, encode_line, take_line, take_until_prompt
from ._modbus import (
    ModbusException,
    RegisterBank,
    from_registers,
    register_count,
    to_registers,
)
from ._scpi import (
    completes_with_opc,
    compound_query,
    format_set,
    has_query,
    header_nodes,
    parse_error,
    query_text,
    short_header,
    split_compound_reply,
)
from ._values import fill_template, format_value, parse_value

__all__ = [
    "NEED_DATA", "CommandSpec", "Dynamics", "ModbusException", "NeedData", "RegisterBank",
    "block_samples", "completes_with_opc", "compound_query", "display_value", "encode_line",
    "fill_template", "format_block", "format_set", "format_value", "from_registers", "has_query",
    "header_nodes", "parse_error", "parse_value", "query_text", "register_count",
    "short_header", "split_compound_reply",
    "take_block", "take_line", "take_until_prompt", "to_registers",
]
