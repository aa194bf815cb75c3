"""Modbus TCP links through pymodbus: the one module that imports it (``pymodbus >= 3.10``,
whose calls take ``device_id=``); its errors become :class:`~iocgate.DeviceError` here."""

from __future__ import annotations

from typing import Any, Callable, List

from .._errors import DeviceDisconnected, DeviceProtocolError, DeviceRejected, DeviceTimeout
from ._base import DEFAULT_REPLY_TIMEOUT
from ._endpoint import Endpoint

_READS = {"coils": "read_coils", "discrete": "read_discrete_inputs",
          "holding": "read_holding_registers", "input": "read_input_registers"}


class ModbusEndpoint(Endpoint):
    """One Modbus TCP device (``host:port``, unit ``unit``): a pymodbus client opened on the
    first job and reopened after a failure.

    Args:
        timeout: seconds for connecting and for each response.
    """

    def __init__(self, host: str, port: int = 502, unit: int = 1,
                 timeout: float = DEFAULT_REPLY_TIMEOUT):
        super().__init__(f"modbus://{host}:{port}/{unit}")
        self.host, self.port, self.unit, self.timeout = host, int(port), int(unit), timeout
        self._client: Any = None

    def read(self, table: str, address: int, count: int) -> List[int]:
        """``count`` registers (or bits, as 0/1) of ``table`` from ``address``; run it
        through :meth:`run` so that it holds the endpoint lock.

        Raises:
            DeviceTimeout: no (valid) response within :attr:`timeout`.
            DeviceDisconnected: cannot connect, or the link broke.
            DeviceRejected: the device answered with a Modbus exception.
        """
        command = f"read {table} {address}+{count}"
        response = self._call(_READS[table], command, address, count=count)
        values = response.bits if table in ("coils", "discrete") else response.registers
        return [int(v) for v in values[:count]]

    def write(self, table: str, address: int, values: List[int]) -> None:
        """Write ``values`` to ``"holding"`` registers or ``"coils"`` from ``address``.

        Raises: as :meth:`read`.
        """
        command = f"write {table} {address} {values}"
        if table == "coils":
            for offset, bit in enumerate(values):
                self._call("write_coil", command, address + offset, bool(bit))
        else:
            self._call("write_registers", command, address, list(values))

    def _call(self, method: str, command: str, *args: Any, **kwargs: Any) -> Any:
        from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

        client = self._connect(command)
        call: Callable[..., Any] = getattr(client, method)
        try:
            response = call(*args, device_id=self.unit, **kwargs)
        except ConnectionException as exc:
            self._drop()
            raise DeviceDisconnected(f"link lost: {exc}", endpoint=self.name,
                                     command=command) from exc
        except ModbusIOException as exc:
            self._drop()
            raise DeviceTimeout("no valid response", timeout=self.timeout, endpoint=self.name,
                                command=command) from exc
        except ModbusException as exc:
            self._drop()
            raise DeviceProtocolError(f"bad response: {exc}", endpoint=self.name,
                                      command=command) from exc
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise DeviceRejected(f"Modbus exception {code}", endpoint=self.name,
                                 command=command)
        return response

    def _connect(self, command: str) -> Any:
        if self._client is None:
            from pymodbus.client import ModbusTcpClient

            client = ModbusTcpClient(self.host, port=self.port, timeout=self.timeout,
                                     retries=0)
            if not client.connect():
                client.close()
                raise DeviceDisconnected("cannot connect", endpoint=self.name, command=command)
            self._client = client
        return self._client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def close(self) -> None:
        """Close the connection and stop the worker (both reopen if used again)."""
        with self._lock:
            self._drop()
        super().close()
