"""The process-wide client context, the thread that runs user callbacks, and the PV cache.

The shared :class:`~iocgate.client._core.Context` is created on first use from the
``EPICS_CA_*`` environment of that moment and closed at interpreter exit, after which its
threads are gone: a script ends without output from them.
"""

from __future__ import annotations

import atexit
import queue
import threading
from typing import Any, Callable, Dict, Optional, Tuple

from ._core import Context

_lock = threading.Lock()
_context: Optional[Context] = None
#: ``get_pv``'s cache: ``{(pvname, form): PV}``.
pv_cache: Dict[Tuple[str, str], Any] = {}
cache_lock = threading.Lock()


class Dispatcher:
    """Runs user callbacks in order on one daemon thread (``iocgate-ca-callbacks``), so the
    I/O thread never waits for user code and a callback may block on other PVs."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="iocgate-ca-callbacks",
                                        daemon=True)
        self._thread.start()

    def call(self, func: Callable[..., Any], *args: Any) -> None:
        """Queue ``func(*args)``; dropped once closed."""
        if not self._closed:
            self._queue.put((func, args))

    def on_thread(self) -> bool:
        """Whether the caller is this dispatcher's thread."""
        return threading.current_thread() is self._thread

    def drain(self, timeout: Optional[float]) -> bool:
        """Wait until everything queued so far has run (``False`` after ``timeout`` s)."""
        if self.on_thread():
            return True
        done = threading.Event()
        self.call(done.set)
        return done.wait(timeout)

    def close(self, timeout: float = 1.0) -> None:
        """Stop after the running callback; queued ones are dropped."""
        self._closed = True
        self._queue.put(None)
        if not self.on_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._closed:
                return
            func, args = item
            try:
                func(*args)
            except Exception:
                if not self._closed:
                    from ._pvbase import log
                    log.exception("callback %r failed", func)


_dispatcher: Optional[Dispatcher] = None


def default_context() -> Context:
    """The shared client context, created on first use from the ``EPICS_CA_*`` environment
    current at that moment (address list, server and repeater ports)."""
    global _context
    with _lock:
        if _context is None or _context.closed:
            _context = Context()
        return _context


def dispatcher() -> Dispatcher:
    """The thread face's callback runner, for every context (started on first use)."""
    global _dispatcher
    runner = _dispatcher
    if runner is None:
        with _lock:
            if _dispatcher is None:
                _dispatcher = Dispatcher()
            runner = _dispatcher
    return runner


def reset_default_context() -> None:
    """Disconnect the shared context and forget it, with every cached PV and monitor.

    The next call builds a new context from the environment as it is then (use after changing
    ``EPICS_CA_*`` variables, e.g. between tests).
    """
    global _context, _dispatcher
    from ._procedural import _clear_caches

    _clear_caches()
    with _lock:
        context, _context = _context, None
        runner, _dispatcher = _dispatcher, None
    if context is not None:
        context.close()
    if runner is not None:
        runner.close()


atexit.register(reset_default_context)
