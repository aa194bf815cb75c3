"""The Channel Access client core: one I/O thread per context for searches, circuits,
subscriptions and beacons, on the sans-I/O codec of :mod:`iocgate.protocol`.

Both faces sit on it: the thread face (:class:`iocgate.client.PV`) waits on events, the asyncio
face (:class:`iocgate.client.aio.PV`) on futures. The core never runs user code: replies go to
*listeners* and *completion functions* called on the I/O thread, which must only record state
and hand work elsewhere (never block).

Listener protocol (the PV objects): ``_ca_connection(channel, connected)`` after a channel
connected (native type, count and access known) or disconnected, ``_ca_access(channel,
rights)`` when the server sends access rights. Completion functions get ``(status, data_type,
count, payload)``; a failed circuit completes pending requests with ``ECA_DISCONN`` (192) and
``payload=None``.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import getpass
import itertools
import logging
import os
import selectors
import socket
import struct
import threading
import time
import weakref
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..protocol import _ca_client as wire
from ._search import SearchSchedule, parse_address_list, unique

log = logging.getLogger("iocgate.client")

Completion = Callable[[int, int, int, Any], None]
ECA_DISCONN = 192
#: Bytes read from a circuit at once.
RECV_SIZE = 1 << 20
#: Seconds between two registrations with the CA repeater until it confirms.
REPEATER_RETRY = 1.0
#: Seconds a circuit connect may take before the server counts as unreachable.
CONNECT_TIMEOUT = 5.0


class Channel:
    """One named channel of a context, shared by every PV of that name.

    Attributes:
        name: the PV name.
        cid: the client's id for it.
        connected: whether the server created it (``sid``, ``native``, ``nelm`` valid).
        native: the native DBR type; ``nelm`` the element count (NELM).
        rights: access rights bits (1 read, 2 write).
        host: ``'host:port'`` of the server, as the circuit was opened.
    """

    __slots__ = ("name", "cid", "sid", "circuit", "connected", "native", "nelm", "rights",
                 "listeners", "subscriptions", "__weakref__")

    def __init__(self, name: str, cid: int) -> None:
        self.name = name
        self.cid = cid
        self.sid: Optional[int] = None
        self.circuit: Optional[_Circuit] = None
        self.connected = False
        self.native = 0
        self.nelm = 0
        self.rights = 0
        self.listeners: List[Any] = []
        self.subscriptions: Dict[int, Subscription] = {}

    @property
    def host(self) -> str:
        """``'host:port'`` of the server (empty when not connected)."""
        return "" if self.circuit is None else self.circuit.host

    @property
    def address(self) -> Tuple[str, int]:
        """``(host, port)`` of the server (``('', 0)`` when not connected)."""
        return ("", 0) if self.circuit is None else self.circuit.address


@dataclasses.dataclass(eq=False)
class Subscription:
    """An EVENT_ADD of a channel, re-sent whenever the channel (re)connects.

    ``on_event(status, data_type, count, payload)`` runs on the I/O thread per update.
    """

    channel: Channel
    subid: int
    data_type: int
    count: int
    mask: int
    on_event: Completion

    def request(self) -> bytes:
        assert self.channel.sid is not None
        return wire.event_add(self.channel.sid, self.subid, self.data_type, self.count,
                              self.mask)


class _Circuit:
    """A TCP connection to one server; ``pending`` holds bytes queued by the I/O thread."""

    def __init__(self, address: Tuple[str, int]) -> None:
        self.address = address
        self.host = f"{address[0]}:{address[1]}"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.ready = False
        self.started = time.monotonic()
        self.buffer = bytearray()
        self.pending: List[bytes] = []
        self.send_lock = threading.Lock()
        self.channels: Dict[int, Channel] = {}  # cid -> channel
        self.ioids: Dict[int, Tuple[Channel, Completion]] = {}
        self.dead = False
        self.last_heard = time.monotonic()
        self.echo_sent: Optional[float] = None

    def sendall(self, data: bytes) -> None:
        """Send ``data`` whole (callers on any thread; one message stream at a time).

        Raises:
            OSError: the connection failed (the I/O thread drops the circuit on its next read).
        """
        view = memoryview(data)
        with self.send_lock:
            while view:
                try:
                    view = view[self.sock.send(view):]
                except BlockingIOError:
                    if self.dead:
                        raise OSError(f"circuit to {self.host} closed") from None
                    _wait_writable(self.sock)


def _wait_writable(sock: socket.socket) -> None:
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_WRITE)
        sel.select(1.0)


_live: weakref.WeakSet[Context] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Stop every context's I/O thread before the interpreter tears modules down."""
    for context in list(_live):
        context.close()


class Context:
    """A Channel Access client: addresses from the ``EPICS_CA_*`` environment current when it
    is created, its own UDP socket and I/O thread (started here, daemon), closed by
    :meth:`close` (the shared context closes at interpreter exit).

    Raises:
        OSError: no UDP socket could be opened.
    """

    def __init__(self, env: Optional[Dict[str, str]] = None) -> None:
        env = dict(os.environ if env is None else env)
        port = int(env.get("EPICS_CA_SERVER_PORT", "5064"))
        addresses = parse_address_list(env.get("EPICS_CA_ADDR_LIST", ""), port)
        if env.get("EPICS_CA_AUTO_ADDR_LIST", "YES").upper() != "NO":
            addresses.append(("255.255.255.255", port))
        self.addresses = unique(addresses)
        self.repeater = ("127.0.0.1", int(env.get("EPICS_CA_REPEATER_PORT", "5065")))
        #: Seconds of silence after which a circuit is probed with ECHO, and then given to
        #: answer before it is dropped (libca's EPICS_CA_CONN_TMO, default 30 s).
        self.conn_timeout = float(env.get("EPICS_CA_CONN_TMO", "30"))
        self._lock = threading.RLock()
        self._batching = threading.local()
        self._cids = itertools.count(1)
        self._ioids = itertools.count(1)
        self._subids = itertools.count(1)
        self._channels: Dict[str, Channel] = {}
        self._by_cid: Dict[int, Channel] = {}
        self._circuits: Dict[Tuple[str, int], _Circuit] = {}
        self._schedule = SearchSchedule()
        self._repeater_confirmed = False
        self._repeater_due = 0.0
        self._closing = False
        self._selector = selectors.DefaultSelector()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self._udp.bind(("", 0))
        self._udp.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._udp, selectors.EVENT_READ, self._on_udp)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._on_wake)
        self._subs: Dict[int, Subscription] = {}
        try:
            user = getpass.getuser()
        except Exception:  # no user name in this environment
            user = "iocgate"
        self._hello = (wire.host_name(socket.gethostname()) + wire.client_name(user))
        self._thread = threading.Thread(target=self._run, name="iocgate-ca-io", daemon=True)
        self._thread.start()
        _live.add(self)

    # ---- public API (any thread) ----------------------------------------------------------
    @property
    def channels(self) -> Dict[str, Channel]:
        """The channels in use, by name (a copy)."""
        with self._lock:
            return dict(self._channels)

    @property
    def closed(self) -> bool:
        return self._closing

    def on_io_thread(self) -> bool:
        """Whether the caller runs on this context's I/O thread."""
        return threading.current_thread() is self._thread

    def attach(self, name: str, listener: Any) -> Channel:
        """The channel ``name`` (searched for on first use), with ``listener`` added; if the
        channel is already connected, ``listener`` hears of it at once (on this thread).

        Raises:
            RuntimeError: the context is closed.
        """
        with self._lock:
            if self._closing:
                raise RuntimeError("the CA client context is closed")
            channel = self._channels.get(name)
            if channel is None:
                channel = Channel(name, next(self._cids))
                self._channels[name] = channel
                self._by_cid[channel.cid] = channel
                self._schedule.add(channel.cid, name, time.monotonic())
                self._wake()
            channel.listeners.append(listener)
            if channel.connected:
                listener._ca_access(channel, channel.rights)
                listener._ca_connection(channel, True)
        return channel

    def detach(self, channel: Channel, listener: Any) -> None:
        """Remove ``listener``; the last one gone clears the channel on the server and
        forgets it (its subscriptions included)."""
        with self._lock:
            try:
                channel.listeners.remove(listener)
            except ValueError:
                return
            if channel.listeners or self._channels.get(channel.name) is not channel:
                return
            del self._channels[channel.name]
            self._by_cid.pop(channel.cid, None)
            self._schedule.discard(channel.cid)
            circuit, sid = channel.circuit, channel.sid
            for subid in channel.subscriptions:
                self._subs.pop(subid, None)
            channel.subscriptions.clear()
            channel.connected = False
            channel.circuit = None
            if circuit is not None:
                circuit.channels.pop(channel.cid, None)
        if circuit is not None and sid is not None:
            self._send(circuit, wire.clear_channel(sid, channel.cid))

    def read(self, channel: Channel, data_type: int, count: int, done: Completion) -> None:
        """Send READ_NOTIFY; ``done`` gets the reply (or ECA_DISCONN on a lost circuit).

        Raises:
            ConnectionError: the channel is not connected.
        """
        self._request(channel, done, lambda sid, ioid: wire.read_notify(sid, ioid, data_type,
                                                                         count))

    def write(self, channel: Channel, data_type: int, count: int, payload: bytes,
              done: Optional[Completion]) -> None:
        """Send WRITE_NOTIFY (``done`` gets the completion) or, with ``done=None``, WRITE.

        Raises:
            ConnectionError: the channel is not connected.
        """
        if done is None:
            with self._lock:
                circuit, sid = self._connected(channel)
            self._send(circuit, wire.write(sid, 0, data_type, count, payload, notify=False))
            return
        self._request(channel, done, lambda sid, ioid: wire.write(sid, ioid, data_type, count,
                                                                   payload))

    def subscribe(self, channel: Channel, data_type: int, count: int, mask: int,
                  on_event: Completion) -> Subscription:
        """Add a subscription (sent now if connected, and again after every reconnect)."""
        with self._lock:
            sub = Subscription(channel, next(self._subids), data_type, count, mask, on_event)
            channel.subscriptions[sub.subid] = sub
            self._subs[sub.subid] = sub
            circuit = channel.circuit if channel.connected else None
            request = sub.request() if circuit is not None else b""
        if circuit is not None:
            self._send(circuit, request)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Cancel a subscription (no error if already gone)."""
        channel = sub.channel
        with self._lock:
            self._subs.pop(sub.subid, None)
            if channel.subscriptions.pop(sub.subid, None) is None:
                return
            circuit, sid = (channel.circuit, channel.sid) if channel.connected else (None, None)
        if circuit is not None and sid is not None:
            self._send(circuit, wire.event_cancel(sid, sub.subid, sub.data_type, sub.count))

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Queue the requests this thread makes inside the block and send them at its end,
        one buffer per circuit (many reads cost a few system calls instead of one each)."""
        depth = getattr(self._batching, "depth", 0)
        self._batching.depth = depth + 1
        try:
            yield
        finally:
            self._batching.depth = depth
            if depth == 0:
                with self._lock:
                    self._flush()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the I/O thread and close every socket; pending requests are abandoned.
        Waits up to ``timeout`` seconds for the thread (no effect when called again)."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._wake()
        if not self.on_io_thread():
            self._thread.join(timeout)

    # ---- helpers --------------------------------------------------------------------------
    def _connected(self, channel: Channel) -> Tuple[_Circuit, int]:
        if not channel.connected or channel.circuit is None or channel.sid is None:
            raise ConnectionError(f"{channel.name} is not connected")
        return channel.circuit, channel.sid

    def _request(self, channel: Channel, done: Completion,
                 build: Callable[[int, int], bytes]) -> None:
        with self._lock:
            circuit, sid = self._connected(channel)
            ioid = next(self._ioids)
            circuit.ioids[ioid] = (channel, done)
        self._send(circuit, build(sid, ioid))

    def _send(self, circuit: _Circuit, data: bytes) -> None:
        if self.on_io_thread():
            circuit.pending.append(data)
            return
        if not circuit.ready or getattr(self._batching, "depth", 0):
            with self._lock:
                circuit.pending.append(data)
            if not circuit.ready:
                self._wake()
            return
        try:
            circuit.sendall(data)
        except OSError:
            pass  # the I/O thread sees the failure and drops the circuit

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # buffer full (already woken) or closed
            pass

    # ---- the I/O thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._closing:
                events = self._selector.select(self._next_timeout())
                with self._lock:
                    for key, mask in events:
                        if self._closing:
                            break
                        key.data(mask)
                    self._periodic()
                    self._flush()
        except Exception:
            if not self._closing:
                log.exception("CA client I/O thread failed")
        finally:
            self._shutdown()

    def _next_timeout(self) -> float:
        now = time.monotonic()
        due = self._schedule.next_due()
        wait = 1.0 if due is None else due - now
        if not self._repeater_confirmed:
            wait = min(wait, self._repeater_due - now)
        if self._circuits:
            wait = min(wait, 0.5 if any(not c.ready for c in self._circuits.values()) else
                       max(0.1, self.conn_timeout / 4))
        return max(0.0, wait)

    def _periodic(self) -> None:
        now = time.monotonic()
        if not self._repeater_confirmed and now >= self._repeater_due:
            self._repeater_due = now + REPEATER_RETRY
            self._sendto(wire.repeater_register(), self.repeater)
        due = self._schedule.next_due()
        if due is not None and due <= now:
            for datagram in self._schedule.datagrams(now):
                for address in self.addresses:
                    self._sendto(datagram, address)
        for circuit in list(self._circuits.values()):
            if not circuit.ready:
                if now - circuit.started > CONNECT_TIMEOUT:
                    self._drop(circuit)
            elif circuit.echo_sent is not None:
                if now - circuit.echo_sent > self.conn_timeout:
                    log.warning("CA server %s did not answer an echo within %g s; "
                                "disconnecting", circuit.host, self.conn_timeout)
                    self._drop(circuit)
            elif now - circuit.last_heard > self.conn_timeout:
                circuit.echo_sent = now
                circuit.pending.append(wire.echo())

    def _sendto(self, datagram: bytes, address: Tuple[str, int]) -> None:
        try:
            self._udp.sendto(datagram, address)
        except OSError:  # buffer full, unreachable: the back-off repeats it
            pass

    def _flush(self) -> None:
        for circuit in list(self._circuits.values()):
            if circuit.ready and circuit.pending and not circuit.dead:
                data, circuit.pending = b"".join(circuit.pending), []
                try:
                    circuit.sendall(data)
                except OSError:
                    self._drop(circuit)

    def _on_wake(self, mask: int) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _on_udp(self, mask: int) -> None:
        for _ in range(1000):
            try:
                data, sender = self._udp.recvfrom(65536)
            except OSError:  # nothing more (or an ICMP error from a closed port)
                return
            try:
                replies, _ = wire.read_messages(data)
            except ValueError:
                continue
            for reply in replies:
                if reply.command == wire.SEARCH:
                    self._on_search_reply(reply, sender)
                elif reply.command == wire.RSRV_IS_UP:
                    host = sender[0] if reply.p2 == 0 else socket.inet_ntoa(
                        struct.pack(">I", reply.p2))
                    if self._schedule.on_beacon((host, reply.count), reply.p1,
                                                time.monotonic()):
                        self._wake()
                elif reply.command == wire.REPEATER_CONFIRM:
                    self._repeater_confirmed = True

    def _on_search_reply(self, reply: wire.Reply, sender: Tuple[str, int]) -> None:
        channel = self._by_cid.get(reply.p2)
        if channel is None or channel.circuit is not None or channel.connected:
            return
        host = sender[0] if reply.p1 == 0xFFFFFFFF else socket.inet_ntoa(
            struct.pack(">I", reply.p1))
        address = (host, reply.data_type)
        self._schedule.discard(channel.cid)
        circuit = self._circuits.get(address)
        if circuit is None:
            circuit = self._open(address)
        channel.circuit = circuit
        circuit.channels[channel.cid] = channel
        circuit.pending.append(wire.create_channel(channel.name, channel.cid))

    def _open(self, address: Tuple[str, int]) -> _Circuit:
        circuit = _Circuit(address)
        self._circuits[address] = circuit
        circuit.pending.append(wire.version() + self._hello)
        try:
            circuit.sock.connect(address)
        except BlockingIOError:
            pass
        except OSError:
            circuit.dead = True
        self._selector.register(circuit.sock, selectors.EVENT_WRITE,
                                functools.partial(self._on_connected, circuit))
        return circuit

    def _on_connected(self, circuit: _Circuit, mask: int) -> None:
        if circuit.dead or circuit.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self._drop(circuit)
            return
        circuit.ready = True
        self._selector.modify(circuit.sock, selectors.EVENT_READ,
                              functools.partial(self._on_circuit, circuit))

    def _on_circuit(self, circuit: _Circuit, mask: int) -> None:
        if circuit.dead:
            return
        try:
            data = circuit.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(circuit)
            return
        circuit.last_heard = time.monotonic()
        circuit.echo_sent = None
        if circuit.buffer:  # parse an immutable copy: payloads may outlive this call
            data = bytes(circuit.buffer + data)
        try:
            replies, used = wire.read_messages(data)
        except ValueError:
            log.exception("%s broke the CA protocol; closing the circuit", circuit.host)
            self._drop(circuit)
            return
        circuit.buffer = bytearray(data[used:])
        for reply in replies:
            if circuit.dead:
                return
            self._dispatch(circuit, reply)

    def _dispatch(self, circuit: _Circuit, reply: wire.Reply) -> None:
        command = reply.command
        if command in (wire.READ_NOTIFY, wire.WRITE_NOTIFY):
            entry = circuit.ioids.pop(reply.p2, None)
            if entry is not None:
                self._complete(entry[1], reply.p1, reply.data_type, reply.count,
                               reply.payload)
        elif command == wire.EVENT_ADD:
            sub = self._subs.get(reply.p2)
            if sub is not None and reply.payload:  # an empty one confirms a cancel
                self._complete(sub.on_event, reply.p1, reply.data_type, reply.count,
                               reply.payload)
        elif command == wire.ACCESS_RIGHTS:
            channel = circuit.channels.get(reply.p1)
            if channel is not None:
                channel.rights = reply.p2
                for listener in list(channel.listeners):
                    listener._ca_access(channel, reply.p2)
        elif command == wire.CREATE_CHAN:
            self._on_created(circuit, reply)
        elif command == wire.CREATE_CH_FAIL:
            channel = circuit.channels.pop(reply.p1, None)
            if channel is not None:
                channel.circuit = None
                self._schedule.add(channel.cid, channel.name, time.monotonic() + 1.0)
        elif command == wire.SERVER_DISCONN:
            channel = circuit.channels.pop(reply.p1, None)
            if channel is not None:
                self._lose(channel)
        elif command == wire.ERROR:
            self._on_error(circuit, reply)

    def _on_created(self, circuit: _Circuit, reply: wire.Reply) -> None:
        channel = circuit.channels.get(reply.p1)
        if channel is None or channel.connected:
            return
        channel.sid, channel.native, channel.nelm = reply.p2, reply.data_type, reply.count
        channel.connected = True
        for sub in channel.subscriptions.values():
            circuit.pending.append(sub.request())
        for listener in list(channel.listeners):
            listener._ca_connection(channel, True)

    def _on_error(self, circuit: _Circuit, reply: wire.Reply) -> None:
        try:
            request = wire.error_request(reply)
        except ValueError:
            return
        command, text = wire.error_text(reply)
        if request.command in (wire.READ_NOTIFY, wire.WRITE_NOTIFY):
            entry = circuit.ioids.pop(request.p2, None)
            if entry is not None:
                self._complete(entry[1], reply.p2, request.data_type, request.count, None)
                return
        log.warning("CA server %s: %s (status %d)", circuit.host, text, reply.p2)

    @staticmethod
    def _complete(done: Completion, status: int, data_type: int, count: int,
                  payload: Any) -> None:
        try:
            done(status, data_type, count, payload)
        except Exception:
            log.exception("CA completion failed")

    def _lose(self, channel: Channel) -> None:
        """Mark ``channel`` disconnected, tell its listeners, and search for it again."""
        was = channel.connected
        channel.connected = False
        channel.sid = None
        channel.circuit = None
        if self._channels.get(channel.name) is channel:
            self._schedule.add(channel.cid, channel.name, time.monotonic())
        if was:
            for listener in list(channel.listeners):
                listener._ca_connection(channel, False)

    def _drop(self, circuit: _Circuit) -> None:
        if self._circuits.get(circuit.address) is circuit:
            del self._circuits[circuit.address]
        circuit.dead = True
        try:
            self._selector.unregister(circuit.sock)
        except (KeyError, ValueError):
            pass
        circuit.sock.close()
        self._schedule.forget_server(circuit.address)
        ioids, circuit.ioids = circuit.ioids, {}
        for _, done in ioids.values():
            self._complete(done, ECA_DISCONN, 0, 0, None)
        for channel in list(circuit.channels.values()):
            self._lose(channel)
        circuit.channels.clear()

    def _shutdown(self) -> None:
        with self._lock:
            for circuit in list(self._circuits.values()):
                circuit.dead = True
                circuit.sock.close()
            self._circuits.clear()
            for sock in (self._udp, self._wake_r, self._wake_w):
                sock.close()
            self._selector.close()
