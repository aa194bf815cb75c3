"""SCPI queries answered with IEEE 488.2 binary blocks (waveforms)."""

from __future__ import annotations

from typing import Any

import numpy

from .._errors import DeviceProtocolError
from ..protocol import block_samples, take_block
from ..transports import Session
from ._base import ControlNode
from ._stream import ScpiNode


class BlockQueryNode(ControlNode):
    """``get()`` sends ``query`` and returns the samples of the block the instrument answers
    (``#<n><count><bytes>`` then the read terminator), as a float array.

    Args:
        scpi: the SCPI branch of the link (its terminators and reply timeout apply to the
            whole block).
        query: e.g. ``"WAV:DATA?"``.
        dtype: the sample format as a numpy dtype: ``"<f4"`` (little-endian float32),
            ``">i2"`` (big-endian int16) ...

    Raises (from ``get``):
        DeviceTimeout: the block did not arrive complete in time (the link is then reset).
        DeviceProtocolError: the reply is not a block, or not whole samples.
        DeviceDisconnected: the link is down.
    """

    def __init__(self, scpi: ScpiNode, query: str, dtype: Any = "<f4"):
        super().__init__(scpi, query)
        self.scpi = scpi
        self.query = query
        self.dtype = numpy.dtype(dtype)

    def get(self) -> numpy.ndarray:
        return self.scpi.link.run(self._read, command=self.query)

    def _read(self, session: Session) -> numpy.ndarray:
        session.flush_input()
        session.send_line(self.query, self.scpi.write_termination)
        term = self.scpi.read_termination.encode(session.encoding)
        try:
            payload = session.receive(lambda buf: take_block(buf, term), hint=term,
                                      timeout=self.scpi.timeout, command=self.query)
            return block_samples(payload, self.dtype)
        except ValueError as exc:
            session.flush_input()
            raise DeviceProtocolError(f"bad binary block ({exc})",
                                      endpoint=session.name, command=self.query) from exc


__all__ = ["BlockQueryNode"]
