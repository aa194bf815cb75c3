"""Simulator toolkit: line, SCPI, Modbus TCP and HTTP servers over TCP and pseudo-terminals,
fault injection, and a backdoor to break a simulator or set its state from outside.

Simulators run in ordinary threads, so they work beside an asyncio, trio or curio IOC in the
same process as well as standalone (``python -m devices.<name> --control-port N``).
"""

from ._cli import run_standalone, serve_backdoor
from ._control import AttributeState, Backdoor, SimState, convert_like
from ._http import (
    HttpRequest,
    HttpResponse,
    HttpSimulator,
    RequestError,
    error_response,
    format_response,
    json_response,
    take_request,
)
from ._lines import GARBAGE, Faults, LineSimulator
from ._modbus import ModbusSimulator
from ._model import InstrumentState, LineModelSimulator, ScpiSimulator
from ._scpi import ScpiAdapter, ScpiServer, header_matches, split_message

__all__ = [
    "GARBAGE", "AttributeState", "Backdoor", "Faults", "HttpRequest", "HttpResponse",
    "HttpSimulator", "InstrumentState", "LineModelSimulator", "LineSimulator",
    "ModbusSimulator", "RequestError", "ScpiAdapter", "ScpiServer", "ScpiSimulator",
    "SimState", "convert_like", "error_response", "format_response", "header_matches",
    "json_response", "run_standalone", "serve_backdoor", "split_message", "take_request",
]
