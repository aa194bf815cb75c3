"""The put audit log: JSON lines of accepted and refused puts, in rotating files.

As caPutLog's burst filter, puts to one PV by one client with one result that follow each
other within a flush period (:data:`FLUSH_PERIOD`) make one line: the time and old value of
the first, the new value of the last, and ``count``, ``min`` and ``max`` when there were
several.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from typing import Any, Dict, List, Optional, TextIO, Tuple

#: seconds puts may wait (and merge) in memory before they are written to the file
FLUSH_PERIOD = 0.5


def format_put(when: float, host: str, user: str, pv: str, old: Any, new: Any,
               result: str, *, count: int = 1, low: Any = None, high: Any = None) -> str:
    """One log line (JSON, newline-terminated); ``when`` is epoch seconds.

    ``new`` is the value after an accepted put, or the requested value of a refused one;
    ``result`` is ``"OK"`` or the CA status name (e.g. ``"ECA_NOWTACCESS"``). A burst of
    ``count`` > 1 puts adds ``count``, ``min`` (``low``) and ``max`` (``high``).
    """
    stamp = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    line = {"time": stamp.isoformat(timespec="microseconds"), "host": host, "user": user,
            "pv": pv, "old": json_value(old), "new": json_value(new), "result": result}
    if count > 1:
        line.update(count=count, min=json_value(low), max=json_value(high))
    return json.dumps(line, separators=(",", ":")) + "\n"


def json_value(value: Any) -> Any:
    """A JSON-able form of a PV value (arrays become lists, bytes text, enums names)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (bytes, bytearray)):
        return value.decode("latin-1")
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class PutLog:
    """Appends put lines to ``path``, rotating it at ``max_bytes`` into ``path.1`` ..
    ``path.<backups>`` (oldest dropped), as ``logging.handlers.RotatingFileHandler`` does.

    Puts are kept in memory, merged per burst (see the module docstring), and written by
    :meth:`flush_due` once :data:`FLUSH_PERIOD` s have passed since the last write, so a
    crash loses at most that much.

    Raises:
        OSError: ``path`` cannot be opened for appending (checked here, at start).
    """

    def __init__(self, path: str, *, max_bytes: int = 10_000_000, backups: int = 5):
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._pending: Dict[Tuple[str, str, str, str], List[Any]] = {}
        self._last_flush = time.monotonic()
        self._file: Optional[TextIO] = open(path, "a", encoding="utf-8")

    def add(self, when: Optional[float], host: str, user: str, pv: str, old: Any, new: Any,
            result: str) -> None:
        """Record one put (``when`` in epoch seconds, None: now); see :func:`format_put`.
        Nothing is written here: call :meth:`flush_due` periodically (the IOC does, every
        0.1 s). Only the first put of a burst reads the clock."""
        key = (pv, host, user, result)
        burst = self._pending.get(key)
        if burst is None:
            self._pending[key] = [time.time() if when is None else when, old, new, new, new, 1]
            return
        burst[2] = new
        burst[5] += 1
        try:
            if new < burst[3]:
                burst[3] = new
            elif new > burst[4]:
                burst[4] = new
        except (TypeError, ValueError):  # strings against numbers, arrays
            pass

    def flush_due(self) -> None:
        """:meth:`flush` if :data:`FLUSH_PERIOD` s passed since the last one."""
        if time.monotonic() - self._last_flush >= FLUSH_PERIOD:
            self.flush()

    def flush(self) -> None:
        """Write the pending lines (rotating first if the file is full).

        Raises:
            OSError: the file could not be written; those lines are dropped.
        """
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        pending = sorted(self._pending.items(), key=lambda item: item[1][0])
        self._pending = {}
        text = "".join(format_put(when, host, user, pv, old, new, result, count=count,
                                  low=low, high=high)
                       for (pv, host, user, result), (when, old, new, low, high, count)
                       in pending)
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")
        if self._file.tell() and self._file.tell() + len(text) > self.max_bytes:
            self._rotate()
        self._file.write(text)
        self._file.flush()

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        self._file = None
        for index in range(self.backups - 1, 0, -1):
            older = f"{self.path}.{index}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{index + 1}")
        if self.backups:
            os.replace(self.path, f"{self.path}.1")
        else:
            os.remove(self.path)
        self._file = open(self.path, "a", encoding="utf-8")

    def close(self) -> None:
        """Flush and close the file."""
        try:
            self.flush()
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None
