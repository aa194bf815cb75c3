"""Socket-loop back-end logic shared by trio and curio.

Each library module supplies a small :class:`Lib` adapter (socket wrapping, spawning from
synchronous code, a re-armable wake-up, sleep, the caproto ``async_lib``); everything else
is here. Per client there are two tasks: a reader that feeds the
:class:`~iocgate.server._circuit.Circuit` and never sends, and a writer that sends whatever
the circuit has ready in one ``sendall``. While the writer is blocked on a slow client,
updates wait in their bounded queues (newest kept) and the reader stops once
:data:`MAX_PENDING_BYTES` of replies are waiting, so memory stays flat.
"""

from __future__ import annotations

import errno
import functools
import logging
import socket
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Sequence, Set, Tuple

from caproto import ChannelData

from . import _wire as wire
from ._circuit import Circuit
from ._config import (
    MIN_BEACON_PERIOD,
    Settings,
    announce,
    bind_tcp,
    log,
    make_beacon_socket,
    make_udp_socket,
    startup_hooks,
)
from ._core import ServerCore
from ._procnet import shares_udp_port
from ._relay import CIRCUIT_START, REGISTER_PERIOD, SearchRelay
from ._repeater import ensure_repeater
from ._repeatlog import RepeatLog

MAX_PENDING_BYTES = 4 * 1024 * 1024
"""Replies queued for one client before its requests stop being read."""
ACCEPT_RETRY_MIN = 0.01
"""Seconds before the first retry of an accept that failed for lack of descriptors."""
ACCEPT_RETRY_MAX = 1.0
"""Longest wait between accept retries, in seconds."""
_ACCEPT_RETRY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_ACCEPT_SKIP_ERRNOS = {errno.ECONNABORTED, errno.EPROTO, errno.EINTR, errno.EAGAIN}
MAX_UDP = 0xFFFF
MAX_RELAY_MESSAGE = 65536
"""Largest message accepted from a server that relayed searches go to."""
READ_CHUNK = 32768
"""Bytes read per receive: bounds the work one busy client does before others get a turn."""


class Wakeup:
    """A re-arming event: ``set()`` from sync code; ``await wait()`` returns once set and
    leaves it clear again. ``make_event`` builds the library's event (``trio.Event``...)."""

    def __init__(self, make_event: Callable[[], Any]):
        self._make = make_event
        self._event = make_event()

    def set(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event = self._make()


class Lib:
    """What a loop library must provide (see ``_trio.py`` and ``_curio.py``)."""

    async_layer: Any
    """caproto AsyncLibraryLayer handed to hooks."""

    def wrap(self, sock: socket.socket) -> Any:
        """An async socket with ``recv``, ``recvfrom``, ``sendto``, ``accept``, ``close``."""
        raise NotImplementedError

    async def sendall(self, sock: Any, data: bytes) -> None:
        raise NotImplementedError

    async def aclose(self, sock: Any) -> None:
        raise NotImplementedError

    async def shutdown(self, sock: Any) -> None:
        """Shut a connected socket down both ways, leaving it open: a task blocked in its
        ``recv`` wakes up (end of stream), one in ``sendall`` fails."""
        raise NotImplementedError

    def spawn(self, awaitable: Awaitable[None]) -> None:
        """Start a background task; callable from synchronous code."""
        raise NotImplementedError

    def wakeup(self) -> Wakeup:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError


class _Client:
    def __init__(self, server: StreamServer, sock: Any, address):
        self.server = server
        self.lib = server.lib
        self.sock = sock
        self.pending: List[bytes] = []
        self.pending_bytes = 0
        self.wake = self.lib.wakeup()
        self.drained = self.lib.wakeup()
        self.circuit = Circuit(server.core, tuple(address[:2]), self._output)
        self.running = 2  # reader and writer

    def _output(self) -> None:
        """The circuit has output, or is free again after waiting for a task."""
        self.wake.set()
        self.drained.set()

    def _queue(self, out: List[bytes]) -> None:
        if out:
            self.pending.extend(out)
            self.pending_bytes += sum(len(b) for b in out)
            self.wake.set()

    async def reader(self) -> None:
        circuit = self.circuit
        graceful = False  # the client broke the protocol: the writer sends, then closes
        try:
            while not circuit.closed:
                data = await self.sock.recv(READ_CHUNK)
                if not data:
                    break
                self._queue(circuit.receive(data))
                await self.lib.sleep(0)  # curio's recv does not yield while data is waiting
                while ((self.pending_bytes > MAX_PENDING_BYTES or circuit.busy)
                       and not circuit.closed and circuit.closing is None):
                    await self.drained.wait()
                if circuit.closing is not None:
                    graceful = True
                    break
        except (OSError, ValueError) as exc:
            log.info("circuit from %s ended: %r", circuit.address, exc)
        finally:
            self.wake.set()
            if graceful and self.running == 2:
                self.running -= 1
            else:
                circuit.close()
                await self._end()

    async def writer(self) -> None:
        circuit = self.circuit
        try:
            while True:
                await self.wake.wait()
                if circuit.closed:
                    return
                closing = circuit.closing is not None
                out = self.pending + circuit.take_output()
                self.pending, self.pending_bytes = [], 0
                self.drained.set()
                if out:
                    circuit.congested = True
                    await self.lib.sendall(self.sock, b"".join(out))
                    circuit.congested = False
                if closing:
                    return
        except OSError:
            pass
        finally:
            circuit.close()
            self.drained.set()
            await self._end()

    async def _end(self) -> None:
        """Called by the reader and the writer as they end: the first shuts the socket down,
        which ends the other; the second closes it. (Closing it under a reader still waiting
        in ``recv`` left curio's selector holding the descriptor, so the next client given
        the same descriptor number had its reader crash and was disconnected.)"""
        self.running -= 1
        if self.running:
            try:
                await self.lib.shutdown(self.sock)
            except OSError:  # already reset by the peer
                pass
        else:
            await self.lib.aclose(self.sock)


class StreamServer:
    """Serve a pvdb with the primitives of ``lib`` (one instance per ``run``)."""

    def __init__(self, lib: Lib, pvdb: Mapping[str, ChannelData],
                 interfaces: Sequence[str] | None):
        self.lib = lib
        self.settings = Settings(interfaces)
        self.core = ServerCore(pvdb, port=self.settings.port,
                               max_array_bytes=self.settings.max_array_bytes, spawn=lib.spawn)
        self.sockets: List[Any] = []
        self.errors = RepeatLog(log, "server")
        self.relay = SearchRelay(self.settings.port, functools.partial(
            shares_udp_port, udp_port=self.settings.port))
        self.relay_circuits: Dict[Tuple[str, int], Any] = {}
        self.searches: List[Tuple[str, Any]] = []
        self.retired: Set[Any] = set()

    async def start(self, log_pvs: bool, startup_hook: Callable | None,
                    started: Callable | None = None) -> None:
        """Bind, then spawn the accept, search, beacon and hook tasks (returns at once)."""
        settings, lib = self.settings, self.lib
        port, tcp = bind_tcp(settings.interfaces, settings.port)
        self.core.port = self.relay.own_port = port
        for raw in tcp.values():
            sock = lib.wrap(raw)
            self.sockets.append(sock)
            lib.spawn(self._accept(sock))
        for interface in settings.interfaces:
            sock = lib.wrap(make_udp_socket(interface, settings.port))
            self.searches.append((interface, sock))
            lib.spawn(self._search(sock, settings.relays(interface)))
        announce(self.core.db, port, settings, log_pvs, started)
        lib.spawn(self._beacons())
        if any(map(settings.relays, settings.interfaces)):
            ensure_repeater(settings.repeater_port)
            lib.spawn(self._register())
        if startup_hook is not None:
            lib.spawn(self._guarded("startup_hook", startup_hook))
        for name, hook in startup_hooks(self.core.db).items():
            lib.spawn(self._guarded(name, hook))

    async def shutdown(self) -> None:
        """Close the listening sockets and run the PVs' ``server_shutdown`` hooks."""
        for sock in (self.sockets + [sock for _, sock in self.searches]
                     + list(self.relay_circuits.values())):
            await self.lib.aclose(sock)
        for name, hook in self.core.db.hooks("server_shutdown").items():
            await self._guarded(name, hook)

    async def _guarded(self, name: str, hook: Callable) -> None:
        try:
            await hook(self.lib.async_layer)
        except Exception:
            log.exception("hook %s failed", name)

    async def _accept(self, sock: Any) -> None:
        """Accept clients; when out of descriptors (or buffers), wait and try again,
        doubling the wait from :data:`ACCEPT_RETRY_MIN` up to :data:`ACCEPT_RETRY_MAX`."""
        delay = ACCEPT_RETRY_MIN
        while True:
            try:
                raw, address = await sock.accept()
            except OSError as exc:
                if exc.errno in _ACCEPT_SKIP_ERRNOS:
                    continue  # that client is gone already; the next one may come
                if exc.errno not in _ACCEPT_RETRY_ERRNOS:
                    raise
                self.errors.report(logging.ERROR, "accept errors",
                                   f"cannot accept a client ({exc}); retrying")
                await self.lib.sleep(delay)
                delay = min(delay * 2, ACCEPT_RETRY_MAX)
                continue
            delay = ACCEPT_RETRY_MIN
            client = _Client(self, raw, address)
            self.lib.spawn(client.writer())
            self.lib.spawn(client.reader())

    async def _search(self, sock: Any, relays: bool) -> None:
        """Answer searches on ``sock`` until it is retired (then close it)."""
        ignore = self.settings.ignore
        while True:
            try:
                data, address = await sock.recvfrom(MAX_UDP)
            except OSError:
                if sock in self.retired:
                    break
                continue
            if sock in self.retired:
                break
            if address[0] in ignore:
                continue
            unanswered: List[tuple] | None = [] if relays else None
            try:
                reply = self.core.handle_datagram(data, unanswered)
                if reply:
                    await sock.sendto(reply, address)
            except Exception:
                log.exception("search from %s failed", address)
            if unanswered:
                for peer, request in self.relay.relay(unanswered, address).items():
                    await self._relay_to(peer, request, sock)
        self.retired.discard(sock)
        await self.lib.aclose(sock)

    async def _relay_to(self, peer: Tuple[str, int], data: bytes, reply_via: Any) -> None:
        """Send relayed searches to ``peer``, connecting first if need be; its answers go
        to the clients from the search socket ``reply_via``."""
        circuit = self.relay_circuits.get(peer)
        if circuit is None:
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.setblocking(False)
            circuit = self.relay_circuits[peer] = self.lib.wrap(raw)
            try:
                await circuit.connect(peer)
                await self.lib.sendall(circuit, CIRCUIT_START)
            except OSError as exc:
                log.info("cannot relay searches to %s:%d: %s", *peer, exc)
                del self.relay_circuits[peer]
                await self.lib.aclose(circuit)
                return
            self.lib.spawn(self._relay_answers(peer, circuit, reply_via))
        try:
            await self.lib.sendall(circuit, data)
        except OSError:
            pass  # the answer reader notices and forgets the circuit

    async def _relay_answers(self, peer: Tuple[str, int], circuit: Any, reply_via: Any
                             ) -> None:
        received = b""
        try:
            while True:
                data = await circuit.recv(READ_CHUNK)
                if not data:
                    break
                received += data
                messages, consumed = wire.split_messages(received, MAX_RELAY_MESSAGE)
                received = received[consumed:]
                for client, reply in self.relay.answers(messages, peer):
                    await reply_via.sendto(reply, client)
                self.relay.expire()
        except (OSError, ValueError) as exc:
            log.info("relay circuit to %s:%d ended: %r", *peer, exc)
        finally:
            if self.relay_circuits.get(peer) is circuit:
                del self.relay_circuits[peer]
            await self.lib.aclose(circuit)

    async def _register(self) -> None:
        """Keep registered with the host's repeater, to hear the other servers' beacons."""
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw.setblocking(False)
        raw.bind(("127.0.0.1", 0))
        sock = self.lib.wrap(raw)
        self.sockets.append(sock)
        self.lib.spawn(self._hear_beacons(sock))
        while True:
            try:
                await sock.sendto(self.relay.registration(),
                                  ("127.0.0.1", self.settings.repeater_port))
            except OSError:
                pass  # no repeater yet: registration is retried
            await self.lib.sleep(REGISTER_PERIOD)

    async def _hear_beacons(self, sock: Any) -> None:
        while True:
            try:
                data, address = await sock.recvfrom(MAX_UDP)
            except ConnectionRefusedError:
                continue  # the ICMP answer to a registration while no repeater runs
            if self.relay.beacons(data, address):
                await self._rebind_searches()

    async def _rebind_searches(self) -> None:
        """Bind the relaying search sockets again (see ``SearchRelay.beacons``); the old
        ones are shut down, which wakes their tasks, and closed by them."""
        for i, (interface, old) in enumerate(self.searches):
            if not self.settings.relays(interface):
                continue
            new = self.lib.wrap(make_udp_socket(interface, self.settings.port))
            self.searches[i] = (interface, new)
            self.lib.spawn(self._search(new, True))
            self.retired.add(old)
            try:
                await self.lib.shutdown(old)
            except OSError:  # ENOTCONN, yet the shutdown is done and the reader woken
                pass

    async def _beacons(self) -> None:
        sock = self.lib.wrap(make_beacon_socket())
        self.sockets.append(sock)
        host_id = self.settings.beacon_host_id()
        period, beacon_id = MIN_BEACON_PERIOD, 0
        while True:
            message = wire.beacon(self.core.port, beacon_id, host_id)
            for address in self.settings.beacon_addresses:
                try:
                    await sock.sendto(message, address)
                except OSError:
                    pass
            beacon_id = (beacon_id + 1) & 0xFFFFFFFF
            await self.lib.sleep(period)
            period = min(period * 2, self.settings.beacon_period)
