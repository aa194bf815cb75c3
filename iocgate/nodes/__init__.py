"""The control tree users touch: ``ControlSystem().tcp(host, port).scpi().command("VOLT")``.

Every node has ``get()``/``set()`` (and ``aget()``/``aset()`` for asyncio, trio and curio);
device nodes serialise their I/O on their endpoint (one lock; async calls go through its
worker thread, so no event loop ever blocks).
"""

from ..transports import Endpoint, StreamEndpoint
from ._base import ControlNode, clear_global_stop, global_stop_requested, request_global_stop
from ._batch import aread_many, read_many
from ._blocks import BlockQueryNode
from ._handshake import EnqCommandNode, EnqNode
from ._http import HttpJsonNode, HttpJsonValueNode, HttpNode, HttpPathNode
from ._modbus import ModbusBitNode, ModbusNode, ModbusRegisterNode
from ._plugins import ENTRY_POINT_GROUP, find_control_module
from ._shell import ShellNode
from ._stream import (
    LineCommandNode,
    LinesNode,
    ScpiCommandNode,
    ScpiNode,
    StreamNode,
    TelnetNode,
)
from ._system import ControlSystem
from ._value import (
    ControlThreadNode,
    ConvertNode,
    RampingNode,
    RampingStatusNode,
    ReadonlyNode,
    SetpointNode,
    ValueNode,
    WriteonlyNode,
)

__all__ = [
    "ENTRY_POINT_GROUP", "BlockQueryNode", "ControlNode", "ControlSystem", "ControlThreadNode",
    "ConvertNode", "EnqCommandNode", "EnqNode", "Endpoint", "StreamEndpoint", "HttpJsonNode",
    "HttpJsonValueNode", "HttpNode", "HttpPathNode", "LineCommandNode", "LinesNode",
    "ModbusBitNode", "ModbusNode", "ModbusRegisterNode", "RampingNode", "RampingStatusNode",
    "ReadonlyNode", "ScpiCommandNode", "ScpiNode", "SetpointNode", "ShellNode", "StreamNode",
    "TelnetNode", "ValueNode", "WriteonlyNode", "aread_many", "clear_global_stop",
    "find_control_module", "global_stop_requested", "read_many", "request_global_stop",
]
