"""Fixtures for the CA server conformance suite.

A test that takes the ``server`` fixture runs once per server kind (``iocgate``, ``caproto``,
``softioc``); ``@pytest.mark.servers("iocgate", "softioc", caproto_xfail="why")`` narrows the
kinds and marks caproto as a strict expected failure. Servers are shared per session and
restarted if a test killed one, so a crash fails that test only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rawca  # noqa: E402
from servers_under_test import (  # noqa: E402
    IOCGATE_VARIANTS,
    KINDS,
    ServerProcess,
    iocgate_missing,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "servers(*kinds, caproto_xfail=None): server kinds a test runs against")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "server" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("servers")
    kinds = list((marker.args or KINDS) if marker else KINDS)
    if "iocgate" in kinds:  # the same conformance checks on every async back-end
        kinds += IOCGATE_VARIANTS
    reason = marker.kwargs.get("caproto_xfail") if marker else None
    params = []
    for kind in kinds:
        marks = []
        if kind == "caproto" and reason:
            marks.append(pytest.mark.xfail(strict=True, reason=f"caproto: {reason}"))
        params.append(pytest.param(kind, marks=marks, id=kind))
    metafunc.parametrize("server", params, indirect=True)


class _Pool:
    """One running server per kind, restarted when found dead or deaf."""

    def __init__(self) -> None:
        self.running: Dict[str, ServerProcess] = {}

    def get(self, kind: str) -> ServerProcess:
        server = self.running.get(kind)
        if server is not None and not server.answers():
            server.stop()
            server = None
        if server is None:
            server = self.running[kind] = ServerProcess(kind)
        return server

    def close(self) -> None:
        for server in self.running.values():
            server.stop()


@pytest.fixture(scope="session")
def server_pool() -> Iterator[_Pool]:
    pool = _Pool()
    yield pool
    pool.close()


@pytest.fixture
def server(request: pytest.FixtureRequest, server_pool: _Pool) -> ServerProcess:
    """A running server of the parametrised kind (shared across tests)."""
    require(request.param)
    return server_pool.get(request.param)


def require(kind: str) -> None:
    """Fail if ``kind`` cannot run (iocgate's server is part of the package: never skipped)."""
    missing = iocgate_missing() if kind.startswith("iocgate") else None
    if missing:
        pytest.fail(missing)


@pytest.fixture
def fresh_server() -> Iterator[Callable[[str], ServerProcess]]:
    """``fresh_server(kind, **options)``: a server of its own for a destructive test (options
    as for :class:`ServerProcess`), stopped after."""
    started: List[ServerProcess] = []

    def start(kind: str, **options) -> ServerProcess:
        require(kind)
        started.append(ServerProcess(kind, **options))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def circuit(server: ServerProcess) -> Iterator[rawca.Circuit]:
    """A raw TCP circuit to ``server``, handshake done."""
    with rawca.Circuit(server.port) as circ:
        yield circ


def assert_serving(server: ServerProcess) -> None:
    """A second, fresh client still gets correct answers from ``server``."""
    assert server.alive(), f"{server} died: {server.output()[-2000:]}"
    with rawca.Circuit(server.port) as other:
        chan = other.create_channel(server.pv("WF10"))
        _, values = other.get(chan)
        assert list(values) == [float(i) for i in range(10)]
        other.echo()


@pytest.fixture
def check_serving():
    """``check_serving(server)``: assert a second client is served correctly."""
    return assert_serving


@pytest.fixture
def xfail_on(request: pytest.FixtureRequest):
    """``xfail_on(server, kind, reason)``: a strict expected failure when ``server`` is of
    ``kind`` (for one case of a parametrised test)."""

    def mark(server: ServerProcess, kind: str, reason: str) -> None:
        if server.kind == kind:
            request.node.add_marker(pytest.mark.xfail(strict=True, reason=f"{kind}: {reason}"))

    return mark
