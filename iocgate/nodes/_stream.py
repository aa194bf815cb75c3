"""Nodes on byte-stream links (TCP, serial, VISA) and the protocol branches under them:
``scpi()``, ``telnet()`` and ``lines()``."""

from __future__ import annotations

import logging
import weakref
from typing import Any, Callable

from .._errors import (
    DeviceDisconnected,
    DeviceError,
    DeviceProtocolError,
    DeviceRejected,
    DeviceTimeout,
    IocgateError,
    NodeAccessError,
)
from ..protocol import (
    completes_with_opc,
    compound_query,
    fill_template,
    format_set,
    has_query,
    parse_error,
    query_text,
    split_compound_reply,
    take_until_prompt,
)
from ..transports import Session, StreamEndpoint
from ._base import ControlNode
from ._value import convert

log = logging.getLogger("iocgate.nodes")


class StreamNode(ControlNode):
    """A raw text link: ``set(text)`` sends it as is, ``get()`` returns whatever has arrived.

    Created by :meth:`ControlSystem.tcp`, ``.serial``, ``.visa``; every node below it shares
    its :class:`~iocgate.transports.StreamEndpoint` (one connection, one lock, one worker
    thread for async callers).
    """

    def __init__(self, parent: ControlNode | None, endpoint: StreamEndpoint,
                 timeout: float | None = None):
        super().__init__(parent, endpoint.name)
        self._endpoint = endpoint
        #: default reply timeout (s) of the protocol nodes below; ``None``: the endpoint's.
        self.timeout = timeout

    @property
    def path(self) -> str:
        return self.name

    @property
    def endpoint(self) -> StreamEndpoint:
        return self._endpoint

    def run(self, job: Callable[..., Any], *args: Any, command: str | None = None) -> Any:
        """Run ``job(session, *args)`` with the link connected, holding the endpoint lock.

        Args:
            command: the command text, named by a :class:`~iocgate.DeviceError` that does
                not name one yet (a lost link or a failed reconnect).
        """
        try:
            return self._endpoint.run(job, *args)
        except DeviceError as exc:
            if command is not None and exc.command is None:
                exc.command = command
                exc.args = (exc._describe(),)
            raise

    def _timeout(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout

    def set(self, value: Any) -> None:
        data = value if isinstance(value, bytes) else str(value).encode(self._endpoint.encoding)
        self.run(Session.send, data)

    def get(self) -> str:
        return self.do_get_chunk()

    def do_get_chunk(self, timeout: float | None = None) -> str:
        """Text received so far, waiting up to ``timeout`` s (default: the reply timeout) for
        something to arrive; ``""`` if nothing did."""
        data = self.run(Session.receive_chunk, self._timeout(timeout))
        return data.decode(self._endpoint.encoding, errors="replace")

    def do_get_line(self, timeout: float | None = None, terminator: str = "\n") -> str:
        """One line (reassembled from chunks), e.g. unsolicited data from the device.

        Raises:
            DeviceTimeout: no complete line within ``timeout`` s. Nothing was asked, so the
                link stays up and a partial line stays buffered for the next call.
        """
        timeout = self._timeout(timeout)

        def job(session: Session) -> str | DeviceTimeout:
            try:
                return session.receive_line(terminator, timeout=timeout)
            except DeviceTimeout as exc:
                return exc  # returned, not raised: the endpoint drops links on timeouts

        line = self.run(job)
        if isinstance(line, DeviceTimeout):
            raise line
        return line

    def do_flush_input(self) -> str:
        """Discard (and return) everything received and not read yet."""
        data = self.run(Session.flush_input)
        return data.decode(self._endpoint.encoding, errors="replace")

    def scpi(self, check_errors: bool = False, write_termination: str = "\n",
             read_termination: str = "\n", timeout: float | None = None,
             compound: int = 1) -> ScpiNode:
        """SCPI commands over this link (see :class:`ScpiNode`)."""
        return ScpiNode(self, check_errors, write_termination, read_termination, timeout,
                        compound)

    def telnet(self, prompt: str = ">", write_termination: str = "\r\n",
               read_termination: str = "\r\n", echo: bool = True,
               timeout: float | None = None, greeting_wait: float = 0.1) -> TelnetNode:
        """Commands on a prompt-driven console (see :class:`TelnetNode`)."""
        return TelnetNode(self, prompt, write_termination, read_termination, echo, timeout,
                          greeting_wait)

    def lines(self, write_termination: str = "\n", read_termination: str = "\n",
              timeout: float | None = None, echo: bool = False) -> LinesNode:
        """Free-form ASCII command/reply lines (see :class:`LinesNode`)."""
        return LinesNode(self, write_termination, read_termination, timeout, echo)


class _Dialect(ControlNode):
    """Settings shared by the command nodes of one protocol on one link."""

    def __init__(self, link: StreamNode, name: str, write_termination: str,
                 read_termination: str, timeout: float | None):
        super().__init__(link, name)
        self.link = link
        self.write_termination = write_termination
        self.read_termination = read_termination
        self.timeout = timeout if timeout is not None else link.timeout

    def query(self, text: str) -> str:
        """Send one line and return the one-line reply, as one exchange."""
        return self.link.run(self._query, text, command=text)

    def write(self, text: str) -> None:
        """Send one line, expect no reply."""
        self.link.run(self._write, text, command=text)

    def _query(self, session: Session, text: str) -> str:
        return session.query(text, self.write_termination, self.read_termination,
                             timeout=self.timeout)

    def _write(self, session: Session, text: str) -> None:
        session.send_line(text, self.write_termination)


class ScpiNode(_Dialect):
    """SCPI over a link.

    Args:
        check_errors: around every set, read ``SYST:ERR?`` until it reports 0. Entries found
            before the set (left by earlier unchecked commands) are logged as warnings; any
            non-zero entry after it raises :class:`~iocgate.DeviceRejected` (the set may still
            have happened partly, as the instrument decided).
        write_termination, read_termination: line terminators.
        timeout: reply timeout in s (default: the endpoint's).
        compound: at most this many queries per message in batched reads
            (:func:`~iocgate.nodes.read_many`, an IOC's scan): ``A?;:B?`` answered ``a;b``.
            1 (the default) sends one query per message. If the instrument's answer does
            not split into as many replies, or it refuses the message, those nodes are read
            again one by one and this node sends single queries from then on.
    """

    def __init__(self, link: StreamNode, check_errors: bool = False,
                 write_termination: str = "\n", read_termination: str = "\n",
                 timeout: float | None = None, compound: int = 1):
        super().__init__(link, "scpi", write_termination, read_termination, timeout)
        self.check_errors = check_errors
        if compound < 1:
            raise ValueError(f"compound must be >= 1 queries per message, not {compound!r}")
        self.compound = compound

    def read_compound(self, nodes: list) -> list | None:
        """Read ``nodes`` (commands of this node) with one compound query.

        Returns:
            One value or :class:`~iocgate.IocgateError` per node, as
            :func:`~iocgate.nodes.read_many` does (a timeout or lost link is every node's
            error); ``None`` if the instrument did not answer the compound query properly:
            read them one by one (compound queries are off for this node from now on).
        """
        texts = [query_text(node.cmd) for node in nodes]
        message = compound_query(texts)
        try:
            reply = self.query(message)
            parts = split_compound_reply(reply, len(nodes))
        except (DeviceTimeout, DeviceDisconnected) as exc:
            return [exc] * len(nodes)
        except (ValueError, DeviceRejected) as exc:
            log.warning("%s: compound query %r failed (%s); single queries from now on",
                        self.path, message, exc)
            self.compound = 1
            return None
        return [_convert_part(node, part, text) for node, part, text in
                zip(nodes, parts, texts)]

    def command(self, cmd: str, type: Any = str, set_format: str | None = None,
                opc: bool = False, parse: Callable[[str], Any] | None = None
                ) -> ScpiCommandNode:
        """A node for one SCPI header: ``get()`` sends ``cmd?`` and converts the reply to
        ``type`` (or with ``parse``); ``set(v)`` sends ``cmd v`` (or ``set_format``), with
        ``opc`` appending ``;*OPC?`` and waiting for ``1``. A set text holding a query
        (``set_format="V0 {};*OPC?"``) has its reply read (and ``*OPC?`` checked) too."""
        return ScpiCommandNode(self, cmd, type, set_format, opc, parse)

    def errors(self, session: Session) -> list:
        """Drain the error queue within the current exchange: the non-zero ``(code, text)``
        entries."""
        found = []
        for _ in range(32):  # SCPI queues are finite; never loop forever on a broken device
            reply = self._query(session, "SYST:ERR?")
            try:
                code, text = parse_error(reply)
            except ValueError as exc:
                raise DeviceProtocolError("bad error-queue reply", raw=reply,
                                          endpoint=session.name, command="SYST:ERR?") from exc
            if code == 0:
                break
            found.append((code, text))
        return found


class _CommandNode(ControlNode):
    """A command of a protocol branch, with the conversion of its replies."""

    def __init__(self, dialect: _Dialect, name: str, type: Any,
                 parse: Callable[[str], Any] | None):
        super().__init__(dialect, name)
        self.type = type
        self.parse = parse

    def _convert(self, reply: str, command: str) -> Any:
        return convert(reply, self.type, self.parse, self, command)


class ScpiCommandNode(_CommandNode):
    """One SCPI command; see :meth:`ScpiNode.command`.

    Raises (from ``get``/``set``):
        DeviceTimeout: no reply within the timeout (the link is then reset).
        DeviceDisconnected: the link is down.
        DeviceProtocolError: the reply does not convert, or ``*OPC?`` did not answer ``1``.
        DeviceRejected: ``check_errors`` is on and the error queue reported an error.
    """

    def __init__(self, scpi: ScpiNode, cmd: str, type: Any, set_format: str | None,
                 opc: bool, parse: Callable[[str], Any] | None):
        super().__init__(scpi, cmd, type, parse)
        self.scpi = scpi
        self.cmd = cmd
        self.set_format = set_format
        self.opc = opc

    @property
    def compound_group(self) -> ScpiNode | None:
        """The node whose compound queries may read this one (see ``ScpiNode.compound``)."""
        return self.scpi if self.scpi.compound > 1 else None

    def get(self) -> Any:
        text = query_text(self.cmd)
        return self._convert(self.scpi.query(text), text)

    def set(self, value: Any = None) -> None:
        text = format_set(self.cmd, value, self.set_format, self.opc)
        self.scpi.link.run(self._set, text, command=text)

    def _set(self, session: Session, text: str) -> None:
        if self.scpi.check_errors:  # errors left by earlier unchecked commands are not ours
            stale = self.scpi.errors(session)
            if stale:
                log.warning("%s: error queue held %s before %r (from earlier commands)",
                            session.name, _describe(stale), text)
        if has_query(text):  # ``opc``, or a set_format such as "V0 {};*OPC?": read the reply
            reply = self.scpi._query(session, text)
            if completes_with_opc(text) and reply.rsplit(";", 1)[-1].strip() != "1":
                raise DeviceProtocolError("*OPC? did not answer 1", raw=reply,
                                          endpoint=session.name, command=text)
        else:
            self.scpi._write(session, text)
        if self.scpi.check_errors:
            found = self.scpi.errors(session)
            if found:
                raise DeviceRejected(f"error queue: {_describe(found)}", endpoint=session.name,
                                     command=text)


def _convert_part(node: ScpiCommandNode, part: str, text: str) -> Any:
    try:
        return node._convert(part, text)
    except IocgateError as exc:
        return exc


def _describe(errors: list) -> str:
    return "; ".join(f"{code},{text!r}" for code, text in errors)


#: Console sessions whose greeting has been discarded (each new connection needs it once).
_GREETED: weakref.WeakSet = weakref.WeakSet()


class TelnetNode(_Dialect):
    """A prompt-driven console: each command is echoed back, then the reply, then the prompt.

    Args:
        prompt: the text that ends every reply.
        echo: whether the device echoes commands (the echo is removed from replies).
        greeting_wait: on a new connection, seconds to wait for a greeting (a banner and
            the first prompt) before the first command; what arrives is discarded, so it
            is never taken for that command's reply.
    """

    def __init__(self, link: StreamNode, prompt: str, write_termination: str,
                 read_termination: str, echo: bool, timeout: float | None,
                 greeting_wait: float = 0.1):
        super().__init__(link, "telnet", write_termination, read_termination, timeout)
        self.prompt = prompt
        self.echo = echo
        self.greeting_wait = greeting_wait

    def _query(self, session: Session, text: str) -> str:
        if session not in _GREETED:
            _GREETED.add(session)
            greeting = session.discard_late_reply(self.greeting_wait, quiet=0.05)
            log.debug("%s: greeting discarded: %r", session.name, greeting)
        session.flush_input()
        session.send_line(text, self.write_termination)
        enc = session.encoding
        prompt, term = self.prompt.encode(enc), self.read_termination.encode(enc)
        echo = text.encode(enc) if self.echo else b""
        reply = session.receive(lambda buf: take_until_prompt(buf, prompt, echo, term),
                                timeout=self.timeout, command=text)
        return reply.decode(enc, errors="replace")

    _write = _query  # a console always answers with a prompt, which must be consumed

    def command(self, cmd: str, type: Any = str, set_format: str | None = None,
                parse: Callable[[str], Any] | None = None) -> LineCommandNode:
        """``get()`` sends ``cmd`` and returns the text before the next prompt; ``set(v)``
        sends ``cmd v`` (or ``set_format``) and consumes the reply."""
        return LineCommandNode(self, cmd, set_format or cmd + " {value}", type, parse)


class LinesNode(_Dialect):
    """Free-form command/reply lines, as on many serial instruments.

    Args:
        echo: the device echoes every command as a line before anything else; the echo is
            read and checked (:class:`~iocgate.DeviceProtocolError` if it differs).
    """

    def __init__(self, link: StreamNode, write_termination: str, read_termination: str,
                 timeout: float | None, echo: bool = False):
        super().__init__(link, "lines", write_termination, read_termination, timeout)
        self.echo = echo

    def _query(self, session: Session, text: str) -> str:
        reply = super()._query(session, text)
        if not self.echo:
            return reply
        self._check_echo(session, reply, text)
        return self._receive(session, text)

    def _write(self, session: Session, text: str) -> None:
        super()._write(session, text)
        if self.echo:
            self._check_echo(session, self._receive(session, text), text)

    def _receive(self, session: Session, text: str) -> str:
        return session.receive_line(self.read_termination, timeout=self.timeout, command=text)

    @staticmethod
    def _check_echo(session: Session, echo: str, text: str) -> None:
        if echo.strip() != text.strip():
            raise DeviceProtocolError("expected the echo of the command", raw=echo,
                                      endpoint=session.name, command=text)

    def command(self, get: str | None = None, set: str | None = None, type: Any = str,
                parse: Callable[[str], Any] | None = None,
                set_reply: bool = False) -> LineCommandNode:
        """A node with a query line ``get`` and/or a set template ``set``.

        Args:
            get: the query sent by ``get()``; ``None`` makes the node write-only.
            set: the line sent by ``set(v)``, with ``{value}`` (or ``{}``) for the value;
                ``None`` makes the node read-only.
            type, parse: conversion of the reply.
            set_reply: the device answers sets with a line (consumed and discarded).
        """
        return LineCommandNode(self, get, set, type, parse, set_reply)


class LineCommandNode(_CommandNode):
    """A query and/or set command of a :class:`LinesNode` or :class:`TelnetNode`."""

    def __init__(self, dialect: _Dialect, get_text: str | None, set_text: str | None,
                 type: Any, parse: Callable[[str], Any] | None, set_reply: bool = True):
        super().__init__(dialect, get_text or set_text or "command", type, parse)
        self.dialect = dialect
        self.get_text = get_text
        self.set_text = set_text
        self.set_reply = set_reply

    def get(self) -> Any:
        if self.get_text is None:
            raise NodeAccessError(f"{self.path} is write-only")
        return self._convert(self.dialect.query(self.get_text), self.get_text)

    def set(self, value: Any) -> None:
        if self.set_text is None:
            raise NodeAccessError(f"{self.path} is read-only")
        text = fill_template(self.set_text, value)
        if self.set_reply:
            self.dialect.query(text)
        else:
            self.dialect.write(text)


__all__ = ["LineCommandNode", "LinesNode", "ScpiCommandNode", "ScpiNode", "StreamNode",
           "TelnetNode"]
