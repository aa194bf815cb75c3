"""Endpoints: one per physical instrument link, shared by every node that talks to it.

An endpoint owns one lock, a :class:`~iocgate.transports._worker.Worker` thread and (for
stream links) the connection. Every job holds the lock while it runs, so a query and its
reply are never interleaved with another caller's. Synchronous callers (:meth:`Endpoint.run`)
take the lock in their own thread, waiting while the link is busy; asynchronous callers hand
the job to the worker (:meth:`Endpoint.submit`) and await its future, so an event loop never
blocks. The lock is re-entrant: a job may run further jobs on the same endpoint.

Connection policy:

* the connection is opened lazily by the first job and kept;
* a lost link raises :class:`~iocgate.DeviceDisconnected` in the job that notices it; the NEXT
  job reconnects;
* failed connection attempts are spaced with capped exponential backoff (0.1 s doubling to
  5 s by default); a job arriving before the next attempt is due fails at once with
  ``DeviceDisconnected`` instead of hammering the instrument;
* a reply timeout drops the connection, so a late reply can never be read as the answer to
  the next query (the next job reconnects at once, without backoff). On links where a late
  reply survives reopening (serial lines), the next job first waits up to one reply timeout
  for the late reply and discards it.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any, Callable, TypeVar

from .._errors import DeviceDisconnected, DeviceProtocolError, DeviceRejected, DeviceTimeout
from ._base import DEFAULT_CONNECT_TIMEOUT, DEFAULT_REPLY_TIMEOUT, ByteStream
from ._session import Session
from ._worker import Worker

T = TypeVar("T")


class Endpoint:
    """One instrument link without a persistent connection (HTTP, shell): a lock that
    serialises its jobs and a worker thread for async callers.

    Attributes:
        name: where the instrument is, e.g. ``http://127.0.0.1:8000``.
    """

    def __init__(self, name: str):
        self.name = name
        self._worker = Worker(name)
        self._lock = threading.RLock()
        self._ok = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} connected={self.connected}>"

    @property
    def connected(self) -> bool:
        """Whether the last job reached the instrument."""
        return self._ok

    def submit(self, job: Callable[..., T], *args: Any) -> concurrent.futures.Future:
        """Queue :meth:`run` of ``job(*args)`` on the worker; cancelling the future before
        the worker starts it means it never runs."""
        return self._worker.submit(self.run, job, *args)

    def submit_call(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future:
        """Queue plain ``fn(*args)`` on the worker; the jobs ``fn`` does with :meth:`run` take
        the lock there. Used to move a whole node operation off an event loop."""
        return self._worker.submit(fn, *args)

    def run(self, job: Callable[..., T], *args: Any) -> T:
        """Run ``job(*args)`` in this thread while holding the endpoint lock."""
        with self._lock:
            return self._run_job(job, args)

    def _run_job(self, job: Callable[..., T], args: tuple) -> T:
        try:
            result = job(*args)
        except DeviceDisconnected:
            self._ok = False
            raise
        self._ok = True
        return result

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
        super().__init__(stream.name)
        self.stream = stream
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.encoding = encoding
        self.backoff = backoff
        self._session: Session | None = None
        self._failures = 0
        self._next_attempt = 0.0
        self._late_reply_wait = 0.0  # s to wait for a timed-out reply before the next job

    @property
    def connected(self) -> bool:
        """Whether the link is open now (it may still turn out broken on the next I/O)."""
        return self._session is not None

    @property
    def next_attempt_in(self) -> float:
        """Seconds until the next connection attempt is allowed (0 when one may go now)."""
        return max(0.0, self._next_attempt - time.monotonic())

    def _connect(self) -> Session:
        if self._session is not None:
            return self._session
        wait = self.next_attempt_in
        if wait > 0:
            raise DeviceDisconnected(f"link down; next connection attempt in {wait:.2f} s",
                                     endpoint=self.name)
        try:
            self.stream.open(self.connect_timeout)
        except DeviceDisconnected:
            first, cap = self.backoff
            self._next_attempt = time.monotonic() + min(cap, first * 2 ** self._failures)
            self._failures += 1
            raise
        self._failures = 0
        self._next_attempt = 0.0
        self._session = Session(self.stream, encoding=self.encoding,
                                reply_timeout=self.reply_timeout)
        return self._session

    def _run_job(self, job: Callable[..., T], args: tuple) -> T:
        session = self._connect()
        try:
            if self._late_reply_wait:
                wait, self._late_reply_wait = self._late_reply_wait, 0.0
                session.discard_late_reply(wait)
            return job(session, *args)
        except (DeviceProtocolError, DeviceRejected):
            raise  # raised after a complete reply: the link is still in step
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
