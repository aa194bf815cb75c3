"""Run an IOC (and its simulator) inside the test process, on a free loopback port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Dict, Optional

from ._environment import LOOPBACK

#: seconds a harness waits for its server to accept connections
START_TIMEOUT = 10.0


class RunningIOC:
    """An IOC served on an asyncio loop in a background thread.

    Attributes:
        group: the PVGroup instance served.
        prefix: its PV prefix.
        port: the CA server port (TCP and UDP) on 127.0.0.1.
        simulation: the :class:`~iocgate.Simulation` the device runs on, or ``None``.
        client: a caproto threading client ``Context`` that searches only this server.
    """

    def __init__(self, group: Any, port: int, server: str = "iocgate",
                 simulation: Any = None):
        self.group = group
        self.prefix = group.prefix
        self.port = port
        self.server = server
        self.simulation = simulation
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._task: Optional[asyncio.Task] = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._serve, name=f"ioc:{self.prefix}",
                                        daemon=True)
        self._client: Any = None
        self._pvs: Dict[str, Any] = {}

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> RunningIOC:
        """Start serving; returns once the server accepts TCP connections.

        Raises:
            RuntimeError: the server failed or did not come up within START_TIMEOUT s.
        """
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._error is not None:
                raise RuntimeError(f"IOC {self.prefix} failed to start") from self._error
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"IOC {self.prefix} did not listen on port {self.port} "
                           f"within {START_TIMEOUT} s")

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()/stop()
            self._error = exc

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        pvdb = dict(self.group.pvdb)
        if self.server == "caproto":
            from caproto.asyncio.server import start_server
            coro = start_server(pvdb, interfaces=[LOOPBACK])
        else:
            from ..server import start_server as start_iocgate
            coro = start_iocgate(pvdb, interfaces=[LOOPBACK])
        self._task = asyncio.ensure_future(coro)
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def stop(self) -> None:
        """Stop the client, the server and the simulator; idempotent.

        The client disconnects in a background thread: its circuits close at once, while
        the ends of its housekeeping threads (they poll every 0.1-0.5 s, up to 1.6 s in
        all) are not waited for.
        """
        client, self._client = self._client, None
        if client is not None:
            threading.Thread(target=client.disconnect, name=f"disconnect:{self.prefix}",
                             daemon=True).start()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass
        self._thread.join(timeout=10)
        if self.simulation is not None:
            self.simulation.stop()
            self.simulation = None
        endpoint = getattr(getattr(self.group, "device", None), "endpoint", None)
        if endpoint is not None:
            endpoint.close()

    def __enter__(self) -> RunningIOC:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- client side -------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            from caproto.threading.client import Context
            self._client = Context()
        return self._client

    def pv(self, suffix: str, timeout: float = 5.0) -> Any:
        """A connected caproto threading-client PV for ``prefix + suffix``."""
        if suffix not in self._pvs:
            pv, = self.client.get_pvs(self.prefix + suffix, timeout=timeout)
            pv.wait_for_connection(timeout=timeout)
            self._pvs[suffix] = pv
        return self._pvs[suffix]

    def get(self, suffix: str, *, data_type: Any = None, timeout: float = 5.0) -> Any:
        """Read ``prefix + suffix`` over CA; returns caproto's response (``.data``,
        ``.metadata``); ``data_type`` e.g. ``"time"`` or ``"control"``."""
        return self.pv(suffix, timeout).read(data_type=data_type, timeout=timeout)

    def value(self, suffix: str, timeout: float = 5.0) -> Any:
        """The scalar value (or the array) of ``prefix + suffix``; enum PVs give the state
        name."""
        from caproto import ChannelType

        pv = self.pv(suffix, timeout)
        enum = pv.channel.native_data_type == ChannelType.ENUM
        data = pv.read(data_type=ChannelType.STRING if enum else None, timeout=timeout).data
        if len(data) == 1:
            item = data[0]
            return item.decode() if isinstance(item, bytes) else item
        return data

    def put(self, suffix: str, value: Any, *, wait: bool = True, timeout: float = 5.0) -> Any:
        """Write over CA; with ``wait`` the put-completion reply is returned (its
        ``.status`` tells success). A ``str`` is sent as DBR_STRING (enum state names)."""
        from caproto import ChannelType

        if isinstance(value, str):
            return self.pv(suffix, timeout).write([value.encode()], wait=wait, timeout=timeout,
                                                  data_type=ChannelType.STRING)
        return self.pv(suffix, timeout).write(value, wait=wait, timeout=timeout)


    def caput(self, suffix: str, value: Any, *, timeout: float = 10.0) -> Any:
        """Put with the real EPICS ``caput -c -w`` (put-completion); returns the
        ``CompletedProcess`` (``returncode`` 1 and "write request failed" when refused)."""
        return self.run_tool("caput", "-c", "-w", str(timeout), self.prefix + suffix,
                             str(value), timeout=timeout + 10)

    def run_tool(self, tool: str, *args: str, timeout: float = 20.0) -> Any:
        """Run a real EPICS command-line tool against this IOC."""
        import subprocess

        from ._environment import epics_tool, subprocess_env

        return subprocess.run([str(epics_tool(tool)), *args], env=subprocess_env(self.port),
                              capture_output=True, text=True, timeout=timeout)


def start_ioc(ioc_class: type, port: int, *, server: str = "iocgate",
              prefix: Optional[str] = None, simulate: bool = True,
              **group_kwargs: Any) -> RunningIOC:
    """Build ``ioc_class`` on its simulator (if it has a device) and serve it on ``port``.

    The caller must already have the loopback EPICS environment for ``port`` in
    ``os.environ`` (the ``ca_env`` fixture does that).
    """
    simulation = None
    config = getattr(ioc_class, "device_config", None)
    if config is not None and simulate and "device" not in group_kwargs:
        simulation = config.start_simulator(ioc_class)
        group_kwargs["device"] = config.open(simulation.options, config.timeout)
    if prefix is not None:
        group_kwargs["prefix"] = prefix
    group = ioc_class(**group_kwargs)
    try:
        return RunningIOC(group, port, server=server, simulation=simulation).start()
    except BaseException:
        if simulation is not None:
            simulation.stop()
        raise
