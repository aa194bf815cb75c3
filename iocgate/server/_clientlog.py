"""What clients do, as log lines: connects, disconnects and puts (``-v``), every request (``-vv``).

Two loggers, off unless configured (``python -m iocs.<name> -v`` / ``-vv`` turn them on):

* ``iocgate.server.clients`` at INFO: ``client 127.0.0.1:40312 connected``, ``put PSU:VOLT
  0 -> 12.5 by alice@lab1 (127.0.0.1:40312)``, refused puts with the reason;
* ``iocgate.server.wire`` at DEBUG: each request received (command, PV, type, count).

Circuits check :func:`enabled` once, when created, so a quiet server pays nothing per request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple

from ..protocol import display_value
from . import _wire as wire

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit import Channel, Circuit

clients_log = logging.getLogger("iocgate.server.clients")
wire_log = logging.getLogger("iocgate.server.wire")

COMMAND_NAMES = {getattr(wire, name): name for name in (
    "VERSION", "EVENT_ADD", "EVENT_CANCEL", "READ", "WRITE", "SEARCH", "EVENTS_OFF",
    "EVENTS_ON", "CLEAR_CHANNEL", "READ_NOTIFY", "CREATE_CHAN", "WRITE_NOTIFY", "CLIENT_NAME",
    "HOST_NAME", "ECHO")}
_NAMED_PAYLOAD = {wire.CREATE_CHAN, wire.CLIENT_NAME, wire.HOST_NAME}
_ON_CHANNEL = {wire.READ, wire.READ_NOTIFY, wire.WRITE, wire.WRITE_NOTIFY, wire.EVENT_ADD,
               wire.EVENT_CANCEL, wire.CLEAR_CHANNEL}


def enabled() -> Tuple[bool, bool]:
    """``(log clients and puts, trace requests)`` as the loggers are configured now."""
    return clients_log.isEnabledFor(logging.INFO), wire_log.isEnabledFor(logging.DEBUG)


def who(circuit: Circuit) -> str:
    """``user@host (address:port)``, or just the address before the client named itself."""
    address = f"{circuit.address[0]}:{circuit.address[1]}"
    if circuit.username:
        return f"{circuit.username}@{circuit.hostname} ({address})"
    return address


def connected(circuit: Circuit) -> None:
    clients_log.info("client %s connected", who(circuit))


def disconnected(circuit: Circuit) -> None:
    clients_log.info("client %s disconnected", who(circuit))


def put_logger(circuit: Circuit, channel: Channel) -> Callable[[Optional[str]], None]:
    """Note the channel's value now; the returned ``finish(error)`` logs ``old -> new`` (or
    the refusal with ``error``) once the put has completed."""
    data = channel.entry.data
    old = data.value

    def finish(error: Optional[str]) -> None:
        if error is None:
            clients_log.info("put %s %s -> %s by %s", channel.name, display_value(old),
                             display_value(data.value), who(circuit))
        else:
            clients_log.info("put %s refused (value stays %s) for %s: %s", channel.name,
                             display_value(old), who(circuit), error)

    return finish


def request(circuit: Circuit, message: Tuple[Any, ...]) -> None:
    """Log one received request ``(command, data_type, count, p1, p2, header_len, payload)``."""
    command, data_type, count, p1, _p2, _h, payload = message
    name = COMMAND_NAMES.get(command, f"command {command}")
    detail = ""
    if command in _NAMED_PAYLOAD:
        detail = wire.decode_string(payload)
    elif command in _ON_CHANNEL:
        channel = circuit.channels.get(p1)
        detail = f"{channel.name if channel else f'sid {p1}'} type {data_type} count {count}"
    wire_log.debug("%s:%d <- %s %s", circuit.address[0], circuit.address[1], name, detail)

