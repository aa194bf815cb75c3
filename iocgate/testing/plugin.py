"""pytest plugin (entry point ``iocgate``): loopback-only EPICS settings and port fixtures.

Loaded automatically once iocgate is installed. At start-up it points every CA client and
server in the test process at 127.0.0.1 only, so no test ever searches or beacons elsewhere,
and starts a private CA repeater on a free port for the session (see ``_repeater``), so that
no client spawns a stray ``caRepeater`` that keeps a captured pipe open.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Dict, Iterator, List

import pytest

from ._environment import LOOPBACK, free_port, loopback_env
from ._ioc import RunningIOC, start_ioc
from ._repeater import start_repeater

_LOOPBACK_ONLY = {
    "EPICS_CA_AUTO_ADDR_LIST": "NO",
    "EPICS_CA_ADDR_LIST": LOOPBACK,
    "EPICS_CAS_INTF_ADDR_LIST": LOOPBACK,
    "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
    "EPICS_CAS_BEACON_ADDR_LIST": LOOPBACK,
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("iocgate", "contract tests against real hardware "
                                       "(iocgate.testing.contract_tests)")
    group.addoption("--host", dest="iocgate_host", help="instrument host (TCP)")
    group.addoption("--port", dest="iocgate_port", type=int, help="instrument TCP port")
    group.addoption("--serial", dest="iocgate_serial", help="instrument serial port")
    group.addoption("--resource", dest="iocgate_resource", help="instrument VISA resource")
    group.addoption("--allow-writes", dest="iocgate_allow_writes", action="store_true",
                    help="let contract tests put to real hardware (default: read-only)")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.update(_LOOPBACK_ONLY)
    try:
        repeater = start_repeater()
    except (OSError, RuntimeError) as exc:  # tests still run; captured libca clients may hang
        warnings.warn(f"iocgate: no private CA repeater for this session: {exc}", stacklevel=1)
        return
    os.environ.update(repeater.env)
    config.add_cleanup(repeater.stop)


@pytest.fixture
def ca_port() -> int:
    """A CA server port (TCP and UDP) free on 127.0.0.1, distinct per test."""
    return free_port()


@pytest.fixture
def ca_env(ca_port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dict[str, str]]:
    """Loopback EPICS variables for ``ca_port``, applied to ``os.environ`` for this test and
    returned for passing to child processes."""
    env = loopback_env(ca_port)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env


@pytest.fixture
def ioc_factory(ca_env: Dict[str, str], ca_port: int) -> Iterator[Callable[..., RunningIOC]]:
    """``start(IOCClass, **kwargs) -> RunningIOC``: serve an IOC in-process on ``ca_port``,
    on its simulator when it has a device; everything started is stopped after the test.

    The returned object has ``.client`` (caproto threading Context), ``.get/.put/.value``
    by PV suffix, ``.simulation.handle`` (``.faults`` for fault injection, ``.model``)."""
    started: List[RunningIOC] = []

    def start(ioc_class: type, **kwargs: Any) -> RunningIOC:
        ioc = start_ioc(ioc_class, ca_port, **kwargs)
        started.append(ioc)
        return ioc

    yield start
    for ioc in reversed(started):
        ioc.stop()
