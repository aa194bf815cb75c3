"""Endpoint policy: serialised jobs, timeouts with resynchronisation, reconnection, backoff."""

from __future__ import annotations

import threading
import time

import pytest

from iocgate import DeviceDisconnected, DeviceLinkDown, DeviceTimeout
from iocgate.transports import SerialStream, StreamEndpoint, TcpStream, Worker


@pytest.fixture
def endpoint(sim):
    ep = StreamEndpoint(TcpStream("127.0.0.1", sim.port), reply_timeout=0.3,
                        connect_timeout=1.0, backoff=(0.1, 0.4))
    yield ep
    ep.close()


@pytest.fixture
def pty_endpoint(pty_sim):
    """``(simulator, endpoint)`` for a serial line (a pty) with a 0.2 s reply timeout."""
    simulator, link = pty_sim
    endpoint = StreamEndpoint(SerialStream(link), reply_timeout=0.2)
    yield simulator, endpoint
    endpoint.close()


CRLF = {"write_termination": "\r\n", "read_termination": "\r\n"}


def query(endpoint: StreamEndpoint, text: str, **kw) -> str:
    return endpoint.run(lambda session: session.query(text, **kw))


def wait_until(predicate, timeout: float, step: float = 0.01):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(step)


def test_timeout_names_endpoint_command_and_seconds(sim, endpoint):
    sim.faults.withhold = True
    start = time.monotonic()
    with pytest.raises(DeviceTimeout) as info:
        query(endpoint, "ECHO lost")
    elapsed = time.monotonic() - start
    assert 0.25 < elapsed < 1.0
    error = info.value
    assert (error.endpoint, error.command, error.timeout) == (endpoint.name, "ECHO lost", 0.3)
    assert "0.3 s" in str(error) and endpoint.name in str(error)
    assert isinstance(error, TimeoutError)


def test_timeout_shows_an_incomplete_reply(sim, endpoint):
    # a reply with another terminator than expected: the message shows what did arrive
    with pytest.raises(DeviceTimeout, match=r"incomplete reply b'seen\\n' within 0.3 s"):
        query(endpoint, "ECHO seen", read_termination="\r\n")


def test_late_reply_is_never_read_as_the_next_answer(sim, endpoint):
    sim.faults.delay = 0.5
    with pytest.raises(DeviceTimeout):
        query(endpoint, "ECHO stale")
    sim.faults.clear()
    assert query(endpoint, "ECHO fresh") == "fresh"
    time.sleep(0.4)  # past the moment the stale reply would have been sent
    assert query(endpoint, "ECHO fresh2") == "fresh2"


def test_late_reply_on_a_serial_line_is_discarded(pty_endpoint):
    # On a serial line the device answers the timed-out command before the next one, and
    # reopening the port does not lose that answer: the endpoint must skip it.
    simulator, endpoint = pty_endpoint
    simulator.faults.delay = 0.3
    with pytest.raises(DeviceTimeout):
        query(endpoint, "ECHO stale", **CRLF)
    simulator.faults.clear()
    assert query(endpoint, "ECHO fresh", **CRLF) == "fresh"
    assert query(endpoint, "ECHO fresh2", **CRLF) == "fresh2"


def test_no_wait_for_a_late_reply_after_a_socket_url_timeout(sim):
    # regression: a serial socket:// URL was treated like a serial line, so the call after a
    # timeout first waited a whole reply timeout for a late reply the new connection never sees
    endpoint = StreamEndpoint(SerialStream(f"socket://127.0.0.1:{sim.port}"), reply_timeout=0.5)
    try:
        sim.faults.withhold = True
        with pytest.raises(DeviceTimeout):
            query(endpoint, "ECHO lost")
        sim.faults.withhold = False
        start = time.monotonic()
        assert query(endpoint, "ECHO next") == "next"
        assert time.monotonic() - start < 0.25
    finally:
        endpoint.close()


def test_drop_gives_disconnected_and_next_call_reconnects(sim, endpoint):
    assert query(endpoint, "ECHO 1") == "1"
    sim.faults.drop_connections()
    with pytest.raises(DeviceDisconnected) as info:
        query(endpoint, "ECHO 2")
    assert info.value.endpoint == endpoint.name and isinstance(info.value, ConnectionError)
    assert not endpoint.connected
    assert query(endpoint, "ECHO 3") == "3"


def test_refusing_device_gives_disconnected(sim, endpoint):
    sim.faults.refuse = True
    with pytest.raises(DeviceDisconnected):
        query(endpoint, "ECHO x")


def query_until_up(endpoint: StreamEndpoint, text: str, timeout: float = 2.0, **kw) -> str:
    """Ask like a scan would: calls inside the backoff window fail fast, so keep asking."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return query(endpoint, text, **kw)
        except DeviceDisconnected:
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_restarted_simulator_is_reconnected(sim, endpoint):
    assert query(endpoint, "ECHO before") == "before"
    sim.stop()
    with pytest.raises(DeviceDisconnected):
        query(endpoint, "ECHO during")
    with pytest.raises(DeviceDisconnected):
        query(endpoint, "ECHO during")
    sim.restart()  # same port
    assert query_until_up(endpoint, "ECHO after") == "after"
    sim.restart()  # while connected: the link drops, the next calls reconnect
    assert query_until_up(endpoint, "ECHO again") == "again"


def test_restarted_pty_simulator_is_reopened(pty_endpoint):
    simulator, endpoint = pty_endpoint
    assert query(endpoint, "ECHO before", **CRLF) == "before"
    simulator.restart()  # a new pseudo-terminal behind the same link path
    assert query_until_up(endpoint, "ECHO after", **CRLF) == "after"


def test_backoff_is_capped_and_prevents_an_attempt_storm(sim, endpoint):
    sim.stop()
    attempts, fast_fails = 0, 0
    waits = []
    end = time.monotonic() + 1.2
    while time.monotonic() < end:
        try:
            query(endpoint, "ECHO x")
        except DeviceLinkDown as exc:
            assert "link down, next attempt in" in str(exc) and exc.retry_in > 0
            fast_fails += 1
        except DeviceDisconnected as exc:
            assert "cannot connect" in str(exc)
            attempts += 1
            waits.append(round(endpoint.next_attempt_in, 1))
        time.sleep(0.005)
    # attempts at about 0, 0.1, 0.3, 0.7, 1.1 s: doubling 0.1 -> 0.2 -> 0.4, capped at 0.4
    assert 4 <= attempts <= 6, attempts
    assert waits[:4] == [0.1, 0.2, 0.4, 0.4]
    assert fast_fails > 50


def test_twenty_threads_each_get_their_own_reply(sim, endpoint):
    errors = []

    def client(n: int) -> None:
        for i in range(15):
            text = f"t{n}-{i}"
            reply = query(endpoint, f"ECHO {text}")
            if reply != text:
                errors.append((text, reply))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(sim.received) == 300


def test_submitted_jobs_run_on_the_worker_and_may_nest(endpoint):
    seen = []

    def outer(session):
        seen.append(threading.current_thread().name)
        return endpoint.run(lambda s: s.query("ECHO nested"))  # the lock is re-entrant

    assert endpoint.submit(outer).result(2) == "nested"
    assert endpoint.run(outer) == "nested"
    assert seen == [f"iocgate {endpoint.name}", threading.current_thread().name]


def test_sync_and_worker_jobs_never_interleave(sim, endpoint):
    sim.faults.delay = 0.05
    futures = [endpoint.submit(lambda s, i=i: s.query(f"ECHO w{i}")) for i in range(5)]
    assert [query(endpoint, f"ECHO s{i}") for i in range(5)] == [f"s{i}" for i in range(5)]
    assert [f.result(5) for f in futures] == [f"w{i}" for i in range(5)]


def test_a_cancelled_job_that_has_not_started_never_runs(sim, endpoint):
    sim.faults.delay = 0.2
    first = endpoint.submit(lambda s: s.query("ECHO first"))
    second = endpoint.submit(lambda s: s.query("ECHO second"))
    assert second.cancel()
    assert first.result(2) == "first"
    assert sim.received == ["ECHO first"]


def test_idle_worker_thread_exits_and_restarts():
    worker = Worker("idle-test")
    worker.idle_exit = 0.05
    assert worker.submit(lambda: 1).result(2) == 1
    assert worker.alive
    wait_until(lambda: not worker.alive, 2.0)
    assert worker.submit(lambda x: x, 2).result(2) == 2
    worker.stop()
    assert not worker.alive
    assert worker.submit(lambda: 3).result(2) == 3
    worker.stop()
