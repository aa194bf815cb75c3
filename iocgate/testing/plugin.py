"""pytest plugin (entry point ``iocgate``): loopback-only EPICS settings and port fixtures.

Loaded automatically once iocgate is installed, it changes nothing by itself: the EPICS
environment is set only inside iocgate's own fixtures (:func:`ca_env` and those built on it),
for the test that uses them, so an unrelated project's test run keeps its environment. A
project that wants the whole session on loopback (iocgate's own suite does) sets the ini
option ``iocgate_loopback_session = true``: then every CA client and server of the test
process is pointed at 127.0.0.1 at start-up. Either way a private CA repeater is started
(see ``_repeater``) when first needed, so that no client spawns a stray ``caRepeater`` that
keeps a captured pipe open.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from ._environment import LOOPBACK, free_port, loopback_env
from ._ioc import RunningIOC, start_ioc
from ._repeater import RunningRepeater, start_repeater

_LOOPBACK_ONLY = {
    "EPICS_CA_AUTO_ADDR_LIST": "NO",
    "EPICS_CA_ADDR_LIST": LOOPBACK,
    "EPICS_CAS_INTF_ADDR_LIST": LOOPBACK,
    "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
    "EPICS_CAS_BEACON_ADDR_LIST": LOOPBACK,
}
_SESSION_OPTION = "iocgate_loopback_session"
_REPEATER = pytest.StashKey[Optional[RunningRepeater]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(_SESSION_OPTION, type="bool", default=False,
                  help="iocgate: point the whole test session's EPICS environment at "
                       "127.0.0.1 (default: only inside iocgate's fixtures)")
    group = parser.getgroup("iocgate", "contract tests against real hardware "
                                       "(iocgate.testing.contract_tests)")
    group.addoption("--host", dest="iocgate_host", help="instrument host (TCP)")
    group.addoption("--port", dest="iocgate_port", type=int, help="instrument TCP port")
    group.addoption("--serial", dest="iocgate_serial", help="instrument serial port")
    group.addoption("--resource", dest="iocgate_resource", help="instrument VISA resource")
    group.addoption("--url", dest="iocgate_url", help="base URL of the instrument's web API")
    group.addoption("--allow-writes", dest="iocgate_allow_writes", action="store_true",
                    help="let contract tests put to real hardware (default: read-only)")


def _start_repeater(config: pytest.Config) -> Optional[RunningRepeater]:
    try:
        repeater = start_repeater()
    except (OSError, RuntimeError) as exc:  # tests still run; captured libca clients may hang
        warnings.warn(f"iocgate: no private CA repeater for this session: {exc}", stacklevel=1)
        return None
    config.add_cleanup(repeater.stop)
    return repeater


def pytest_configure(config: pytest.Config) -> None:
    if not config.getini(_SESSION_OPTION):
        return
    os.environ.update(_LOOPBACK_ONLY)
    repeater = _start_repeater(config)
    config.stash[_REPEATER] = repeater
    if repeater is not None:
        os.environ.update(repeater.env)


@pytest.fixture(scope="session")
def ca_repeater_env(pytestconfig: pytest.Config) -> Dict[str, str]:
    """The variables pointing CA clients and servers at the session's private repeater
    (started on first use; empty if it could not start)."""
    if _REPEATER not in pytestconfig.stash:
        pytestconfig.stash[_REPEATER] = _start_repeater(pytestconfig)
    repeater = pytestconfig.stash[_REPEATER]
    return {} if repeater is None else dict(repeater.env)


@pytest.fixture
def ca_port() -> int:
    """A CA server port (TCP and UDP) free on 127.0.0.1, distinct per test."""
    return free_port()


@pytest.fixture
def ca_env(ca_port: int, ca_repeater_env: Dict[str, str],
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Dict[str, str]]:
    """Loopback EPICS variables for ``ca_port`` (and the session's repeater), applied to
    ``os.environ`` for this test only and returned for passing to child processes."""
    env = {**ca_repeater_env, **loopback_env(ca_port)}
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
