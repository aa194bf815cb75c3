"""asyncio back-end: transports and protocols around the sans-I/O core.

Protocol callbacks (not streams) keep the hot path free of task switches: a received chunk
(at most :data:`READ_CHUNK` bytes, so a flooding client cannot hog the loop) is handled
entirely inside ``buffer_updated`` and answered with one ``writelines``.
Subscription updates are flushed once per loop iteration. When the socket buffer fills
(``pause_writing``), reading from that client pauses and its updates wait in their bounded
queues (newest kept), so one slow client costs others nothing.
"""

from __future__ import annotations

import asyncio
import functools
import signal
from collections import deque
from typing import Awaitable, Callable, Deque, Dict, List, Mapping, Sequence, Set, Tuple

from caproto import ChannelData
from caproto.asyncio.server import AsyncioAsyncLayer

from . import _wire as wire
from ._circuit import Circuit
from ._config import (
    MIN_BEACON_PERIOD,
    Listening,
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

READ_CHUNK = 32768
"""Bytes read per callback: bounds the work one busy client does before others get a turn."""
WRITE_SLICE = 262144
"""Large replies are handed to the transport in slices of this size, each only once the
previous ones are on their way, so a 1M-element array is never copied whole into (and
shifted inside) the transport's buffer."""
RECANCEL_PERIOD = 0.1
"""Seconds between cancellations of tasks still running at shutdown. A task can swallow a
cancellation (``asyncio.wait_for`` on Python < 3.12 does when the awaited call finishes in
the same loop iteration), so one ``cancel()`` is not enough to end a scan hook's loop."""
SHUTDOWN_GRACE = 5.0
"""Seconds the shutdown keeps cancelling tasks before it runs the shutdown hooks anyway."""
RELAY_BACKLOG = 65536
"""Bytes of relayed searches kept for a server while its circuit connects (and the largest
message accepted from it)."""


class _CircuitProtocol(asyncio.BufferedProtocol):
    def __init__(self, server: _Server):
        self.server = server
        self.buffer = bytearray(READ_CHUNK)
        self.transport: asyncio.Transport | None = None
        self.circuit: Circuit | None = None
        self.backlog: Deque[memoryview] = deque()
        self.paused = False  # the socket buffer is full (pause_writing)
        self.held = False  # the circuit waits for a task: later requests stay unread
        self.scheduled = False
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("0.0.0.0", 0)
        self.circuit = Circuit(self.server.core, tuple(peer[:2]), self._wake)
        self.server.circuits.add(self)

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        out = self.circuit.receive(bytes(self.buffer[:nbytes]))
        if out:
            self._send(out)
        self._follow_circuit()

    def _follow_circuit(self) -> None:
        """Close a circuit the client broke (after its replies so far); stop reading while
        the circuit waits for a task, and go on once it is free."""
        circuit = self.circuit
        if circuit.closing is not None:
            self.transport.close()
        elif circuit.busy and not self.held:
            self.held = True
            if not self.paused:
                self.transport.pause_reading()
        elif self.held and not circuit.busy:
            self.held = False
            if not self.paused:
                self.transport.resume_reading()

    def _send(self, out: List[bytes]) -> None:
        if not self.backlog and all(len(b) < WRITE_SLICE for b in out):
            self.transport.writelines(out)
            return
        self.backlog.extend(memoryview(b) for b in out)
        self._pump()

    def _pump(self) -> None:
        backlog, write = self.backlog, self.transport.write
        while backlog and not self.paused and not self.transport.is_closing():
            view = backlog[0]
            if len(view) > WRITE_SLICE:
                backlog[0] = view[WRITE_SLICE:]
                view = view[:WRITE_SLICE]
            else:
                backlog.popleft()
            write(view)

    def _wake(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.scheduled = False
        if self.circuit.closed or self.transport.is_closing():
            return
        out = self.circuit.take_output(events=not self.paused)
        if out:
            self._send(out)
        self._follow_circuit()

    def pause_writing(self) -> None:
        self.paused = self.circuit.congested = True
        if not self.held:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = self.circuit.congested = False
        if not self.transport.is_closing() and not self.held:
            self.transport.resume_reading()
        self._pump()
        self._flush()

    def connection_lost(self, exc) -> None:
        self.circuit.close()
        self.server.circuits.discard(self)


class _SearchProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: _Server, relays: bool):
        self.server = server
        self.relays = relays
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, address) -> None:
        if address[0] in self.server.settings.ignore:
            return
        unanswered: List[tuple] | None = [] if self.relays else None
        try:
            reply = self.server.core.handle_datagram(data, unanswered)
        except Exception:
            log.exception("bad search datagram from %s", address)
            return
        if reply:
            self.transport.sendto(reply, address)
        if unanswered:
            for peer, request in self.server.relay.relay(unanswered, address).items():
                self.server.relay_to(peer, request, self.transport)

    def error_received(self, exc) -> None:  # ICMP port unreachable and the like
        pass


class _BeaconListener(asyncio.DatagramProtocol):
    """Registered with the host's repeater: receives every server's beacons."""

    def __init__(self, server: _Server):
        self.server = server

    def datagram_received(self, data: bytes, address) -> None:
        if self.server.relay.beacons(data, address):
            self.server.spawn(self.server.rebind_searches())

    def error_received(self, exc) -> None:  # no repeater (yet): registration is retried
        pass


class _RelayCircuit(asyncio.Protocol):
    """TCP circuit to another server on the host, carrying relayed searches."""

    def __init__(self, server: _Server, peer: Tuple[str, int], reply_via):
        self.server = server
        self.peer = peer
        self.reply_via = reply_via
        self.transport: asyncio.Transport | None = None
        self.waiting: List[bytes] = [CIRCUIT_START]
        self.received = b""

    def send(self, data: bytes) -> None:
        if self.transport is None:
            if sum(map(len, self.waiting)) < RELAY_BACKLOG:
                self.waiting.append(data)
        elif not self.transport.is_closing():
            self.transport.write(data)

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.writelines(self.waiting)
        self.waiting = []

    def data_received(self, data: bytes) -> None:
        self.received += data
        try:
            messages, consumed = wire.split_messages(self.received, RELAY_BACKLOG)
        except ValueError:
            self.transport.abort()
            return
        self.received = self.received[consumed:]
        relay = self.server.relay
        for client, reply in relay.answers(messages, self.peer):
            self.reply_via.sendto(reply, client)
        relay.expire()

    def connection_lost(self, exc) -> None:
        if self.server.relay_circuits.get(self.peer) is self:
            del self.server.relay_circuits[self.peer]


class _Server:
    def __init__(self, pvdb: Mapping[str, ChannelData], interfaces: Sequence[str] | None):
        self.settings = Settings(interfaces)
        self.core = ServerCore(pvdb, port=self.settings.port,
                               max_array_bytes=self.settings.max_array_bytes,
                               spawn=self.spawn)
        self.circuits: Set[_CircuitProtocol] = set()
        self.tasks: Set[asyncio.Task] = set()
        self.relay = SearchRelay(self.settings.port, functools.partial(
            shares_udp_port, udp_port=self.settings.port))
        self.relay_circuits: Dict[Tuple[str, int], _RelayCircuit] = {}
        self.searches: List[Tuple[str, asyncio.DatagramTransport]] = []

    async def rebind_searches(self) -> None:
        """Bind the relaying search sockets again (see ``SearchRelay.beacons``)."""
        loop = asyncio.get_running_loop()
        for i, (interface, old) in enumerate(self.searches):
            if self.settings.relays(interface):
                new, _ = await loop.create_datagram_endpoint(
                    functools.partial(_SearchProtocol, self, True),
                    sock=make_udp_socket(interface, self.settings.port))
                self.searches[i] = (interface, new)
                old.close()

    def relay_to(self, peer: Tuple[str, int], data: bytes, reply_via) -> None:
        """Send relayed searches to ``peer`` (connecting first if need be); its answers go
        to the clients through the datagram transport ``reply_via``."""
        circuit = self.relay_circuits.get(peer)
        if circuit is None:
            circuit = self.relay_circuits[peer] = _RelayCircuit(self, peer, reply_via)
            self.spawn(self._connect(circuit))
        circuit.send(data)

    async def _connect(self, circuit: _RelayCircuit) -> None:
        try:
            await asyncio.get_running_loop().create_connection(lambda: circuit, *circuit.peer)
        except OSError as exc:
            log.info("cannot relay searches to %s:%d: %s", *circuit.peer, exc)
            circuit.connection_lost(exc)

    async def _register(self) -> None:
        """Keep registered with the repeater, to hear the other servers' beacons."""
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _BeaconListener(self), local_addr=("127.0.0.1", 0))
        try:
            while True:
                transport.sendto(self.relay.registration(),
                                 ("127.0.0.1", self.settings.repeater_port))
                await asyncio.sleep(REGISTER_PERIOD)
        finally:
            transport.close()

    def spawn(self, awaitable: Awaitable[None]) -> None:
        task = asyncio.ensure_future(awaitable)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(self, name: str, hook: Callable, async_lib) -> None:
        try:
            await hook(async_lib)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("hook %s failed", name)

    async def _beacons(self, host_id: int) -> None:
        sock = make_beacon_socket()
        period, beacon_id = MIN_BEACON_PERIOD, 0
        try:
            while True:
                message = wire.beacon(self.core.port, beacon_id, host_id)
                for address in self.settings.beacon_addresses:
                    try:
                        sock.sendto(message, address)
                    except OSError:
                        pass
                beacon_id = (beacon_id + 1) & 0xFFFFFFFF
                await asyncio.sleep(period)
                period = min(period * 2, self.settings.beacon_period)
        finally:
            sock.close()

    async def serve(self, log_pvs: bool, startup_hook, started=None) -> None:
        loop = asyncio.get_running_loop()
        settings = self.settings
        port, tcp_socks = bind_tcp(settings.interfaces, settings.port)
        self.core.port = self.relay.own_port = port
        servers = []
        try:
            for sock in tcp_socks.values():
                servers.append(await loop.create_server(lambda: _CircuitProtocol(self),
                                                        sock=sock))
            for interface in settings.interfaces:
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_SearchProtocol, self, settings.relays(interface)),
                    sock=make_udp_socket(interface, settings.port))
                self.searches.append((interface, transport))
            announce(self.core.db, port, settings, log_pvs, started)
            async_lib = AsyncioAsyncLayer()
            self.spawn(self._beacons(settings.beacon_host_id()))
            if any(map(settings.relays, settings.interfaces)):
                ensure_repeater(settings.repeater_port)
                self.spawn(self._register())
            if startup_hook is not None:
                self.spawn(self._guarded("startup_hook", startup_hook, async_lib))
            for name, hook in startup_hooks(self.core.db).items():
                self.spawn(self._guarded(name, hook, async_lib))
            await loop.create_future()  # serve until cancelled
        finally:
            await self._shutdown(servers)

    async def _shutdown(self, servers) -> None:
        for server in servers:
            server.close()
        for _, transport in self.searches:
            transport.close()
        for protocol in list(self.circuits):
            protocol.transport.abort()
        for circuit in list(self.relay_circuits.values()):
            if circuit.transport is not None:
                circuit.transport.abort()
        await self._end_tasks()
        async_lib = AsyncioAsyncLayer()
        hooks = self.core.db.hooks("server_shutdown")
        await asyncio.gather(*(self._guarded(name, hook, async_lib)
                               for name, hook in hooks.items()))

    async def _end_tasks(self) -> None:
        """Cancel hook, putter and beacon tasks, again every RECANCEL_PERIOD s while any is
        left, for at most SHUTDOWN_GRACE s (then log the ones still running and go on).

        Cancellations of this task meanwhile are absorbed: the server is ending anyway, and
        ``asyncio.run`` cancels every task on its way out, this one included.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_GRACE
        while True:
            pending = {task for task in self.tasks if not task.done()}
            if not pending:
                return
            if loop.time() > deadline:
                log.warning("%d task(s) ignore cancellation, leaving them: %s", len(pending),
                            [task.get_coro() for task in pending])
                return
            for task in pending:
                task.cancel()
            try:
                await asyncio.wait(pending, timeout=RECANCEL_PERIOD)
            except asyncio.CancelledError:
                pass


async def start_server(pvdb: Mapping[str, ChannelData], *,
                       interfaces: Sequence[str] | None = None, log_pvs: bool = False,
                       startup_hook: Callable[[AsyncioAsyncLayer], Awaitable] | None = None,
                       started: Callable[[Listening], None] | None = None) -> None:
    """Serve ``pvdb`` over Channel Access on the running asyncio loop until cancelled.

    Args:
        pvdb: ``{name: ChannelData}``, e.g. ``MyGroup(prefix="X:").pvdb``.
        interfaces: IPv4 addresses to listen on; default EPICS_CAS_INTF_ADDR_LIST or all.
        log_pvs: log the PV names and the port once listening.
        startup_hook: ``async def hook(async_lib)`` run as a task once listening.
        started: called once with the :class:`Listening` address, as soon as bound.

    Raises:
        OSError: no TCP port or the UDP search port could not be bound.

    Cancelling the task closes every socket, cancels hook and putter tasks, then runs the
    PVs' ``server_shutdown`` hooks before the cancellation propagates.
    """
    await _Server(pvdb, interfaces).serve(log_pvs, startup_hook, started)


def run(pvdb: Mapping[str, ChannelData], *, interfaces: Sequence[str] | None = None,
        log_pvs: bool = False, startup_hook=None, started=None) -> None:
    """Serve ``pvdb`` on a new asyncio loop until SIGINT or SIGTERM, then return."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            await start_server(pvdb, interfaces=interfaces, log_pvs=log_pvs,
                               startup_hook=startup_hook, started=started)
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
