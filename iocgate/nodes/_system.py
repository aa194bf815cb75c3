"""The root of the control tree: creates device branches and shares their endpoints."""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Hashable

from ..transports import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_REPLY_TIMEOUT,
    Endpoint,
    ModbusEndpoint,
    SerialStream,
    StreamEndpoint,
    TcpStream,
    VisaStream,
)
from ._base import ControlNode, clear_global_stop, global_stop_requested, request_global_stop
from ._http import HttpNode
from ._modbus import ModbusNode
from ._shell import ShellNode
from ._stream import StreamNode


class ControlSystem(ControlNode):
    """Root node. Device branches on the same link (same host and port, same serial port,
    same VISA resource, same base URL) share one endpoint: one connection, one lock and one
    worker thread. Link settings (connect timeout, encoding, serial settings) are those of
    the first call for that link; reply timeouts are per branch.
    """

    def __init__(self) -> None:
        super().__init__(None, "")
        self._endpoints: Dict[Hashable, Endpoint] = {}
        self._lock = threading.Lock()

    @property
    def path(self) -> str:
        return ""

    def _endpoint(self, key: Hashable, make: Callable[[], Endpoint]) -> Any:
        with self._lock:
            if key not in self._endpoints:
                self._endpoints[key] = make()
            return self._endpoints[key]

    @property
    def endpoints(self) -> list:
        """The endpoints created so far."""
        with self._lock:
            return list(self._endpoints.values())

    def tcp(self, host: str, port: int, timeout: float | None = None,
            connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
            encoding: str = "ascii") -> StreamNode:
        """A TCP link (``tcp://host:port``).

        Args:
            timeout: reply timeout in s for this branch (default 2 s).
            connect_timeout: seconds allowed to connect (``None``: OS default).
            encoding: text encoding.
        """
        endpoint = self._endpoint(("tcp", host, int(port)), lambda: StreamEndpoint(
            TcpStream(host, port), connect_timeout=connect_timeout,
            reply_timeout=DEFAULT_REPLY_TIMEOUT, encoding=encoding))
        return StreamNode(self, endpoint, timeout)

    ethernet = tcp

    def serial(self, port: str, baudrate: int = 9600, timeout: float | None = None,
               encoding: str = "ascii", **settings: Any) -> StreamNode:
        """A serial link: a device path or pyserial URL (``loop://``, ``socket://h:p``).

        Args:
            timeout: reply timeout in s for this branch (default 2 s).
            **settings: pyserial settings (``parity``, ``stopbits``, ``rtscts``...).
        """
        endpoint = self._endpoint(("serial", port), lambda: StreamEndpoint(
            SerialStream(port, baudrate, **settings), reply_timeout=DEFAULT_REPLY_TIMEOUT,
            encoding=encoding))
        return StreamNode(self, endpoint, timeout)

    def visa(self, resource: str, timeout: float | None = None, backend: str = "@py",
             connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
             encoding: str = "ascii", **attributes: Any) -> StreamNode:
        """A VISA resource through pyvisa (``"@py"``: pyvisa-py).

        Args:
            timeout: reply timeout in s for this branch (default 2 s).
            **attributes: VISA resource attributes set after opening.
        """
        endpoint = self._endpoint(("visa", resource), lambda: StreamEndpoint(
            VisaStream(resource, backend, **attributes), connect_timeout=connect_timeout,
            reply_timeout=DEFAULT_REPLY_TIMEOUT, encoding=encoding))
        return StreamNode(self, endpoint, timeout)

    def modbus(self, host: str, port: int = 502, unit: int = 1,
               timeout: float | None = None) -> ModbusNode:
        """A Modbus TCP device (``modbus://host:port/unit``); ``timeout`` (s) covers connecting
        and each response (default 2 s). See :class:`ModbusNode`."""
        endpoint = self._endpoint(("modbus", host, int(port), int(unit)), lambda: ModbusEndpoint(
            host, port, unit, DEFAULT_REPLY_TIMEOUT if timeout is None else timeout))
        return ModbusNode(self, endpoint)

    def http(self, base_url: str, timeout: float | None = DEFAULT_REPLY_TIMEOUT,
             proxy: str | None = None) -> HttpNode:
        """A web API at ``base_url``; ``timeout`` (s) covers connecting and the response.
        Requests go directly unless ``proxy`` (a proxy URL) is given; see :class:`HttpNode`."""
        endpoint = self._endpoint(("http", base_url.rstrip("/")),
                                  lambda: Endpoint(base_url.rstrip("/")))
        return HttpNode(self, endpoint, base_url, timeout, proxy)

    def shell(self, *argv: str, timeout: float | None = DEFAULT_REPLY_TIMEOUT) -> ShellNode:
        """A program (``argv[0]``) with arguments; calls to one program are serialised."""
        if not argv:
            raise ValueError("shell() needs a program")
        endpoint = self._endpoint(("shell", argv[0]), lambda: Endpoint(f"shell://{argv[0]}"))
        return ShellNode(self, endpoint, argv, timeout)

    @staticmethod
    def stop() -> None:  # type: ignore[override]
        """Global stop request: every node thread, ``wait()`` and ``sleep()`` ends."""
        request_global_stop()

    @staticmethod
    def is_stop_requested() -> bool:  # type: ignore[override]
        """True after a global stop request; callable on the class, as in
        ``while not ControlSystem.is_stop_requested(): ...``."""
        return global_stop_requested()

    @staticmethod
    def clear_stop() -> None:
        """Withdraw the global stop request."""
        clear_global_stop()

    def close(self) -> None:
        """Close every endpoint's link and worker (they reopen if used again)."""
        for endpoint in self.endpoints:
            endpoint.close()


__all__ = ["ControlSystem"]
