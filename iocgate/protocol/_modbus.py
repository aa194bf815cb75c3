"""Modbus, sans I/O: values in registers (16-bit words, 32-bit values over two words in
either word order, scaling) and the server side of Modbus TCP (MBAP framing, the data-access
function codes) for simulators.

Word order: ``"big"`` sends the high word first (``ABCD``, the Modbus convention);
``"little"`` sends the low word first (``CDAB``, common in PLCs). Bytes within a word are
always big-endian.
"""

from __future__ import annotations

import struct
from typing import Any, List, Protocol, Sequence

from ._framing import NEED_DATA, Taken

#: register kinds: struct format (big-endian, whole value) and number of registers
KINDS = {"uint16": (">H", 1), "int16": (">h", 1), "uint32": (">I", 2), "int32": (">i", 2),
         "float32": (">f", 2)}
WORD_ORDERS = ("big", "little")

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE = 1, 2, 3
_HEADER = struct.Struct(">HHHB")  # transaction, protocol (0), length, unit
_MAX_ADU = 260


class ModbusException(Exception):
    """A request the server refuses: ``code`` is the Modbus exception code (1-4)."""

    def __init__(self, code: int, message: str = ""):
        super().__init__(message or f"Modbus exception {code}")
        self.code = code


def register_count(kind: str) -> int:
    """Registers a value of ``kind`` takes (1 or 2).

    Raises:
        ValueError: unknown kind.
    """
    try:
        return KINDS[kind][1]
    except KeyError:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, not {kind!r}") from None


def to_registers(value: Any, kind: str = "uint16", word_order: str = "big") -> List[int]:
    """The registers holding ``value`` (an int kind takes the value rounded).

    Raises:
        ValueError: unknown kind or word order, or the value does not fit the kind.
    """
    fmt, count = KINDS.get(kind, (None, 0))
    if fmt is None or word_order not in WORD_ORDERS:
        raise ValueError(f"bad kind {kind!r} or word order {word_order!r}")
    number = float(value) if kind == "float32" else int(round(float(value)))
    try:
        words = list(struct.unpack(f">{count}H", struct.pack(fmt, number)))
    except struct.error as exc:
        raise ValueError(f"{value!r} does not fit {kind}: {exc}") from None
    return words[::-1] if word_order == "little" else words


def from_registers(registers: Sequence[int], kind: str = "uint16",
                   word_order: str = "big") -> Any:
    """The value in ``registers`` (exactly :func:`register_count` of them).

    Raises:
        ValueError: unknown kind or word order, or the wrong number of registers.
    """
    fmt, count = KINDS.get(kind, (None, 0))
    if fmt is None or word_order not in WORD_ORDERS:
        raise ValueError(f"bad kind {kind!r} or word order {word_order!r}")
    if len(registers) != count:
        raise ValueError(f"{kind} needs {count} registers, got {len(registers)}")
    words = list(registers)[::-1] if word_order == "little" else list(registers)
    return struct.unpack(fmt, struct.pack(f">{count}H", *words))[0]


# --------------------------------------------------------------------------- server side
class RegisterBank(Protocol):
    """What a simulated Modbus device stores; raises :class:`ModbusException` to refuse."""

    def read(self, table: str, address: int, count: int) -> List[int]:
        """``count`` values of ``table`` from ``address`` (bits as 0/1)."""

    def write(self, table: str, address: int, values: List[int]) -> None:
        """Store ``values`` (``"coils"`` or ``"holding"``) from ``address``."""


def take_adu(buffer: bytes) -> Taken:
    """Split the first Modbus TCP frame (MBAP header + PDU) off ``buffer``.

    Raises:
        ValueError: not Modbus TCP (protocol id not 0, or a length outside 2..254).
    """
    if len(buffer) < _HEADER.size:
        return NEED_DATA
    _, protocol, length, _ = _HEADER.unpack_from(buffer)
    if protocol != 0 or not 2 <= length <= _MAX_ADU - 6:
        raise ValueError(f"not a Modbus TCP frame: {buffer[:8]!r}")
    end = 6 + length
    if len(buffer) < end:
        return NEED_DATA
    return buffer[:end], buffer[end:]


def _bits(values: Sequence[int]) -> bytes:
    packed = bytearray((len(values) + 7) // 8)
    for i, bit in enumerate(values):
        if bit:
            packed[i // 8] |= 1 << (i % 8)
    return bytes([len(packed)]) + bytes(packed)


def _unbits(data: bytes, count: int) -> List[int]:
    return [(data[i // 8] >> (i % 8)) & 1 for i in range(count)]


_READS = {1: "coils", 2: "discrete", 3: "holding", 4: "input"}


def _execute(pdu: bytes, bank: RegisterBank) -> bytes:
    function = pdu[0]
    try:
        if function in _READS:
            address, count = struct.unpack(">HH", pdu[1:5])
            if not 1 <= count <= (2000 if function < 3 else 125):
                raise ModbusException(ILLEGAL_VALUE)
            values = bank.read(_READS[function], address, count)
            if function < 3:
                return bytes([function]) + _bits(values)
            return bytes([function, 2 * count]) + struct.pack(f">{count}H", *values)
        if function in (5, 6):
            address, raw = struct.unpack(">HH", pdu[1:5])
            if function == 5 and raw not in (0x0000, 0xFF00):
                raise ModbusException(ILLEGAL_VALUE)
            bank.write("coils" if function == 5 else "holding", address,
                       [int(raw == 0xFF00) if function == 5 else raw])
            return pdu[:5]
        if function in (15, 16):
            address, count, size = struct.unpack(">HHB", pdu[1:6])
            data = pdu[6:6 + size]
            if function == 15:
                values = _unbits(data, count)
            else:
                values = list(struct.unpack(f">{count}H", data))
            bank.write("coils" if function == 15 else "holding", address, values)
            return pdu[:5]
    except struct.error:
        raise ModbusException(ILLEGAL_VALUE) from None
    raise ModbusException(ILLEGAL_FUNCTION)


def answer_adu(adu: bytes, bank: RegisterBank) -> bytes:
    """The response frame to the request frame ``adu`` (an exception response if ``bank``
    refuses, or for an unsupported function code)."""
    transaction, _, _, unit = _HEADER.unpack_from(adu)
    pdu = adu[7:]
    try:
        reply = _execute(pdu, bank)
    except ModbusException as exc:
        reply = bytes([pdu[0] | 0x80, exc.code])
    return _HEADER.pack(transaction, 0, len(reply) + 1, unit) + reply


def request_adu(transaction: int, unit: int, pdu: bytes) -> bytes:
    """A request frame (for tests and clients): MBAP header + ``pdu``."""
    return _HEADER.pack(transaction, 0, len(pdu) + 1, unit) + pdu


__all__ = ["ILLEGAL_ADDRESS", "ILLEGAL_FUNCTION", "ILLEGAL_VALUE", "KINDS",
           "ModbusException", "RegisterBank", "answer_adu", "from_registers", "register_count",
           "request_adu", "take_adu", "to_registers"]
