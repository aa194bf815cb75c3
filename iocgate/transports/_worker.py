"""One worker thread per endpoint, running the jobs of async callers: urgent jobs (puts) first,
then the others in order."""

from __future__ import annotations

import collections
import concurrent.futures
import threading
from typing import Any, Callable, Deque, Dict, Hashable, List, Optional


class _Job:
    """A queued call and the futures of every caller waiting for it."""

    __slots__ = ("fn", "args", "futures", "key")

    def __init__(self, fn: Callable[..., Any], args: tuple, future: concurrent.futures.Future,
                 key: Optional[Hashable]):
        self.fn = fn
        self.args = args
        self.futures: List[concurrent.futures.Future] = [future]
        self.key = key

    def run(self) -> None:
        waiting = [future for future in self.futures if future.set_running_or_notify_cancel()]
        if not waiting:
            return  # every caller gave up before it started: it never runs
        try:
            result = self.fn(*self.args)
        except BaseException as exc:  # handed to the waiting callers
            for future in waiting:
                future.set_exception(exc)
        else:
            for future in waiting:
                future.set_result(result)


class Worker:
    """A daemon thread executing submitted callables one at a time, started on first use.

    Async callers hand their endpoint jobs to it so that their event loop never blocks.
    Urgent jobs (an IOC's puts) run before every ordinary job still queued, and a long
    ordinary job may let them run between its steps (:meth:`run_urgent`).
    """

    #: Seconds an idle worker thread lives on; the next job starts a new one.
    idle_exit = 30.0

    def __init__(self, name: str):
        self.name = name
        self._cond = threading.Condition()
        self._urgent: Deque[_Job] = collections.deque()
        self._normal: Deque[_Job] = collections.deque()
        self._queued_by_key: Dict[Hashable, _Job] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False

    def submit(self, fn: Callable[..., Any], *args: Any, urgent: bool = False,
               key: Optional[Hashable] = None) -> concurrent.futures.Future:
        """Queue ``fn(*args)``; the returned future carries its result or exception.

        Args:
            urgent: run it before every ordinary job still queued.
            key: (urgent jobs) if an urgent job with this key is queued and has not
                started, it takes ``fn``/``args`` instead of queueing a second one, and this
                caller's future gets its result too: queued writes of one setting coalesce,
                the newest value wins, and the queue never holds two jobs with one key.

        Cancelling the future before the job starts means it never runs for this caller.
        """
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._cond:
            queued = self._queued_by_key.get(key) if key is not None else None
            if queued is not None:
                queued.fn, queued.args = fn, args
                queued.futures.append(future)
                return future
            job = _Job(fn, args, future, key if urgent else None)
            (self._urgent if urgent else self._normal).append(job)
            if job.key is not None:
                self._queued_by_key[job.key] = job
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._serve, daemon=True,
                                                name=f"iocgate {self.name}")
                self._thread.start()
            self._cond.notify()
        return future

    def run_urgent(self) -> None:
        """Run the urgent jobs queued now, in this thread; only the worker thread itself
        does (from inside a job), elsewhere this does nothing."""
        if threading.current_thread() is not self._thread:
            return
        while True:
            with self._cond:
                job = self._take(self._urgent)
            if job is None:
                return
            job.run()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Let the thread finish the jobs already queued, then end; wait up to ``timeout`` s
        for that (unless called from the worker itself). A later submit starts a new thread.
        """
        with self._cond:
            thread = self._thread
            self._stopping = True
            self._cond.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether the worker thread is running now."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _take(self, queue: Deque[_Job]) -> Optional[_Job]:
        """Pop the next job of ``queue`` (under the condition's lock)."""
        if not queue:
            return None
        job = queue.popleft()
        if job.key is not None:
            del self._queued_by_key[job.key]
        return job

    def _serve(self) -> None:
        me = threading.current_thread()
        while True:
            with self._cond:
                job = self._take(self._urgent) or self._take(self._normal)
                if job is None:
                    if self._stopping or self._thread is not me:
                        if self._thread is me:
                            self._thread = None
                        return
                    if not self._cond.wait(self.idle_exit) and not (
                            self._urgent or self._normal):
                        self._thread = None  # submit() starts a new one under this lock
                        return
                    continue
            job.run()


__all__ = ["Worker"]
