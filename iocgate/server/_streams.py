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

import socket
from typing import Any, Awaitable, Callable, List, Mapping, Sequence

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

MAX_PENDING_BYTES = 4 * 1024 * 1024
"""Replies queued for one client before its requests stop being read."""
MAX_UDP = 0xFFFF
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
        self.circuit = Circuit(server.core, tuple(address[:2]), self.wake.set)
        self.running = 2  # reader and writer

    def _queue(self, out: List[bytes]) -> None:
        if out:
            self.pending.extend(out)
            self.pending_bytes += sum(len(b) for b in out)
            self.wake.set()

    async def reader(self) -> None:
        try:
            while not self.circuit.closed:
                data = await self.sock.recv(READ_CHUNK)
                if not data:
                    break
                self._queue(self.circuit.receive(data))
                await self.lib.sleep(0)  # curio's recv does not yield while data is waiting
                while self.pending_bytes > MAX_PENDING_BYTES and not self.circuit.closed:
                    await self.drained.wait()
        except (OSError, ValueError) as exc:
            log.info("circuit from %s ended: %r", self.circuit.address, exc)
        finally:
            self.circuit.close()
            self.wake.set()
            await self._end()

    async def writer(self) -> None:
        try:
            while True:
                await self.wake.wait()
                if self.circuit.closed:
                    return
                out = self.pending + self.circuit.take_output()
                self.pending, self.pending_bytes = [], 0
                self.drained.set()
                if out:
                    self.circuit.congested = True
                    await self.lib.sendall(self.sock, b"".join(out))
                    self.circuit.congested = False
        except OSError:
            self.circuit.close()
        finally:
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

    async def start(self, log_pvs: bool, startup_hook: Callable | None,
                    started: Callable | None = None) -> None:
        """Bind, then spawn the accept, search, beacon and hook tasks (returns at once)."""
        settings, lib = self.settings, self.lib
        port, tcp = bind_tcp(settings.interfaces, settings.port)
        self.core.port = port
        for raw in tcp.values():
            sock = lib.wrap(raw)
            self.sockets.append(sock)
            lib.spawn(self._accept(sock))
        for interface in settings.interfaces:
            sock = lib.wrap(make_udp_socket(interface, settings.port))
            self.sockets.append(sock)
            lib.spawn(self._search(sock))
        announce(self.core.db, port, settings, log_pvs, started)
        lib.spawn(self._beacons())
        if startup_hook is not None:
            lib.spawn(self._guarded("startup_hook", startup_hook))
        for name, hook in startup_hooks(self.core.db).items():
            lib.spawn(self._guarded(name, hook))

    async def shutdown(self) -> None:
        """Close the listening sockets and run the PVs' ``server_shutdown`` hooks."""
        for sock in self.sockets:
            await self.lib.aclose(sock)
        for name, hook in self.core.db.hooks("server_shutdown").items():
            await self._guarded(name, hook)

    async def _guarded(self, name: str, hook: Callable) -> None:
        try:
            await hook(self.lib.async_layer)
        except Exception:
            log.exception("hook %s failed", name)

    async def _accept(self, sock: Any) -> None:
        while True:
            raw, address = await sock.accept()
            client = _Client(self, raw, address)
            self.lib.spawn(client.writer())
            self.lib.spawn(client.reader())

    async def _search(self, sock: Any) -> None:
        ignore = self.settings.ignore
        while True:
            try:
                data, address = await sock.recvfrom(MAX_UDP)
            except OSError:
                continue
            if address[0] in ignore:
                continue
            try:
                reply = self.core.handle_datagram(data)
                if reply:
                    await sock.sendto(reply, address)
            except Exception:
                log.exception("search from %s failed", address)

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
