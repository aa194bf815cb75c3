"""Connection callbacks across a server restart and a frozen server (own softIoc, port and
client context each)."""

from __future__ import annotations

import signal
import threading
from typing import List

from iocgate.client import PV
from iocgate.client._core import Context
from iocgate.testing import epics_tool

from .conftest import HERE, SOFTIOC_READY, start_ioc, stop_ioc


def softioc_args(prefix: str) -> List[str]:
    return [str(epics_tool("softIoc")), "-S", "-m", f"P={prefix}", "-d",
            str(HERE / "client_test.db")]


class ConnectionLog:
    """A connection callback recording every state, and a wait for a given history."""

    def __init__(self) -> None:
        self.states: List[bool] = []
        self._changed = threading.Condition()

    def __call__(self, pvname=None, conn=None, pv=None) -> None:
        with self._changed:
            self.states.append(conn)
            self._changed.notify_all()

    def wait(self, expected: List[bool]) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.states == expected, timeout=30), (
                self.states)


def test_disconnect_and_reconnect_callbacks(ca_port, ca_env, tmp_path):
    # the restarted server's first beacons (relayed by the session's repeater) restart the
    # search at once: see benchmarks/client_lifecycle.py for the seconds it takes
    log = ConnectionLog()
    ioc = start_ioc(softioc_args("RC:"), ca_port, SOFTIOC_READY, tmp_path / "first.log")
    context = Context()  # reads the per-test port from ca_env
    try:
        pv = PV("RC:ao", connection_callback=log, context=context)
        pv.wait_for_connection(timeout=30)
        log.wait([True])
        assert pv.get() == 1.25
        stop_ioc(ioc)
        log.wait([True, False])
        assert not pv.connected
        ioc = start_ioc(softioc_args("RC:"), ca_port, SOFTIOC_READY, tmp_path / "second.log")
        log.wait([True, False, True])
        assert pv.wait_for_connection(timeout=30) and pv.get(use_monitor=False) == 1.25
        assert pv.units == "V"
    finally:
        context.close()
        stop_ioc(ioc)


def test_frozen_server_is_dropped_after_an_unanswered_echo(ca_port, ca_env, tmp_path):
    # a server that stops answering (SIGSTOP: the TCP connection stays open) is probed with
    # ECHO after EPICS_CA_CONN_TMO seconds of silence and dropped when the echo goes
    # unanswered as long; once it runs again the channel reconnects
    log = ConnectionLog()
    ioc = start_ioc(softioc_args("FZ:"), ca_port, SOFTIOC_READY, tmp_path / "ioc.log")
    context = Context({**ca_env, "EPICS_CA_CONN_TMO": "0.5"})
    try:
        pv = PV("FZ:ao", connection_callback=log, context=context)
        pv.wait_for_connection(timeout=30)
        ioc.send_signal(signal.SIGSTOP)
        log.wait([True, False])
        ioc.send_signal(signal.SIGCONT)
        log.wait([True, False, True])
        assert pv.get(use_monitor=False) == 1.25
    finally:
        ioc.send_signal(signal.SIGCONT)
        context.close()
        stop_ioc(ioc)
