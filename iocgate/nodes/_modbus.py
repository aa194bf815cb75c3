"""Modbus nodes: ``modbus(host).holding(0, "float32", word_order="little", scale=0.1)``."""

from __future__ import annotations

from typing import Any

from .._errors import DeviceProtocolError, LimitError
from ..protocol import from_registers, register_count, to_registers
from ..transports._modbus import ModbusEndpoint
from ._base import ControlNode


class ModbusNode(ControlNode):
    """A Modbus TCP device; its children are registers and bits. Requests go one at a time
    through its endpoint (async callers: on its worker thread)."""

    def __init__(self, parent: ControlNode | None, endpoint: ModbusEndpoint):
        super().__init__(parent, endpoint.name)
        self._endpoint = endpoint

    @property
    def path(self) -> str:
        return self.name

    @property
    def endpoint(self) -> ModbusEndpoint:
        return self._endpoint

    def holding(self, address: int, kind: str = "uint16", word_order: str = "big",
                scale: float = 1.0) -> ModbusRegisterNode:
        """A holding register (read/write); see :class:`ModbusRegisterNode`."""
        return ModbusRegisterNode(self, "holding", address, kind, word_order, scale)

    def input(self, address: int, kind: str = "uint16", word_order: str = "big",
              scale: float = 1.0) -> ModbusRegisterNode:
        """An input register (read-only); see :class:`ModbusRegisterNode`."""
        return ModbusRegisterNode(self, "input", address, kind, word_order, scale)

    def coil(self, address: int) -> ModbusBitNode:
        """A coil (read/write bit)."""
        return ModbusBitNode(self, "coils", address)

    def discrete(self, address: int) -> ModbusBitNode:
        """A discrete input (read-only bit)."""
        return ModbusBitNode(self, "discrete", address)


class ModbusRegisterNode(ControlNode):
    """A value in one or two registers.

    Args:
        kind: ``"uint16"``, ``"int16"``, ``"uint32"``, ``"int32"`` or ``"float32"``.
        word_order: ``"big"`` (high word first) or ``"little"``, for 32-bit kinds.
        scale: engineering value = register value × ``scale`` (``0.1``: tenths).

    Raises (from ``get``/``set``): those of :meth:`ModbusEndpoint.read`; ``set`` also
    :class:`~iocgate.LimitError` for a value the register kind cannot hold (nothing sent),
    and :class:`~iocgate.NodeAccessError` on an input register.
    """

    def __init__(self, device: ModbusNode, table: str, address: int, kind: str,
                 word_order: str, scale: float):
        super().__init__(device, f"{table}[{address}]")
        self.device, self.table, self.address = device, table, int(address)
        self.kind, self.word_order, self.scale = kind, word_order, float(scale)
        self.count = register_count(kind)
        to_registers(0, kind, word_order)  # a bad word order fails here, not on first use

    def get(self) -> Any:
        endpoint = self.device.endpoint
        registers = endpoint.run(endpoint.read, self.table, self.address, self.count)
        try:
            raw = from_registers(registers, self.kind, self.word_order)
        except ValueError as exc:
            raise DeviceProtocolError(str(exc), raw=registers, endpoint=endpoint.name,
                                      command=self.path) from exc
        return raw * self.scale if self.scale != 1.0 or self.kind == "float32" else raw

    def set(self, value: Any) -> None:
        if self.table != "holding":
            return super().set(value)
        try:
            registers = to_registers(float(value) / self.scale, self.kind, self.word_order)
        except ValueError as exc:
            raise LimitError(f"{self.path}: {exc}") from exc
        endpoint = self.device.endpoint
        endpoint.run(endpoint.write, "holding", self.address, registers)


class ModbusBitNode(ControlNode):
    """A coil or discrete input: ``get()`` gives 0 or 1; ``set(v)`` (coils) writes ``bool(v)``."""

    def __init__(self, device: ModbusNode, table: str, address: int):
        super().__init__(device, f"{table}[{address}]")
        self.device, self.table, self.address = device, table, int(address)

    def get(self) -> int:
        endpoint = self.device.endpoint
        return endpoint.run(endpoint.read, self.table, self.address, 1)[0]

    def set(self, value: Any) -> None:
        if self.table != "coils":
            return super().set(value)
        endpoint = self.device.endpoint
        endpoint.run(endpoint.write, "coils", self.address, [int(bool(value))])


__all__ = ["ModbusBitNode", "ModbusNode", "ModbusRegisterNode"]
