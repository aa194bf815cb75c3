"""The process-wide caproto threading ``Context`` the sync face uses unless given one."""

from __future__ import annotations

import atexit
import threading
from typing import Optional

from caproto.threading.client import Context

from ._caproto_hooks import patch_context

_lock = threading.Lock()
_context: Optional[Context] = None


def default_context() -> Context:
    """The shared client context, created on first use from the ``EPICS_CA_*`` environment
    current at that moment (address list, server port)."""
    global _context
    with _lock:
        if _context is None:
            _context = Context()
            patch_context(_context)
        return _context


def reset_default_context() -> None:
    """Disconnect the shared context and forget it, with every cached PV and monitor.

    The next call builds a new context from the environment as it is then (use after changing
    ``EPICS_CA_*`` variables, e.g. between tests).
    """
    global _context
    from ._procedural import _clear_caches

    _clear_caches()
    with _lock:
        context, _context = _context, None
    if context is not None:
        context.disconnect(wait=True)
        _drop_callbacks(context)


def _drop_callbacks(context: Context) -> None:
    """Drop caproto's weak references to the bound methods of our PVs: left in place, they
    fire while the interpreter shuts down and print ``Exception ignored`` tracebacks."""
    for chan in list(context.pvs.values()):
        for handler in (chan.connection_state_callback, chan.access_rights_callback,
                        *chan.subscriptions.values()):
            with handler.callback_lock:
                handler.callbacks.clear()


atexit.register(reset_default_context)
