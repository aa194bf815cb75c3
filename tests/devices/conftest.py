"""Helpers for the simulator tests: line clients over real loopback sockets and ptys."""

from __future__ import annotations

import socket
import time
from typing import Callable, Iterator, List

import pytest

TIMEOUT = 5.0  # s, upper bound for anything that should happen promptly


class LineClient:
    """A blocking TCP client speaking terminated lines to a simulator."""

    def __init__(self, port: int, terminator: bytes = b"\n", timeout: float = TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.terminator = terminator
        self._buffer = b""

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode("ascii") + self.terminator)

    def read_raw_line(self, timeout: float = TIMEOUT) -> bytes:
        """Next line without terminator; raises socket.timeout, or EOFError on close."""
        self.sock.settimeout(timeout)
        while self.terminator not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("connection closed by the simulator")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(self.terminator, 1)
        return line

    def query(self, line: str, timeout: float = TIMEOUT) -> str:
        self.send(line)
        return self.read_raw_line(timeout).decode("ascii")

    def close(self) -> None:
        self.sock.close()


def wait_until(predicate: Callable[[], object], timeout: float = TIMEOUT,
               interval: float = 0.01) -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


@pytest.fixture
def connect() -> Iterator[Callable[..., LineClient]]:
    """Factory for :class:`LineClient` objects, all closed after the test."""
    clients: List[LineClient] = []

    def make(port: int, terminator: bytes = b"\n", timeout: float = TIMEOUT) -> LineClient:
        client = LineClient(port, terminator, timeout)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


class FakeClock:
    """A settable clock in seconds for the simulators' lazy physics."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., None]:
    return wait_until
