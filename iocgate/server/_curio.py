"""curio back-end: the shared socket-loop server (:mod:`._streams`) on curio primitives."""

from __future__ import annotations

import signal
import socket
from typing import Any, Awaitable, Mapping, Sequence, Set

import curio
import curio.io
from caproto import ChannelData
from caproto.curio.server import CurioAsyncLayer

from ._config import log
from ._streams import Lib, StreamServer, Wakeup


class _CurioLib(Lib):
    """Tasks spawned from sync code go through a queue drained by a spawner task.

    They run as daemon tasks that forget themselves when they end (a ``TaskGroup`` keeps
    every finished task until joined: memory grew with every client and every put), and
    are cancelled by :meth:`cancel_all`.
    """

    def __init__(self):
        self.queue = curio.UniversalQueue()
        self.async_layer = CurioAsyncLayer()
        self.tasks: Set[curio.Task] = set()

    async def spawner(self) -> None:
        while True:
            awaitable = await self.queue.get()
            await curio.spawn(self._tracked, awaitable, daemon=True)

    async def _tracked(self, awaitable: Awaitable[None]) -> None:
        task = await curio.current_task()
        self.tasks.add(task)
        try:
            await awaitable
        except curio.CancelledError:
            raise
        except Exception:
            log.exception("background task failed")
        finally:
            self.tasks.discard(task)

    async def cancel_all(self) -> None:
        """Cancel every task still running (at shutdown)."""
        while self.tasks:
            await self.tasks.pop().cancel()

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
                log_pvs: bool = False, startup_hook=None, started=None) -> None:
    """Serve ``pvdb`` on curio until cancelled; shutdown hooks run on the way out."""
    lib = _CurioLib()
    server = StreamServer(lib, pvdb, interfaces)
    spawner = await curio.spawn(lib.spawner, daemon=True)
    try:
        await server.start(log_pvs, startup_hook, started)
        await curio.Event().wait()
    finally:
        async with curio.disable_cancellation():
            await server.shutdown()
            await spawner.cancel()
            await lib.cancel_all()


def run(pvdb: Mapping[str, ChannelData], *, interfaces: Sequence[str] | None = None,
        log_pvs: bool = False, startup_hook=None, started=None) -> None:
    """Serve ``pvdb`` with curio until SIGINT or SIGTERM, then return."""
    stop = curio.UniversalEvent()

    async def main() -> None:
        task = await curio.spawn(serve(pvdb, interfaces=interfaces, log_pvs=log_pvs,
                                       startup_hook=startup_hook, started=started))
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
