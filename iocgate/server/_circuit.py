"""One client's TCP circuit as a sans-I/O state machine.

Feed received bytes to :meth:`Circuit.receive`; it handles every complete command in them
before returning the reply buffers to send (one ``writelines`` per batch). Requests that need
to wait for user code (a putter, a getter) complete later: their replies, and subscription
updates, are collected until the back-end calls :meth:`Circuit.take_output`, prompted by
``on_output``. Nothing here does I/O.

Requests take effect in arrival order, as CA promises per circuit: while one waits for a
task (:attr:`Circuit.busy`), later requests wait in a backlog, and the back-end stops reading
from the client until ``on_output`` reports the circuit free again. A client that breaks the
protocol the way RSRV does not tolerate (unknown command, misaligned or oversized message,
unknown channel id, invalid DBR type) gets its replies so far, then :attr:`Circuit.closing`
tells the back-end to close the connection.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from caproto import ChannelEnum, ChannelType

from .._compat._caproto import LongStringChannelType, SubscriptionSpec, extract_metadata
from ..protocol._conversion import parse_number, resolve_enum_state
from ..security import Client, as_client
from . import _clientlog as clientlog, _wire as wire
from ._completion import PutCompletion, deferring
from ._core import ServerCore, log
from ._drive import drive
from ._fastwrite import dbr_value
from ._pvdb import Resolved
from ._repeatlog import RepeatLog

EVENT_QUEUE_DEPTH = 4
"""Updates kept per subscription while the client is congested; older ones are dropped."""
_LONG_STRING_TYPES = {int(t) for t in LongStringChannelType}
_READ_ACCESS, _WRITE_ACCESS = 1, 2
Outcome = Callable[[int, Optional[str]], None]
"""``finish(status, text)`` told how a put ended (ECA status; the reason when refused)."""
_UNWRITABLE_TYPES = frozenset({int(ChannelType.STSACK_STRING), int(ChannelType.CLASS_NAME)})
_STRING_TYPES = frozenset(int(t) for t in (ChannelType.STRING, ChannelType.STS_STRING,
                                           ChannelType.TIME_STRING, ChannelType.GR_STRING,
                                           ChannelType.CTRL_STRING))
_ENUM_TYPES = frozenset(int(t) for t in (ChannelType.ENUM, ChannelType.STS_ENUM,
                                         ChannelType.TIME_ENUM, ChannelType.GR_ENUM,
                                         ChannelType.CTRL_ENUM))
# Numeric native types a DBR_STRING put is converted to as EPICS does: integer?
_FROM_TEXT = {int(ChannelType.INT): True, int(ChannelType.LONG): True,
              int(ChannelType.FLOAT): False, int(ChannelType.DOUBLE): False}
Done = Callable[[Any, Optional[BaseException]], None]


class Channel:
    """A channel created on a circuit (client ``cid`` <-> our ``sid``)."""

    __slots__ = ("cid", "sid", "name", "entry", "resolved", "access", "max_count", "guard")

    def __init__(self, cid: int, sid: int, name: str, resolved: Resolved, access: int):
        #: the ChannelData's access guard (:mod:`iocgate.security`), or None
        self.guard = getattr(resolved.entry.data, "access_guard", None)
        self.cid = cid
        self.sid = sid
        self.name = name
        self.resolved = resolved
        self.entry = resolved.entry
        self.access = access
        self.max_count = resolved.max_count

    def read_type(self, dbr_type: int):
        """The ChannelType to ask caproto for (the LONG_STRING variant for ``$`` names)."""
        if self.resolved.long_string and dbr_type in _LONG_STRING_TYPES:
            return LongStringChannelType(dbr_type)
        return ChannelType(dbr_type)


class Subscription:
    """One EVENT_ADD: a bounded queue of encoded updates for the circuit to send."""

    __slots__ = ("circuit", "channel", "subscription_id", "data_type", "count", "mask",
                 "spec", "pending")

    def __init__(self, circuit: Circuit, channel: Channel, subscription_id: int,
                 data_type: int, count: int, mask: int):
        self.circuit = circuit
        self.channel = channel
        self.subscription_id = subscription_id
        self.data_type = data_type
        self.count = count
        self.mask = mask
        self.spec = SubscriptionSpec(db_entry=channel.entry.data,
                                     data_type_name=channel.read_type(data_type).name,
                                     mask=mask,
                                     channel_filter=channel.resolved.channel_filter)
        self.pending: Deque[bytes] = deque(maxlen=EVENT_QUEUE_DEPTH)


class Circuit:
    """Protocol state of one TCP client.

    Subscription updates wait in per-subscription queues of :data:`EVENT_QUEUE_DEPTH`.
    While the back-end reports the client ``congested`` (its socket buffer is full) the
    oldest queued updates are dropped, keeping the newest; otherwise nothing is dropped.

    Args:
        server: the shared :class:`~iocgate.server._core.ServerCore`.
        address: the client's ``(host, port)``, handed to ``auth_*`` hooks.
        on_output: called (with no arguments) when output appears outside :meth:`receive`:
            a late reply or a subscription update. The back-end then calls
            :meth:`take_output`. May be called many times before that.
    """

    def __init__(self, server: ServerCore, address: Tuple[str, int],
                 on_output: Callable[[], None] | None = None):
        self.server = server
        self.address = address
        self.on_output = on_output or (lambda: None)
        self.closed = False
        self.events_on = True
        self.congested = False
        self.hostname = address[0]
        self.username = ""
        self.channels: Dict[int, Channel] = {}
        self.subscriptions: Dict[int, Subscription] = {}
        self.resend: Dict[Subscription, None] = {}
        self._dirty: Dict[Subscription, None] = {}
        self._out: List[bytes] = []
        self._chunks: List[bytes] = []
        self._have = 0
        self._need = 16
        self._next_sid = 1
        self._in_receive = False
        self._backlog: Deque[tuple] = deque()
        # The Entry of the request just handled if it was a fast put (and of the one before
        # that): consecutive fast puts to one PV skip the checks their predecessor made.
        self._fast_entry = self._previous_fast = None
        self.busy = False
        self.closing: str | None = None
        self.errors = RepeatLog(log, f"client {address[0]}:{address[1]}")
        server.circuits[self] = None
        self._handlers = {
            wire.VERSION: self._version, wire.ECHO: self._echo,
            wire.HOST_NAME: self._host_name, wire.CLIENT_NAME: self._client_name,
            wire.CREATE_CHAN: self._create_chan, wire.CLEAR_CHANNEL: self._clear_channel,
            wire.READ_NOTIFY: self._read, wire.READ: self._read,
            wire.WRITE: self._write, wire.WRITE_NOTIFY: self._write,
            wire.EVENT_ADD: self._event_add, wire.EVENT_CANCEL: self._event_cancel,
            wire.EVENTS_OFF: self._events_off, wire.EVENTS_ON: self._events_on,
            wire.SEARCH: self._search, wire.READ_SYNC: self._read_sync,
        }
        self._log_clients, self._trace = clientlog.enabled()
        if self._log_clients:
            clientlog.connected(self)

    # -- bytes in, bytes out -----------------------------------------------------------
    def receive(self, data: bytes) -> List[bytes]:
        """Handle every complete command in ``data`` (plus what was buffered before), in
        order, up to the first one that must wait for a task (see :attr:`busy`).

        Returns:
            The buffers to send now, in order (replies first, then queued updates). If
            :attr:`closing` is then set, the back-end sends them and closes the connection.
        """
        if self.closing is not None or self.closed:
            return self.take_output()
        self._chunks.append(data)
        self._have += len(data)
        if self._have < self._need:
            return self.take_output()
        data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        try:
            messages, consumed = wire.split_messages(data, self.server.max_payload)
        except ValueError as exc:  # an announced payload above any PV we serve
            self._chunks, self._have = [], 0
            self._close_circuit(str(exc))
            return self.take_output()
        rest = data[consumed:]
        self._chunks = [rest] if rest else []
        self._have = len(rest)
        self._need = _needed(rest)
        self._backlog.extend(messages)
        self._work_off()
        return self.take_output()

    def _work_off(self) -> None:
        """Handle backlogged requests in order until one waits for a task."""
        backlog, handlers = self._backlog, self._handlers
        self._in_receive = True
        self._fast_entry = None
        try:
            while backlog and not self.busy and self.closing is None:
                message = backlog.popleft()
                self._previous_fast, self._fast_entry = self._fast_entry, None
                if self._trace:
                    clientlog.request(self, message)
                handler = handlers.get(message[0])
                if handler is None:
                    self._error(message, 0, wire.ECA_INTERNAL,
                                "invalid (damaged?) request code from TCP")
                    self._close_circuit(f"unknown command {message[0]}")
                elif len(message[6]) & 7:
                    self._error(message, 0, wire.ECA_INTERNAL, "misaligned protocol rejected")
                    self._close_circuit(f"payload of {len(message[6])} bytes is not padded")
                else:
                    try:
                        handler(*message)
                    except Exception as exc:  # a bug must not take the server down
                        log.exception("error handling command %d", message[0])
                        self._error(message, 0, wire.ECA_INTERNAL, f"server error: {exc!r}")
        finally:
            self._in_receive = False
            self._fast_entry = self._previous_fast = None
        if self.closing is not None:
            backlog.clear()

    def _start(self, run: Callable[[Done], bool], done: Done) -> None:
        """Start a request that may have to finish in a task; ``run(finish)`` starts it and
        returns whether ``finish`` was called already. Until it is, the circuit is
        :attr:`busy` and later requests wait."""
        state = {"finished": False, "waiting": False}

        def finish(result, exc) -> None:
            done(result, exc)
            state["finished"] = True
            if state["waiting"]:
                self.busy = False
                if not self.closed:
                    self._work_off()
                    self.on_output()

        if not run(finish) and not state["finished"]:  # (a spawn may run it at once)
            state["waiting"] = True
            self.busy = True

    def _close_circuit(self, reason: str) -> None:
        """Stop handling requests; the back-end closes the connection after sending the
        replies so far (RSRV drops such clients)."""
        if self.closing is None:
            self.closing = reason
            self.errors.report(logging.WARNING, "closed circuits", f"closing circuit: {reason}")

    def take_output(self, events: bool = True) -> List[bytes]:
        """Everything ready to send: replies, then (if ``events``) subscription updates.

        Pass ``events=False`` while the transport is congested: updates then stay in their
        bounded queues (newest kept) instead of piling up in the socket buffer.
        """
        out = self._out
        self._out = []
        if events and self._dirty and self.events_on:
            dirty = self._dirty
            self._dirty = {}
            for sub in dirty:
                out.extend(sub.pending)
                sub.pending.clear()
        return out

    def close(self) -> None:
        """Forget every channel and subscription (the client went away). Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.errors.flush()
        self._backlog.clear()
        if self._log_clients:
            clientlog.disconnected(self)
        self.server.circuits.pop(self, None)
        for sub in list(self.subscriptions.values()):
            self.server.remove_subscription(sub)
        self.subscriptions.clear()
        self.channels.clear()
        self._dirty.clear()
        self.resend.clear()
        self._out = []

    # -- called by ServerCore and by late completions ---------------------------------
    def queue_event(self, sub: Subscription, message: bytes, initial: bool = False) -> None:
        """Queue an encoded update for ``sub`` (the oldest is dropped beyond the depth).

        The ``initial`` value of a new subscription goes out in order with the replies and
        is never dropped.
        """
        if self.subscriptions.get(sub.subscription_id) is not sub:
            return
        if initial:
            self._late(message)
            return
        pending = sub.pending
        if len(pending) == EVENT_QUEUE_DEPTH and not self.congested:
            self._out.extend(pending)  # the client keeps up: nothing is dropped
            pending.clear()
        pending.append(message)
        self._dirty[sub] = None
        if not self._in_receive:
            self.on_output()

    def _late(self, *buffers: bytes) -> None:
        if self.closed:
            return
        self._out.extend(buffers)
        if not self._in_receive:
            self.on_output()

    # -- command handlers: (command, data_type, count, p1, p2, header_len, payload) ---
    def _version(self, *_message) -> None:
        self._out.append(wire.VERSION_REPLY)

    def _echo(self, *_message) -> None:
        self._out.append(wire.ECHO_REPLY)

    def _host_name(self, *message) -> None:
        if self._renamed(message, "host"):
            self.hostname = wire.decode_string(message[6])

    def _client_name(self, *message) -> None:
        if self._renamed(message, "user"):
            self.username = wire.decode_string(message[6])

    def _renamed(self, message, what: str) -> bool:
        """Whether a new host or user name may be taken: as rsrv, not once a channel
        exists (its access rights were granted to the old name)."""
        if not self.channels:
            return True
        self._error(message, 0xFFFFFFFF, wire.ECA_INTERNAL, f"attempts to use protocol to "
                    f"set {what} name after creating first channel ignored by server")
        return False

    # -- access security (iocgate.security): rights, their updates, the put audit -------
    def _access(self, name: str, entry, guard) -> int:
        access = (_READ_ACCESS | _WRITE_ACCESS if entry.always_read_write
                  else int(entry.data.check_access(self.hostname, self.username)))
        if guard is not None:
            access &= guard.rights(name, self.hostname, self.username, self.address[0])
        return access

    def refresh_access(self) -> None:
        """Re-evaluate the rights of every guarded channel; send the changed ones."""
        for channel in self.channels.values():
            if channel.guard is not None:
                access = self._access(channel.name, channel.entry, channel.guard)
                if access != channel.access:
                    channel.access = access
                    self._late(wire.HEADER.pack(wire.ACCESS_RIGHTS, 0, 0, 0, channel.cid,
                                                access))

    def _audit(self, channel: Channel) -> Optional[Tuple[Any]]:
        """``(value before the put,)`` if the channel's guard logs puts, else None; hand it
        to :meth:`_audited` once the put's status is known (no closure: this runs per put)."""
        guard = channel.guard
        if guard is None or guard.put_log is None:
            return None
        return (channel.entry.data.value,)

    def _audited(self, channel: Channel, before: Tuple[Any], status: int, dbr_type: int,
                 count: int, payload: bytes) -> None:
        """Report a put to the channel's guard: the value after it, or the one asked for."""
        if status == wire.ECA_NORMAL:
            new = channel.entry.data.value
        else:
            try:
                new = wire.put_values(payload[wire.METADATA_SIZE[dbr_type]:], dbr_type, count)
            except Exception:
                new = payload
        channel.guard.audit(channel.name, self.hostname, self.username, before[0], new,
                            status)

    def _put_outcome(self, channel: Channel, dbr_type: int, count: int,
                     payload: bytes) -> Outcome | None:
        """``finish(status, text)`` that logs (``-v``) and audits this put, or None."""
        if not self._log_clients and channel.guard is None:  # the common case, per put
            return None
        logged = clientlog.put_logger(self, channel) if self._log_clients else None
        before = self._audit(channel)
        if logged is None and before is None:
            return None

        def finish(status: int, text: str | None) -> None:
            if logged is not None:
                logged(None if status == wire.ECA_NORMAL else text)
            if before is not None:
                self._audited(channel, before, status, dbr_type, count, payload)

        return finish

    def _create_chan(self, _c, _t, _n, cid, _version, _h, payload) -> None:
        name = wire.decode_string(payload)
        resolved = self.server.db.resolve(name)
        if resolved is None:
            self._out.append(wire.HEADER.pack(wire.CREATE_CH_FAIL, 0, 0, 0, cid, 0))
            return
        sid = self._next_sid
        self._next_sid += 1
        channel = self.channels[sid] = Channel(cid, sid, name, resolved, 0)
        if channel.guard is not None:
            channel.guard.attach(self.server)
        access = channel.access = self._access(name, resolved.entry, channel.guard)
        self._out.append(wire.HEADER.pack(wire.ACCESS_RIGHTS, 0, 0, 0, cid, access)
                         + wire.header(wire.CREATE_CHAN, 0, resolved.native_type,
                                       resolved.max_count, cid, sid))

    def _clear_channel(self, *message) -> None:
        channel = self._channel(message)
        if channel is None:
            return
        del self.channels[channel.sid]
        for sub in [s for s in self.subscriptions.values() if s.channel is channel]:
            self._cancel(sub)
        self._out.append(wire.HEADER.pack(wire.CLEAR_CHANNEL, 0, 0, 0, message[3],
                                          message[4]))

    def _channel(self, message) -> Channel | None:
        """The channel of a request's sid; an unknown sid closes the circuit (RSRV)."""
        channel = self.channels.get(message[3])
        if channel is None:
            self._close_circuit(f"command {message[0]} for unknown channel id {message[3]}")
        return channel

    def _valid_type(self, message) -> bool:
        """Whether a request's DBR type exists; otherwise the circuit closes, after an
        ERROR reply to the deprecated READ (as RSRV)."""
        if message[1] <= wire.MAX_DBR_TYPE:
            return True
        if message[0] == wire.READ:
            self._error(message, 0, wire.ECA_BADTYPE, "bad DBR type")
        self._close_circuit(f"command {message[0]} with invalid DBR type {message[1]}")
        return False

    def _check_request(self, message, channel: Channel, access: int, denied: int) -> bool:
        dbr_type, count = message[1], message[2]
        if not channel.access & access:
            self._error(message, channel.cid, denied, "access denied")
        elif count > channel.max_count:
            self._error(message, channel.cid, wire.ECA_BADCOUNT, "count too large")
        elif (self.server.max_array_bytes is not None
              and wire.METADATA_SIZE[dbr_type] + wire.ELEMENT_SIZE[dbr_type] * count
              > self.server.max_array_bytes):
            self._error(message, channel.cid, wire.ECA_TOLARGE, "exceeds max array bytes")
        else:
            return True
        return False

    def _read(self, command, dbr_type, count, _sid, ioid, _h, _payload) -> None:
        message = (command, dbr_type, count, _sid, ioid, _h, b"")
        if not self._valid_type(message):
            return
        channel = self._channel(message)
        if channel is None or not self._check_request(message, channel, _READ_ACCESS,
                                                      wire.ECA_NORDACCESS):
            return
        entry = channel.entry
        cached = entry.cache.get((dbr_type, count))
        if cached is None and entry.inline_read and count <= 1:
            payload = wire.scalar_payload(entry.data, dbr_type)
            if payload is not None:
                cached = entry.cache[(dbr_type, count)] = (payload + wire.pad(len(payload)), 1)
        if cached is not None:
            self._read_reply(command, channel, dbr_type, ioid, *cached)
            return
        if dbr_type in (ChannelType.PUT_ACKT, ChannelType.PUT_ACKS):
            self._error(message, channel.cid, wire.ECA_BADTYPE, "write-only DBR type")
            return
        version = entry.version

        def done(result, exc) -> None:
            if exc is not None:
                self.errors.report(logging.WARNING, "failed reads",
                                   f"read of {channel.name} failed: {exc!r}")
                self._late(wire.error_message(_request_header(message), channel.cid,
                                              wire.ECA_GETFAIL, f"read failed: {exc!r}"))
                return
            metadata, values = result
            wire_count = count or _current_count(channel, dbr_type, values)
            if dbr_type == ChannelType.STSACK_STRING:
                payload = wire.stsack_payload(metadata, values, entry.data.alarm)
            else:
                payload = wire.dbr_payload(dbr_type, wire_count, metadata, values)
            payload += wire.pad(len(payload))
            if entry.inline_read and entry.version == version:
                entry.cache[(dbr_type, count)] = (payload, wire_count)
            self._read_reply(command, channel, dbr_type, ioid, payload, wire_count)
            if not self._in_receive:
                self.on_output()

        read_type = (ChannelType.STS_STRING if dbr_type == ChannelType.STSACK_STRING
                     else channel.read_type(dbr_type))
        coro = entry.data.auth_read(self.hostname, self.username, read_type,
                                    user_address=self.address)
        if channel.guard is not None:  # a putter (e.g. the instrument lock's) sees who asked
            coro = as_client(coro, Client(self.hostname, self.username))
        self._start(lambda finish: drive(coro, finish, self.server.spawn,
                                         inline=entry.inline_read), done)

    def _read_reply(self, command: int, channel: Channel, dbr_type: int, ioid: int,
                    payload: bytes, wire_count: int) -> None:
        if self.closed:
            return
        p1 = wire.ECA_NORMAL if command == wire.READ_NOTIFY else channel.sid
        self._out.append(wire.header(command, len(payload), dbr_type, wire_count, p1, ioid))
        self._out.append(payload)

    def _write(self, command, dbr_type, count, _sid, ioid, _h, payload) -> None:
        message = (command, dbr_type, count, _sid, ioid)
        channel = self._channel(message)
        if channel is None:
            return
        notify = command == wire.WRITE_NOTIFY
        outcome = self._put_outcome(channel, dbr_type, count, payload)
        if dbr_type > wire.MAX_DBR_TYPE:  # RSRV answers, then drops the client
            self._write_failed(message, channel, notify, wire.ECA_BADTYPE, "bad DBR type",
                               outcome)
            self._close_circuit(f"put with invalid DBR type {dbr_type}")
            return
        status = 0
        if dbr_type in _UNWRITABLE_TYPES:
            status = wire.ECA_BADTYPE
        elif not channel.access & _WRITE_ACCESS:
            status = wire.ECA_NOWTACCESS
        elif count > channel.max_count or count == 0:
            status = wire.ECA_BADCOUNT
        if status:
            self._write_failed(message, channel, notify, status, "write refused", outcome)
            return
        entry = channel.entry
        integer = (_FROM_TEXT.get(channel.resolved.native_type)
                   if dbr_type in _STRING_TYPES else None)
        if integer is not None:  # EPICS converts text itself: integer, then floating
            texts = wire.put_values(payload[wire.METADATA_SIZE[dbr_type]:], dbr_type, count)
            try:
                numbers = [parse_number(text, integer=integer) for text in texts]
            except ValueError:
                numbers = None  # no number: the ChannelData's own path refuses (and says why)
            if numbers is not None:
                self._write_numbers(message, channel, notify, numbers, outcome)
                return
        elif (count == 1 and dbr_type not in _ENUM_TYPES
              and type(entry.data).write_from_dbr is ChannelEnum.write_from_dbr):
            self._write_enum(message, channel, notify, payload, outcome)
            return
        fast = entry.fast
        scalar = (wire.scalar_value(entry.data, dbr_type, count, payload)
                  if entry.inline_write or fast is not None else None)
        if scalar is not None and fast is not None and fast.write(
                scalar[0] if entry.inline_write
                else dbr_value(entry.data, dbr_type, count, payload), self.server,
                again=self._previous_fast is entry):
            self._fast_entry = entry
            self._write_done(message, notify, outcome)
            return
        if not entry.inline_write:
            scalar = None
        if scalar is None:
            md_size = wire.METADATA_SIZE[dbr_type]
            try:
                data = wire.put_values(payload[md_size:], dbr_type, count)
                metadata = extract_metadata(payload[:md_size], dbr_type)
            except Exception as exc:
                self._write_failed(message, channel, notify, wire.ECA_BADTYPE, repr(exc), outcome)
                return
        if scalar is not None:
            # Same result as auth_write -> write_from_dbr for a same-type numeric scalar with
            # caproto's own (always read-write) check_access, minus the array round trip.
            coro = entry.data.write(scalar[0])
        else:
            coro = entry.data.auth_write(self.hostname, self.username, data,
                                         ChannelType(dbr_type), metadata,
                                         user_address=self.address)
        self._finish_write(message, channel, notify, coro, outcome)

    def _write_enum(self, message, channel: Channel, notify: bool, payload,
                    outcome: Outcome | None = None) -> None:
        """A put of text or a number to a plain caproto ``ChannelEnum``, which would store
        any value it is given (no read converts it after): a state name, or an index in
        range (a number truncated toward 0, as an mbbo does), else refused."""
        dbr_type = message[1]
        value = wire.put_values(payload[wire.METADATA_SIZE[dbr_type]:], dbr_type, 1)[0]
        data = channel.entry.data
        try:
            if not isinstance(value, (bytes, str)):
                value = int(value)  # a NaN or an infinity raises ValueError / OverflowError
            state = resolve_enum_state(value, data.enum_strings)
        except (ValueError, OverflowError) as exc:
            self._write_failed(message, channel, notify, wire.ECA_PUTFAIL, str(exc), outcome)
            return
        self._finish_write(message, channel, notify, data.write(state), outcome)

    def _write_numbers(self, message, channel: Channel, notify: bool, numbers: list,
                       outcome: Outcome | None = None) -> None:
        """A text put converted to numbers, as an EPICS IOC does; the ChannelData gets
        Python numbers (its ``write``, as for a put of its own type)."""
        if not wire.numbers_fit(channel.resolved.native_type, numbers):
            self._write_failed(message, channel, notify, wire.ECA_PUTFAIL, "out of range",
                               outcome)
            return
        entry = channel.entry
        value = numbers[0] if len(numbers) == 1 else numbers
        if (len(numbers) == 1 and entry.fast is not None
                and entry.fast.write(value, self.server)):
            self._write_done(message, notify, outcome)
            return
        self._finish_write(message, channel, notify, entry.data.write(value), outcome)

    def _finish_write(self, message, channel: Channel, notify: bool, coro,
                      outcome: Outcome | None = None) -> None:
        """Run a ChannelData write for a put request, in order, and answer it. A write that
        hands back a :class:`PutCompletion` has stored its value: the circuit goes on at once
        and the put is answered when the completion ends."""

        def done(result, exc) -> None:
            if exc is not None:
                self._write_failed(message, channel, notify, wire.ECA_PUTFAIL,
                                   failure_reason(exc), outcome)
            elif isinstance(result, PutCompletion):
                if result.work is not None:
                    self.server.spawn(result.work)
                on_done = getattr(result.wait, "when_done", None)
                if on_done is None:
                    self.server.spawn(self._complete(message, channel, notify, result, outcome))
                else:  # no task per put: a coalesced put waits as a callback
                    on_done(lambda error: self._completed(message, channel, notify, error,
                                                          outcome))
            else:
                self._write_done(message, notify, outcome)

        coro = deferring(coro)
        if channel.guard is not None:  # a putter (e.g. the instrument lock's) sees who asked
            coro = as_client(coro, Client(self.hostname, self.username))
        self._start(lambda finish: drive(coro, finish, self.server.spawn,
                                         inline=channel.entry.inline_write), done)

    async def _complete(self, message, channel: Channel, notify: bool,
                        completion: PutCompletion, outcome: Outcome | None) -> None:
        """Await a deferred put's completion, then answer it (nothing is sent if the
        circuit closed meanwhile; the put is still logged)."""
        try:
            await completion.wait
        except Exception as exc:
            self._completed(message, channel, notify, exc, outcome)
        else:
            self._completed(message, channel, notify, None, outcome)

    def _completed(self, message, channel: Channel, notify: bool,
                   error: BaseException | None, outcome: Outcome | None) -> None:
        if error is not None:
            self._write_failed(message, channel, notify, wire.ECA_PUTFAIL,
                               failure_reason(error), outcome)
        else:
            self._write_done(message, notify, outcome)

    def _write_done(self, message, notify: bool,
                    outcome: Outcome | None = None) -> None:
        if outcome is not None:
            outcome(wire.ECA_NORMAL, None)
        if notify:
            self._late(wire.header(wire.WRITE_NOTIFY, 0, message[1], message[2],
                                   wire.ECA_NORMAL, message[4]))

    def _write_failed(self, message, channel: Channel, notify: bool, status: int,
                      text: str, outcome: Outcome | None = None) -> None:
        if outcome is not None:
            outcome(status, text)
        if notify:
            self._late(wire.header(wire.WRITE_NOTIFY, 0, message[1], message[2], status,
                                   message[4]))
        else:
            self._late(wire.error_message(_request_header(message), channel.cid,
                                          status, text))

    def _event_add(self, command, dbr_type, count, sid, subscription_id, _h, payload) -> None:
        message = (command, dbr_type, count, sid, subscription_id, _h, b"")
        if not self._valid_type(message):
            return
        channel = self._channel(message)
        if channel is None or not self._check_request(message, channel, _READ_ACCESS,
                                                      wire.ECA_NORDACCESS):
            return
        if dbr_type >= ChannelType.PUT_ACKT:
            self._error(message, channel.cid, wire.ECA_BADTYPE, "bad DBR type for events")
            return
        mask = wire.unpack_event_mask(payload)
        if not mask:
            mask = 5  # DBE_VALUE | DBE_ALARM, as libca defaults
        old = self.subscriptions.get(subscription_id)
        if old is not None:
            self._cancel(old)
        sub = Subscription(self, channel, subscription_id, dbr_type, count, mask)
        self.subscriptions[subscription_id] = sub

        def done(_result, exc) -> None:
            if exc is None:
                return
            # As softIoc: an update with ECA_GETFAIL and a zeroed value; the subscription
            # stays (it can be cancelled) but no longer asks the ChannelData for updates.
            self.errors.report(logging.WARNING, "failed subscriptions",
                               f"subscription to {channel.name} as DBR type {dbr_type} "
                               f"failed: {exc!r}")
            self.server.remove_subscription(sub)
            size = wire.METADATA_SIZE[dbr_type] + wire.ELEMENT_SIZE[dbr_type] * count
            if self.subscriptions.get(subscription_id) is sub:
                self._late(wire.message(wire.EVENT_ADD, dbr_type, count, wire.ECA_GETFAIL,
                                        subscription_id, bytes(size)))

        self._start(lambda finish: self.server.add_subscription(sub, finish), done)

    def _event_cancel(self, _c, dbr_type, count, sid, subscription_id, _h, _payload) -> None:
        sub = self.subscriptions.get(subscription_id)
        if sub is not None:
            self._cancel(sub)
        self._out.append(wire.header(wire.EVENT_ADD, 0, dbr_type, count, sid,
                                     subscription_id))

    def _cancel(self, sub: Subscription) -> None:
        self.subscriptions.pop(sub.subscription_id, None)
        self._dirty.pop(sub, None)
        self.resend.pop(sub, None)
        self.server.remove_subscription(sub)

    def _events_off(self, *_message) -> None:
        self.events_on = False
        for sub in self._dirty:
            sub.pending.clear()
            self.resend[sub] = None
        self._dirty.clear()

    def _events_on(self, *_message) -> None:
        self.events_on = True
        resend, self.resend = self.resend, {}
        for sub in resend:
            if self.subscriptions.get(sub.subscription_id) is sub:
                self.server.refresh(sub)

    def _search(self, _c, reply_flag, client_version, p1, p2, _h, payload) -> None:
        reply = self.server.search_reply_tcp(wire.decode_string(payload), reply_flag,
                                             client_version, p1, p2)
        if reply is not None:
            self._out.append(reply)

    def _read_sync(self, command, dbr_type, count, p1, p2, _h, _payload) -> None:
        self._out.append(wire.HEADER.pack(command, 0, dbr_type, min(count, 0xFFFF), p1, p2))

    def _error(self, message, cid: int, status: int, text: str) -> None:
        self._out.append(wire.error_message(_request_header(message), cid, status, text))


def _current_count(channel: Channel, dbr_type: int, values) -> int:
    """Element count of a count-0 (dynamic size) reply."""
    if dbr_type in (ChannelType.STSACK_STRING, ChannelType.CLASS_NAME):
        return 1
    count = wire.values_count(values, dbr_type)
    if channel.resolved.long_string and isinstance(values, (bytes, bytearray)):
        count += 1  # the terminating NUL
    return max(0, min(count, channel.max_count))


def _request_header(message) -> bytes:
    """The 16-byte header of a received request, quoted in ERROR replies."""
    command, dbr_type, count, p1, p2 = message[:5]
    return wire.HEADER.pack(command, 0, dbr_type & 0xFFFF, min(count, 0xFFFF), p1, p2)


def _needed(buffer: bytes) -> int:
    """Bytes needed before the first message in ``buffer`` can be complete."""
    if len(buffer) < 16:
        return 16
    size, count = wire.HEADER.unpack_from(buffer, 0)[1:4:2]
    if size == 0xFFFF and count == 0:
        if len(buffer) < 24:
            return 24
        return 24 + wire.EXT_SIZE.unpack_from(buffer, 16)[0]
    return 16 + size


def failure_reason(error: BaseException) -> str:
    """A failed write's reason as told to the client and the put log: the message the putter
    raised (e.g. "Cannot write data 31.0. Limits are set to 0.0 and 30.0."), or the
    exception's name when it has none."""
    return str(error) or type(error).__name__
