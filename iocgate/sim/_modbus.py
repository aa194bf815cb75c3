"""A Modbus TCP device simulator: request frames answered from a register bank, with every
fault and the backdoor of :class:`~iocgate.sim.LineSimulator`."""

from __future__ import annotations

import logging
from typing import Any, List, Tuple

from ..protocol._modbus import RegisterBank, answer_adu, take_adu
from ._lines import LineSimulator

__all__ = ["ModbusSimulator"]

log = logging.getLogger(__name__)


class ModbusSimulator(LineSimulator):
    """Serve ``bank`` as a Modbus TCP device (any unit id).

    Args:
        bank: the device's data (:class:`~iocgate.protocol.RegisterBank`); it raises
            ``ModbusException`` to refuse a request with a Modbus exception code.
        name: for thread names and logs.

    Bytes that are not a Modbus TCP frame are discarded, as a device would drop them.
    """

    def __init__(self, bank: RegisterBank, name: str = "modbus"):
        # frames travel as latin-1 text through the line machinery: a lossless byte mapping
        super().__init__(self._answer_frame, terminator="\n", encoding="latin-1", name=name)
        self.bank = bank

    def _answer_frame(self, frame: str) -> bytes:
        return answer_adu(frame.encode("latin-1"), self.bank)

    def _split(self, buffer: bytes) -> Tuple[List[bytes], bytes]:
        frames = []
        while buffer:
            try:
                taken = take_adu(buffer)
            except ValueError:
                log.warning("%s: discarding %d bytes that are not Modbus TCP", self.name,
                            len(buffer))
                return frames, b""
            if not isinstance(taken, tuple):
                break
            frame, buffer = taken
            frames.append(frame)
        return frames, buffer

    def _encode(self, reply: Any) -> bytes:
        return reply if isinstance(reply, bytes) else reply.encode(self.encoding)
