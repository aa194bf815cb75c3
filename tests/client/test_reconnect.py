"""Connection callbacks across a server restart (own softIoc, port and client context)."""

from __future__ import annotations

import signal
import threading

from iocgate.client import PV
from iocgate.client._core import Context
from iocgate.testing import epics_tool

from .conftest import HERE, SOFTIOC_READY, start_ioc, stop_ioc


def test_disconnect_and_reconnect_callbacks(ca_port, ca_env, tmp_path):
    args = [str(epics_tool("softIoc")), "-S", "-m", "P=RC:", "-d", str(HERE / "client_test.db")]
    states = []
    changed = threading.Condition()

    def on_connection(pvname=None, conn=None, pv=None):
        with changed:
            states.append(conn)
            changed.notify_all()

    def wait_states(expected):
        with changed:
            assert changed.wait_for(lambda: states == expected, timeout=30), states

    ioc = start_ioc(args, ca_port, SOFTIOC_READY, tmp_path / "first.log")
    context = Context()  # reads the per-test port from ca_env
    try:
        pv = PV("RC:ao", connection_callback=on_connection, context=context)
        pv.wait_for_connection(timeout=30)
        wait_states([True])
        assert pv.get() == 1.25
        stop_ioc(ioc)
        wait_states([True, False])
        assert not pv.connected
        ioc = start_ioc(args, ca_port, SOFTIOC_READY, tmp_path / "second.log")
        wait_states([True, False, True])  # caproto's search back-off: up to ~8 s
        assert pv.wait_for_connection(timeout=30) and pv.get(use_monitor=False) == 1.25
        assert pv.units == "V"
    finally:
        context.close()
        stop_ioc(ioc)


def test_frozen_server_is_dropped_after_an_unanswered_echo(ca_port, ca_env, tmp_path):
    # a server that stops answering (SIGSTOP: the TCP connection stays open) is probed with
    # ECHO after EPICS_CA_CONN_TMO seconds of silence and dropped when the echo goes
    # unanswered as long; once it runs again the channel reconnects
    args = [str(epics_tool("softIoc")), "-S", "-m", "P=FZ:", "-d", str(HERE / "client_test.db")]
    states = []
    changed = threading.Condition()

    def on_connection(pvname=None, conn=None, pv=None):
        with changed:
            states.append(conn)
            changed.notify_all()

    ioc = start_ioc(args, ca_port, SOFTIOC_READY, tmp_path / "ioc.log")
    context = Context({**ca_env, "EPICS_CA_CONN_TMO": "0.5"})
    try:
        pv = PV("FZ:ao", connection_callback=on_connection, context=context)
        pv.wait_for_connection(timeout=30)
        ioc.send_signal(signal.SIGSTOP)
        with changed:
            assert changed.wait_for(lambda: states == [True, False], timeout=30), states
        ioc.send_signal(signal.SIGCONT)
        with changed:
            assert changed.wait_for(lambda: states == [True, False, True], timeout=30), states
        assert pv.get(use_monitor=False) == 1.25
    finally:
        ioc.send_signal(signal.SIGCONT)
        context.close()
        stop_ioc(ioc)
