"""One worker thread per endpoint, running the jobs of async callers in order."""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from typing import Any, Callable, Optional, Tuple

_Job = Optional[Tuple[concurrent.futures.Future, Callable[..., Any], tuple]]


class Worker:
    """A daemon thread executing submitted callables one at a time, started on first use.

    Async callers hand their endpoint jobs to it so that their event loop never blocks.
    """

    #: Seconds an idle worker thread lives on; the next job starts a new one.
    idle_exit = 30.0

    def __init__(self, name: str):
        self.name = name
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        """Queue ``fn(*args)``; the returned future carries its result or exception.

        Cancelling the future before the job starts means it never runs.
        """
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._serve, args=(self._queue,),
                                                name=f"iocgate {self.name}", daemon=True)
                self._thread.start()
            self._queue.put((future, fn, args))
        return future

    def stop(self, timeout: float | None = 10.0) -> None:
        """Let the thread finish the jobs already queued, then end; wait up to ``timeout`` s
        for that (unless called from the worker itself). A later submit starts a new thread.
        """
        with self._start_lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether the worker thread is running now."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _serve(self, jobs: queue.SimpleQueue[_Job]) -> None:
        while True:
            try:
                job = jobs.get(timeout=self.idle_exit)
            except queue.Empty:
                with self._start_lock:  # submit() queues under this lock: nothing is lost
                    if jobs.empty():
                        if self._queue is jobs:
                            self._thread = None
                        return
                continue
            if job is None:
                return
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)
            else:
                future.set_result(result)


__all__ = ["Worker"]
