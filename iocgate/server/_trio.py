"""trio back-end: the shared socket-loop server (:mod:`._streams`) on trio primitives."""

from __future__ import annotations

import signal
import socket
from typing import Any, Awaitable, Mapping, Sequence

import trio
from caproto import ChannelData
from caproto.trio.server import TrioAsyncLayer

from ._streams import Lib, StreamServer, Wakeup


class _TrioLib(Lib):
    def __init__(self, nursery: trio.Nursery):
        self.nursery = nursery
        self.async_layer = TrioAsyncLayer()

    def wrap(self, sock) -> Any:
        return trio.socket.from_stdlib_socket(sock)

    async def sendall(self, sock, data: bytes) -> None:
        view = memoryview(data)
        while view:
            sent = await sock.send(view)
            view = view[sent:]

    async def aclose(self, sock) -> None:
        sock.close()

    async def shutdown(self, sock) -> None:
        sock.shutdown(socket.SHUT_RDWR)

    def spawn(self, awaitable: Awaitable[None]) -> None:
        async def task():
            await awaitable

        self.nursery.start_soon(task)

    def wakeup(self) -> Wakeup:
        return Wakeup(trio.Event)

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


async def serve(pvdb: Mapping[str, ChannelData], *, interfaces: Sequence[str] | None = None,
                log_pvs: bool = False, startup_hook=None, started=None) -> None:
    """Serve ``pvdb`` on trio until cancelled; shutdown hooks run (shielded) on the way out."""
    async with trio.open_nursery() as nursery:
        server = StreamServer(_TrioLib(nursery), pvdb, interfaces)
        try:
            await server.start(log_pvs, startup_hook, started)
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await server.shutdown()
            nursery.cancel_scope.cancel()


def run(pvdb: Mapping[str, ChannelData], *, interfaces: Sequence[str] | None = None,
        log_pvs: bool = False, startup_hook=None, started=None) -> None:
    """Serve ``pvdb`` with trio until SIGINT or SIGTERM, then return."""

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(lambda: serve(pvdb, interfaces=interfaces, log_pvs=log_pvs,
                                                 startup_hook=startup_hook, started=started))
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main)
