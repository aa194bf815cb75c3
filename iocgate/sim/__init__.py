"""Simulator toolkit: line and SCPI servers over TCP and pseudo-terminals, fault injection,
and a backdoor to break a simulator or set its state from outside.

Simulators run in ordinary threads, so they work beside an asyncio, trio or curio IOC in the
same process as well as standalone (``python -m devices.<name> --control-port N``).
"""

from ._cli import run_standalone, serve_backdoor
from ._control import AttributeState, Backdoor, SimState
from ._lines import GARBAGE, Faults, LineSimulator
from ._modbus import ModbusSimulator
from ._model import InstrumentState, LineModelSimulator, ScpiSimulator
from ._scpi import ScpiAdapter, ScpiServer, header_matches, split_message

__all__ = [
    "GARBAGE", "AttributeState", "Backdoor", "Faults", "InstrumentState", "LineModelSimulator",
    "LineSimulator", "ModbusSimulator", "ScpiAdapter", "ScpiServer", "ScpiSimulator",
    "SimState", "header_matches", "run_standalone", "serve_backdoor", "split_message",
]
