"""Server-wide sans-I/O state: name search over UDP and subscription fan-out.

:class:`ServerCore` is what every back-end shares. It answers search datagrams, and it is the
"queue" handed to ``ChannelData.subscribe``: caproto pushes ``SubscriptionUpdate`` items into
it with ``await queue.put(update)``; :meth:`ServerCore.put` never waits, it encodes each update
once per (type, count) and drops it into the bounded per-subscription queues of the circuits
(:class:`~iocgate.server._circuit.Circuit`), which keep the newest values when a client is slow.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Mapping, Optional, Tuple

from caproto import ChannelData

from .._compat._caproto import SubscriptionSpec
from . import _wire as wire
from ._drive import drive
from ._pvdb import PVDatabase

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit import Circuit, Subscription

log = logging.getLogger("iocgate.server")

DEFAULT_MAX_ARRAY_BYTES = 16384
PAYLOAD_MARGIN = 16384
"""Bytes above the largest PV's size that a request payload may have (metadata, a
string put of a numeric array, padding); larger ones close the circuit."""
_EVENT_HEADER = wire.HEADER.pack
_CTRL_METADATA = 80  # bytes: at least the largest DBR_CTRL_* metadata block
Done = Optional[Callable[[Any, Optional[BaseException]], None]]


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
        db: the :class:`~iocgate.server._pvdb.PVDatabase` (every pvdb name resolved at
            construction).
    """

    def __init__(self, pvdb: Mapping[str, ChannelData], *, port: int = 5064,
                 max_array_bytes: int | None = None,
                 spawn: Callable[[Awaitable[None]], None] | None = None):
        self.db = PVDatabase(pvdb)
        self.db.prepare()
        self.port = port
        self.max_array_bytes = (None if max_array_bytes is None
                                else max(int(max_array_bytes), DEFAULT_MAX_ARRAY_BYTES))
        self.spawn = spawn or _no_spawn
        self._subscribers: Dict[SubscriptionSpec, Dict[Subscription, None]] = {}
        self._sized_for = -1
        # (walks the whole pvdb: done now, not during the first client's connect)
        self._max_payload = self.max_payload
        self.circuits: Dict[Circuit, None] = {}

    def refresh_access(self) -> None:
        """Re-evaluate every open channel's access rights (called by an access guard, see
        :mod:`iocgate.security`); changes are sent to the clients."""
        for circuit in list(self.circuits):
            circuit.refresh_access()

    # -- UDP -------------------------------------------------------------------------
    def handle_datagram(self, datagram: bytes, unanswered: list | None = None
                        ) -> bytes | None:
        """The reply to a search datagram (VERSION + one SEARCH reply per name we serve),
        or None.

        Unknown names are never answered over UDP, not even with DO_REPLY: as RSRV, only a
        search over a TCP circuit gets NOT_FOUND (see :meth:`search_reply_tcp`).

        Args:
            datagram: as received.
            unanswered: if given, the searches for names we do not serve are appended to
                it, as ``(name, reply flag, client version, cid)`` (for the relay).
        """
        _, searches = wire.parse_search(datagram)
        exists = self.db.exists
        port = self.port
        replies = []
        for search in searches:
            if exists(search[0]):
                replies.append(wire.search_reply(port, search[3]))
            elif unanswered is not None:
                unanswered.append(search)
        if not replies:
            return None
        return wire.VERSION_REPLY + b"".join(replies)

    def search_reply_tcp(self, name: str, reply_flag: int, client_version: int, p1: int,
                         p2: int) -> bytes | None:
        """RSRV's reply to a SEARCH sent over a circuit: SEARCH with our port and no payload
        if we serve ``name``, NOT_FOUND if not and the client set DO_REPLY, else None."""
        if self.db.exists(name):
            return wire.HEADER.pack(wire.SEARCH, 0, self.port, 0, 0xFFFFFFFF, p2)
        if reply_flag == wire.DO_REPLY:
            return wire.HEADER.pack(wire.NOT_FOUND, 0, reply_flag, client_version, p1, p2)
        return None

    @property
    def max_payload(self) -> int:
        """Largest request payload a circuit accepts, in bytes: the largest PV served (as
        DBR_CTRL of all its elements, or its long string) plus :data:`PAYLOAD_MARGIN`, and
        never above EPICS_CA_MAX_ARRAY_BYTES when that limits. Recomputed when the pvdb
        changes size."""
        size = len(self.db.pvdb)
        if size != self._sized_for:
            self._sized_for = size
            largest = max((_largest_request(data) for data in list(self.db.pvdb.values())),
                          default=0)
            limit = largest + PAYLOAD_MARGIN
            if self.max_array_bytes is not None:
                limit = min(limit, self.max_array_bytes + PAYLOAD_MARGIN)
            self._max_payload = limit
        return self._max_payload

    # -- subscriptions ---------------------------------------------------------------
    def add_subscription(self, sub: Subscription, done: Done = None) -> bool:
        """Register ``sub`` and ask its ChannelData for the initial value.

        Returns:
            As :meth:`refresh`.
        """
        self._subscribers.setdefault(sub.spec, {})[sub] = None
        return self.refresh(sub, done)

    def refresh(self, sub: Subscription, done: Done = None) -> bool:
        """Ask the ChannelData to send ``sub`` its current value (subscribe is idempotent).

        Args:
            sub: the subscription.
            done: called with ``(None, exception)`` or ``(None, None)`` once the value is
                queued (or could not be read); default: log a failure.

        Returns:
            True if ``done`` was called already, False if a task will call it.
        """
        entry = sub.channel.entry
        return drive(entry.data.subscribe(self, sub.spec, sub), done or _log_failure,
                     self.spawn, inline=entry.inline_read)

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
        initial = only is not None
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
                    payload, count = encode(sub)
                    found = encoded[key] = (payload, count, len(payload))
                payload, count, size = found
                if size < 0xFFFF and count < 0xFFFF:  # (the common case of wire.header)
                    head = _EVENT_HEADER(wire.EVENT_ADD, size, sub.data_type, count,
                                         wire.ECA_NORMAL, sub.subscription_id)
                else:
                    head = wire.header(wire.EVENT_ADD, size, sub.data_type, count,
                                       wire.ECA_NORMAL, sub.subscription_id)
                circuit.queue_event(sub, head + payload, initial)


def _log_failure(_result, exc: BaseException | None) -> None:
    if exc is not None:
        log.error("subscription update failed: %r", exc)


def _largest_request(data: ChannelData) -> int:
    """Bytes of the largest sensible put to ``data``: every element as DBR_STRING (40 B
    each) or as 8-byte numbers, or its long string, plus DBR_CTRL metadata."""
    try:
        count = int(data.max_length or 1)
        long_string = int(getattr(data, "long_string_max_length", 0) or 0)
    except (TypeError, ValueError):
        return 0
    return max(count * wire.STRING_SIZE, long_string) + _CTRL_METADATA


def _no_spawn(awaitable) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
    raise RuntimeError("this ServerCore has no back-end to run background tasks")
