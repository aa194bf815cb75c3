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
import signal
from collections import deque
from typing import Awaitable, Callable, Deque, List, Mapping, Sequence, Set

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


class _CircuitProtocol(asyncio.BufferedProtocol):
    def __init__(self, server: _Server):
        self.server = server
        self.buffer = bytearray(READ_CHUNK)
        self.transport: asyncio.Transport | None = None
        self.circuit: Circuit | None = None
        self.backlog: Deque[memoryview] = deque()
        self.paused = False
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
        data = bytes(self.buffer[:nbytes])
        try:
            out = self.circuit.receive(data)
        except ValueError as exc:
            log.warning("closing circuit from %s: %s", self.circuit.address, exc)
            self.transport.abort()
            return
        if out:
            self._send(out)

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

    def pause_writing(self) -> None:
        self.paused = self.circuit.congested = True
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = self.circuit.congested = False
        if not self.transport.is_closing():
            self.transport.resume_reading()
        self._pump()
        self._flush()

    def connection_lost(self, exc) -> None:
        self.circuit.close()
        self.server.circuits.discard(self)


class _SearchProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: _Server):
        self.server = server
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, address) -> None:
        if address[0] in self.server.settings.ignore:
            return
        try:
            reply = self.server.core.handle_datagram(data)
        except Exception:
            log.exception("bad search datagram from %s", address)
            return
        if reply:
            self.transport.sendto(reply, address)

    def error_received(self, exc) -> None:  # ICMP port unreachable and the like
        pass


class _Server:
    def __init__(self, pvdb: Mapping[str, ChannelData], interfaces: Sequence[str] | None):
        self.settings = Settings(interfaces)
        self.core = ServerCore(pvdb, port=self.settings.port,
                               max_array_bytes=self.settings.max_array_bytes,
                               spawn=self.spawn)
        self.circuits: Set[_CircuitProtocol] = set()
        self.tasks: Set[asyncio.Task] = set()

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
        self.core.port = port
        servers, transports = [], []
        try:
            for sock in tcp_socks.values():
                servers.append(await loop.create_server(lambda: _CircuitProtocol(self),
                                                        sock=sock))
            for interface in settings.interfaces:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _SearchProtocol(self), sock=make_udp_socket(interface,
                                                                        settings.port))
                transports.append(transport)
            announce(self.core.db, port, settings, log_pvs, started)
            async_lib = AsyncioAsyncLayer()
            self.spawn(self._beacons(settings.beacon_host_id()))
            if startup_hook is not None:
                self.spawn(self._guarded("startup_hook", startup_hook, async_lib))
            for name, hook in startup_hooks(self.core.db).items():
                self.spawn(self._guarded(name, hook, async_lib))
            await loop.create_future()  # serve until cancelled
        finally:
            await self._shutdown(servers, transports)

    async def _shutdown(self, servers, transports) -> None:
        for server in servers:
            server.close()
        for transport in transports:
            transport.close()
        for protocol in list(self.circuits):
            protocol.transport.abort()
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
