"""Endpoints: one per physical instrument link, shared by every node that talks to it.

An endpoint owns one lock, a :class:`~iocgate.transports._worker.Worker` thread and (for
stream links) the connection. Every job holds the lock while it runs, so a query and its
reply are never interleaved with another caller's. Synchronous callers (:meth:`Endpoint.run`)
take the lock in their own thread, waiting while the link is busy; asynchronous callers hand
the job to the worker (:meth:`Endpoint.submit`) and await its future, so an event loop never
blocks. The lock is re-entrant: a job may run further jobs on the same endpoint.

Link state: a job that times out or loses the link marks the endpoint *down*, and the next
attempt is spaced with capped exponential backoff (0.1 s doubling to 5 s by default); the
first job that completes (even with a refused command) marks it up again. While down:

* batched reads (:func:`iocgate.nodes.read_many`) send nothing until the next attempt is
  due, then one probe; puts (:meth:`Endpoint.submit_put`) are refused at once with
  :class:`~iocgate.DeviceLinkDown` and never sent later;
* a stream link whose *connection attempt* failed refuses every job with
  ``DeviceLinkDown`` until the next attempt is due, instead of hammering the instrument;
  after a reply timeout or a lost link, single jobs may still try at once (the next job
  reconnects).

Connection policy (stream links): the connection is opened lazily by the first job and
kept; a lost link raises :class:`~iocgate.DeviceDisconnected` in the job that notices it; a
reply timeout drops the connection, so a late reply can never be read as the answer to the
next query. On links where a late reply survives reopening (serial lines), the next job first
waits up to one reply timeout for the late reply and discards it.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any, Callable, Hashable, TypeVar

from .._errors import (
    DeviceDisconnected,
    DeviceError,
    DeviceLinkDown,
    DeviceProtocolError,
    DeviceRejected,
    DeviceTimeout,
)
from ._base import DEFAULT_CONNECT_TIMEOUT, DEFAULT_REPLY_TIMEOUT, ByteStream
from ._session import Session
from ._worker import Worker

T = TypeVar("T")


class Endpoint:
    """One instrument link without a persistent connection (HTTP, shell): a lock that
    serialises its jobs, a worker thread for async callers, and the link state.

    Args:
        name: where the instrument is, e.g. ``http://127.0.0.1:8000``.
        backoff: ``(first, cap)`` seconds between attempts while the link is down.
    """

    def __init__(self, name: str, backoff: tuple = (0.1, 5.0)):
        self.name = name
        self.backoff = backoff
        self._worker = Worker(name)
        self._lock = threading.RLock()
        self._down: DeviceError | None = None
        self._failures = 0
        self._next_attempt = 0.0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} connected={self.connected}>"

    @property
    def connected(self) -> bool:
        """Whether the last job reached the instrument."""
        return self._down is None

    @property
    def link_up(self) -> bool:
        """False from a timeout or lost link until a job completes again."""
        return self._down is None

    @property
    def next_attempt_in(self) -> float:
        """Seconds until the next attempt is allowed while down (0 when one may go now)."""
        return max(0.0, self._next_attempt - time.monotonic())

    def link_error(self, command: str | None = None) -> DeviceLinkDown | None:
        """``None`` while the link is up; else the error that refuses a put now."""
        down = self._down
        if down is None:
            return None
        return DeviceLinkDown(down, self.next_attempt_in, endpoint=self.name, command=command)

    def attempt_due(self) -> bool:
        """Whether a job may go to the instrument now: the link is up, or the backoff step
        since its last failure has passed (that job is the probe)."""
        return self._down is None or self.next_attempt_in == 0

    def submit(self, job: Callable[..., T], *args: Any) -> concurrent.futures.Future:
        """Queue :meth:`run` of ``job(*args)`` on the worker; cancelling the future before
        the worker starts it means it never runs."""
        return self._worker.submit(self.run, job, *args)

    def submit_call(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future:
        """Queue plain ``fn(*args)`` on the worker; the jobs ``fn`` does with :meth:`run` take
        the lock there. Used to move a whole node operation off an event loop."""
        return self._worker.submit(fn, *args)

    def submit_put(self, key: Hashable, fn: Callable[..., T], *args: Any
                   ) -> concurrent.futures.Future:
        """Queue the write ``fn(*args)`` as an EPICS record would process a put.

        It runs before every queued ordinary job (a scan pass lets it in between two reads);
        a put with the same ``key`` queued and not started yet takes the new ``fn``/``args``
        instead (the newest value is written once, every caller's future gets its result).

        Raises:
            DeviceLinkDown: the link is down (at once); the same error is the future's if
                the link goes down before the put starts: it is never sent later.
        """
        error = self.link_error()
        if error is not None:
            raise error
        return self._worker.submit(self._put_now, fn, *args, urgent=True, key=key)

    def _put_now(self, fn: Callable[..., T], *args: Any) -> T:
        error = self.link_error()
        if error is not None:
            raise error
        return fn(*args)

    def run_urgent_jobs(self) -> None:
        """From inside a worker job: run the puts queued meanwhile, now (elsewhere a no-op)."""
        self._worker.run_urgent()

    def run(self, job: Callable[..., T], *args: Any) -> T:
        """Run ``job(*args)`` in this thread while holding the endpoint lock."""
        with self._lock:
            return self._run_job(job, args)

    def _run_job(self, job: Callable[..., T], args: tuple) -> T:
        try:
            result = self._exchange(job, args)
        except (DeviceTimeout, DeviceDisconnected) as exc:
            self._link_failed(exc)
            raise
        except (DeviceProtocolError, DeviceRejected):
            self._link_ok()  # the instrument answered
            raise
        self._link_ok()
        return result

    def _exchange(self, job: Callable[..., T], args: tuple) -> T:
        return job(*args)

    def _link_failed(self, error: DeviceError) -> None:
        if isinstance(error, DeviceLinkDown):
            return  # refused without an attempt: not a failure of its own
        first, cap = self.backoff
        self._next_attempt = time.monotonic() + min(cap, first * 2 ** min(self._failures, 32))
        self._failures += 1
        self._down = error

    def _link_ok(self) -> None:
        self._down = None
        self._failures = 0
        self._next_attempt = 0.0

    def close(self) -> None:
        """Stop the worker after the queued jobs; a later job starts it again."""
        self._worker.stop()


class StreamEndpoint(Endpoint):
    """An endpoint with a persistent byte-stream connection (TCP, serial, VISA).

    Jobs given to :meth:`run`/:meth:`submit` receive the connected
    :class:`~iocgate.transports.Session` as their first argument.

    Args:
        stream: the transport, not yet opened.
        connect_timeout: seconds allowed to open the link (``None``: no limit).
        reply_timeout: default seconds allowed for a reply.
        encoding: text encoding of commands and replies.
        backoff: ``(first, cap)`` seconds between failed connection attempts.
    """

    def __init__(self, stream: ByteStream, *, connect_timeout: float | None =
                 DEFAULT_CONNECT_TIMEOUT, reply_timeout: float = DEFAULT_REPLY_TIMEOUT,
                 encoding: str = "ascii", backoff: tuple = (0.1, 5.0)):
        super().__init__(stream.name, backoff)
        self.stream = stream
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.encoding = encoding
        self._session: Session | None = None
        self._open_failed = False
        self._late_reply_wait = 0.0  # s to wait for a timed-out reply before the next job

    @property
    def connected(self) -> bool:
        """Whether the link is open now (it may still turn out broken on the next I/O)."""
        return self._session is not None

    def _connect(self) -> Session:
        if self._session is not None:
            return self._session
        if self._open_failed:
            refused = self.link_error()
            if refused is not None and refused.retry_in > 0:
                raise refused
        try:
            self.stream.open(self.connect_timeout)
        except DeviceDisconnected:
            self._open_failed = True
            raise
        self._open_failed = False
        self._session = Session(self.stream, encoding=self.encoding,
                                reply_timeout=self.reply_timeout)
        return self._session

    def _exchange(self, job: Callable[..., T], args: tuple) -> T:
        session = self._connect()
        try:
            if self._late_reply_wait:
                wait, self._late_reply_wait = self._late_reply_wait, 0.0
                session.discard_late_reply(wait)
            return job(session, *args)
        except (DeviceProtocolError, DeviceRejected, DeviceLinkDown):
            raise  # raised after a complete reply (or by a nested refusal): still in step
        except DeviceTimeout as exc:
            # The reply may still be on its way: start afresh, and where reopening does not
            # leave it behind, wait as long again for it before the next command.
            self._drop()
            if self.stream.late_replies_survive_reopen:
                self._late_reply_wait = exc.timeout or self.reply_timeout
            raise
        except BaseException:
            # Link lost, or anything interrupting an exchange (a bug, KeyboardInterrupt).
            self._drop()
            raise

    def _drop(self) -> None:
        self._session = None
        self.stream.close()

    def disconnect(self) -> None:
        """Close the link (once the current job is done); the next job reconnects."""
        with self._lock:
            self._drop()

    def close(self) -> None:
        """Close the link and stop the worker; a later job reconnects and restarts it."""
        try:
            self.disconnect()
        finally:
            super().close()


__all__ = ["Endpoint", "StreamEndpoint"]
