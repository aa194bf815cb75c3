"""curio back-end: the shared socket-loop server (:mod:`._streams`) on curio primitives."""

from __future__ import annotations

import signal
import socket
from typing import Any, Awaitable, Mapping, Sequence

import curio
import curio.io
from caproto import ChannelData
from caproto.curio.server import CurioAsyncLayer

from ._streams import Lib, StreamServer, Wakeup


class _CurioLib(Lib):
    """Tasks spawned from sync code go through a queue drained by a spawner task."""

    def __init__(self, group: curio.TaskGroup):
        self.group = group
        self.queue = curio.UniversalQueue()
        self.async_layer = CurioAsyncLayer()

    async def spawner(self) -> None:
        while True:
            awaitable = await self.queue.get()
            await self.group.spawn(awaitable)

    def wrap(self, sock) -> Any:
        return curio.io.Socket(sock)

    async def sendall(self, sock, data: bytes) -> None:
        await sock.sendall(data)

    async def aclose(self, sock) -> None:
        await sock.close()

    async def shutdown(self, sock) -> None:
        await sock.shutdown(socket.SHUT_RDWR)

    def spawn(self, awaitable: Awaitable[None]) -> None:
        self.queue.put(awaitable)

    def wakeup(self) -> Wakeup:
        return Wakeup(curio.UniversalEvent)

    async def sleep(self, seconds: float) -> None:
        await curio.sleep(seconds)


async def serve(pvdb: Mapping[str, ChannelData], *, interfaces: Sequence[str] | None = None,
                log_pvs: bool = False, startup_hook=None) -> None:
    """Serve ``pvdb`` on curio until cancelled; shutdown hooks run on the way out."""
    async with curio.TaskGroup(wait=any) as group:
        lib = _CurioLib(group)
        server = StreamServer(lib, pvdb, interfaces)
        await group.spawn(lib.spawner)
        try:
            await server.start(log_pvs, startup_hook)
            await curio.Event().wait()
        finally:
            async with curio.disable_cancellation():
                await server.shutdown()
            await group.cancel_remaining()


def run(pvdb: Mapping[str, ChannelData], *, interfaces: Sequence[str] | None = None,
        log_pvs: bool = False, startup_hook=None) -> None:
    """Serve ``pvdb`` with curio until SIGINT or SIGTERM, then return."""
    stop = curio.UniversalEvent()

    async def main() -> None:
        task = await curio.spawn(serve(pvdb, interfaces=interfaces, log_pvs=log_pvs,
                                       startup_hook=startup_hook))
        await stop.wait()
        await task.cancel()

    def request_stop(signum: int, frame: Any) -> None:
        # A named function, not a lambda: curio's UniversalEvent.set() looks through a
        # nested '<lambda>' frame at the frame the signal interrupted, and in a coroutine
        # returns an (unawaited) coroutine instead of setting the event.
        stop.set()

    previous = {signum: signal.signal(signum, request_stop)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        curio.run(main)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
