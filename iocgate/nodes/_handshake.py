"""The ENQ handshake of Pfeiffer-style gauge controllers (TPG 26x/36x and alike): a command
line is acknowledged with ``ACK`` (or refused with ``NAK``), then the host sends ``ENQ`` and
the controller sends the reply line."""

from __future__ import annotations

from typing import Any, Callable

from .._errors import DeviceProtocolError, DeviceRejected
from ..protocol import fill_template
from ..transports import Session
from ._base import ControlNode
from ._stream import StreamNode
from ._value import convert

ACK, NAK, ENQ = "\x06", "\x15", "\x05"


class EnqNode(ControlNode):
    """Commands with the ENQ handshake on a stream link (``link`` from
    ``ControlSystem().serial(...)`` or ``.tcp(...)``).

    Args:
        terminator: line terminator both ways.
        timeout: seconds for each of the two replies (default: the link's).

    Raises (from :meth:`query` and the command nodes):
        DeviceRejected: the controller answered ``NAK`` (unknown command or bad value).
        DeviceProtocolError: neither ``ACK`` nor ``NAK`` came back.
        DeviceTimeout, DeviceDisconnected: as on every stream link.
    """

    def __init__(self, link: StreamNode, terminator: str = "\r\n",
                 timeout: float | None = None):
        super().__init__(link, "enq")
        self.link = link
        self.terminator = terminator
        self.timeout = timeout if timeout is not None else link.timeout

    def query(self, text: str) -> str:
        """Send ``text``, wait for ``ACK``, send ``ENQ``, return the reply line."""
        return self.link.run(self._exchange, text, command=text)

    def _exchange(self, session: Session, text: str) -> str:
        session.flush_input()
        session.send_line(text, self.terminator)
        ack = session.receive_line(self.terminator, timeout=self.timeout, command=text)
        if ack == NAK:
            raise DeviceRejected("NAK: command refused", endpoint=session.name, command=text)
        if ack != ACK:
            raise DeviceProtocolError("expected ACK or NAK", raw=ack, endpoint=session.name,
                                      command=text)
        session.send_line(ENQ, "")
        return session.receive_line(self.terminator, timeout=self.timeout, command=text)

    def command(self, get: str | None = None, set: str | None = None, type: Any = str,
                parse: Callable[[str], Any] | None = None) -> EnqCommandNode:
        """A node that queries ``get`` and/or sends ``set`` (``{value}`` for the value);
        a set's reply line (the new setting) is read and dropped."""
        return EnqCommandNode(self, get, set, type, parse)


class EnqCommandNode(ControlNode):
    """One command of an :class:`EnqNode`."""

    def __init__(self, enq: EnqNode, get_text: str | None, set_text: str | None, type: Any,
                 parse: Callable[[str], Any] | None):
        super().__init__(enq, get_text or set_text or "command")
        self.enq, self.get_text, self.set_text = enq, get_text, set_text
        self.type, self.parse = type, parse

    def get(self) -> Any:
        if self.get_text is None:
            return super().get()
        return convert(self.enq.query(self.get_text), self.type, self.parse, self,
                       self.get_text)

    def set(self, value: Any) -> None:
        if self.set_text is None:
            return super().set(value)
        self.enq.query(fill_template(self.set_text, value))


__all__ = ["ACK", "ENQ", "NAK", "EnqCommandNode", "EnqNode"]
