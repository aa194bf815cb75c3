"""Server-wide sans-I/O state: name search over UDP and subscription fan-out.

:class:`ServerCore` is what every back-end shares. It answers search datagrams, and it is the
"queue" handed to ``ChannelData.subscribe``: caproto pushes ``SubscriptionUpdate`` items into
it with ``await queue.put(update)``; :meth:`ServerCore.put` never waits, it encodes each update
once per (type, count) and drops it into the bounded per-subscription queues of the circuits
(:class:`~iocgate.server._circuit.Circuit`), which keep the newest values when a client is slow.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Awaitable, Callable, Dict, List, Mapping, Tuple

from caproto import ChannelData
from caproto.server.common import SubscriptionSpec

from . import _wire as wire
from ._drive import drive
from ._pvdb import PVDatabase

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit import Circuit, Subscription

log = logging.getLogger("iocgate.server")

DEFAULT_MAX_ARRAY_BYTES = 16384


class ServerCore:
    """State shared by all circuits of one server.

    Args:
        pvdb: ``{name: ChannelData}``, e.g. ``PVGroup(prefix=...).pvdb``.
        port: the TCP port clients are told to connect to (set again by the back-end once
            it has bound one).
        max_array_bytes: EPICS_CA_MAX_ARRAY_BYTES (raised to at least 16384); larger
            requests and replies are refused. None (EPICS_CA_AUTO_ARRAY_BYTES=YES): no limit.
        spawn: starts an awaitable as a background task; supplied by the back-end.

    Attributes:
        db: the :class:`~iocgate.server._pvdb.PVDatabase`.
    """

    def __init__(self, pvdb: Mapping[str, ChannelData], *, port: int = 5064,
                 max_array_bytes: int | None = None,
                 spawn: Callable[[Awaitable[None]], None] | None = None):
        self.db = PVDatabase(pvdb)
        self.port = port
        self.max_array_bytes = (None if max_array_bytes is None
                                else max(int(max_array_bytes), DEFAULT_MAX_ARRAY_BYTES))
        self.spawn = spawn or _no_spawn
        self._subscribers: Dict[SubscriptionSpec, Dict[Subscription, None]] = {}
        self.circuits: Dict[Circuit, None] = {}

    def refresh_access(self) -> None:
        """Re-evaluate every open channel's access rights (called by an access guard, see
        :mod:`iocgate.security`); changes are sent to the clients."""
        for circuit in list(self.circuits):
            circuit.refresh_access()

    # -- UDP -------------------------------------------------------------------------
    def handle_datagram(self, datagram: bytes) -> bytes | None:
        """The reply to a search datagram (VERSION + SEARCH/NOT_FOUND replies), or None.

        Names we serve are answered; unknown names only when the client set DO_REPLY.
        """
        _, searches = wire.parse_search(datagram)
        replies: List[bytes] = []
        exists = self.db.exists
        for name, reply_flag, client_version, cid in searches:
            if exists(name):
                replies.append(wire.search_reply(self.port, cid))
            elif reply_flag == wire.DO_REPLY:
                replies.append(wire.not_found_reply(client_version, cid))
        if not replies:
            return None
        return wire.VERSION_REPLY + b"".join(replies)

    # -- subscriptions ---------------------------------------------------------------
    def add_subscription(self, sub: Subscription) -> None:
        """Register ``sub`` and ask its ChannelData for the initial value."""
        self._subscribers.setdefault(sub.spec, {})[sub] = None
        self.refresh(sub)

    def refresh(self, sub: Subscription) -> None:
        """Ask the ChannelData to send ``sub`` its current value (subscribe is idempotent)."""
        entry = sub.channel.entry
        drive(entry.data.subscribe(self, sub.spec, sub), _log_failure, self.spawn,
              inline=entry.inline_read)

    def remove_subscription(self, sub: Subscription) -> None:
        """Forget ``sub``; unsubscribe from the ChannelData when nobody shares its spec."""
        subs = self._subscribers.get(sub.spec)
        if subs is None or sub not in subs:
            return
        del subs[sub]
        if not subs:
            del self._subscribers[sub.spec]
            drive(sub.spec.db_entry.unsubscribe(self, sub.spec), _log_failure, self.spawn)

    async def put(self, update) -> None:
        """Receive a caproto ``SubscriptionUpdate`` (this object is the subscription queue)."""
        self.deliver(*update)

    def deliver(self, sub_specs, metadata, values, flags: int, only) -> None:
        """Encode one update and queue it on every interested subscription.

        Args:
            sub_specs: the SubscriptionSpecs the update is for.
            metadata, values: as returned by ``ChannelData.read`` for the spec's type.
            flags: caproto's flags (the entry's classified ``event_bits`` are used instead).
            only: a single :class:`Subscription` to serve (initial value), or None for all.
        """
        self.fan_out(sub_specs, only, lambda sub: wire.event_payload(sub, metadata, values))

    def fan_out(self, sub_specs, only, encode: Callable[[Subscription], Tuple[bytes, int]]
                ) -> None:
        """Queue an update on every subscription of ``sub_specs`` whose mask matches the
        entry's ``event_bits`` (or on ``only``); ``encode(sub)`` gives ``(padded payload,
        count)`` and is called once per (type, count, array filter)."""
        encoded: Dict[tuple, tuple] = {}
        for spec in sub_specs:
            subs = self._subscribers.get(spec)
            if not subs:
                continue
            targets = (only,) if only is not None else tuple(subs)
            effective = targets[0].channel.entry.event_bits
            for sub in targets:
                if only is None and not sub.mask & effective:
                    continue
                circuit = sub.circuit
                if circuit.closed:
                    continue
                if not circuit.events_on:
                    circuit.resend[sub] = None
                    continue
                key = (sub.data_type, sub.count, spec.channel_filter.arr)
                found = encoded.get(key)
                if found is None:
                    found = encoded[key] = encode(sub)
                payload, count = found
                circuit.queue_event(sub, wire.header(
                    wire.EVENT_ADD, len(payload), sub.data_type, count, wire.ECA_NORMAL,
                    sub.subscription_id) + payload, initial=only is not None)


def _log_failure(_result, exc: BaseException | None) -> None:
    if exc is not None:
        log.error("subscription update failed: %r", exc)


def _no_spawn(awaitable) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
    raise RuntimeError("this ServerCore has no back-end to run background tasks")
