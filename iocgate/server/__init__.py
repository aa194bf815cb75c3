"""iocgate's own Channel Access (CA 4.13) server for caproto pvdbs.

Serves any pvdb built from caproto ``PVGroup`` s (or plain ``ChannelData`` dicts): caproto's
``ChannelData`` stays the data model, so putters, getters, startup/scan/shutdown hooks,
alarms, records and fields behave as under ``caproto.server.run``.

Layers (a lower one never imports a higher one):

* ``_wire``: headers, replies and DBR payloads as plain functions over bytes;
* ``_pvdb``: name resolution (fields, ``.$``, filters) and the per-PV reply cache;
* ``_core`` / ``_circuit``: sans-I/O server and per-client state machines
  (:class:`ServerCore`, :class:`Circuit`: bytes in, buffers out);
* ``_completion``: :class:`PutCompletion`, a put stored now and answered when it ends;
* ``_drive``: steps ChannelData coroutines inline, or hands them to a task;
* ``_relay`` (with ``_procnet``): relays unicast searches to the other servers of the host
  that share our search port; ``_repeatlog``: one log line per repeated client error;
* ``_fastwrite``: applies the common scalar put without caproto's write path, with the same
  result (:func:`register_plain_write` admits ``write`` overrides that change nothing there);
* back-ends: ``_asyncio`` (protocol callbacks, the fast one), ``_trio`` and ``_curio``
  (on the shared socket loop of ``_streams``).

Example::

    from iocgate.server import run
    run(MyGroup(prefix="LAB:").pvdb)            # blocks until SIGINT/SIGTERM
"""

from __future__ import annotations

import gc
from typing import Callable, Mapping, Sequence

from caproto import ChannelData

from ._asyncio import start_server
from ._circuit import Circuit
from ._completion import PutCompletion, deferring, take_deferral
from ._config import Listening, Settings
from ._core import ServerCore
from ._fastwrite import register_plain_write

ASYNC_LIBS = ("asyncio", "trio", "curio")


def run(pvdb: Mapping[str, ChannelData], *, interfaces: Sequence[str] | None = None,
        log_pvs: bool = False, startup_hook=None, async_lib: str = "asyncio",
        started: Callable[[Listening], None] | None = None) -> None:
    """Serve ``pvdb`` until SIGINT or SIGTERM, then shut down cleanly and return.

    Same meaning as ``caproto.server.run(pvdb, interfaces=..., log_pvs=...,
    startup_hook=...)``.

    Args:
        pvdb: ``{name: ChannelData}``, e.g. ``MyGroup(prefix="X:").pvdb``.
        interfaces: IPv4 addresses to listen on; default EPICS_CAS_INTF_ADDR_LIST, else all.
        log_pvs: log the port and every PV name once listening.
        startup_hook: ``async def hook(async_lib)``, run once listening.
        async_lib: ``"asyncio"`` (fastest), ``"trio"`` or ``"curio"``; hooks receive the
            matching caproto ``AsyncLibraryLayer``.
        started: called once with the :class:`Listening` address (interfaces, TCP and UDP
            ports, PV count) as soon as the sockets are bound.

    Raises:
        ValueError: unknown ``async_lib``.
        OSError: the ports could not be bound.

    The pvdb and everything else alive at this point are frozen out of the garbage
    collector (``gc.freeze``): they live as long as the process, and with thousands of PVs
    every full collection walking them cost ~0.1 s, stalling connects and put floods.
    """
    if async_lib == "asyncio":
        from ._asyncio import run as backend_run
    elif async_lib == "trio":
        from ._trio import run as backend_run
    elif async_lib == "curio":
        from ._curio import run as backend_run
    else:
        raise ValueError(f"async_lib must be one of {ASYNC_LIBS}, not {async_lib!r}")
    gc.collect()
    gc.freeze()
    backend_run(pvdb, interfaces=interfaces, log_pvs=log_pvs, startup_hook=startup_hook,
                started=started)


__all__ = ["ASYNC_LIBS", "Circuit", "Listening", "PutCompletion", "ServerCore", "Settings",
           "deferring", "register_plain_write", "run", "start_server", "take_deferral"]
