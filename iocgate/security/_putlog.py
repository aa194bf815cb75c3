"""The put audit log: one JSON line per put (accepted or refused), in rotating files."""

from __future__ import annotations

import datetime
import json
import os
import time
from typing import Any, Optional, TextIO

#: seconds a logged put may wait in the buffer before it is written to the file
FLUSH_PERIOD = 0.5


def format_put(when: float, host: str, user: str, pv: str, old: Any, new: Any,
               result: str) -> str:
    """One log line (JSON, newline-terminated); ``when`` is epoch seconds.

    ``new`` is the value after an accepted put, or the requested value of a refused one;
    ``result`` is ``"OK"`` or the CA status name (e.g. ``"ECA_NOWTACCESS"``).
    """
    stamp = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    return json.dumps({"time": stamp.isoformat(timespec="microseconds"), "host": host,
                       "user": user, "pv": pv, "old": json_value(old), "new": json_value(new),
                       "result": result}, separators=(",", ":")) + "\n"


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
    """Appends lines to ``path``, rotating it at ``max_bytes`` into ``path.1`` ..
    ``path.<backups>`` (oldest dropped), as ``logging.handlers.RotatingFileHandler`` does.

    Lines are buffered and written when :data:`FLUSH_PERIOD` s have passed since the last
    write (checked on each put and by :meth:`flush`, which the IOC calls periodically), so a
    crash loses at most that much. Errors writing the file are reported once per failure and
    never refuse a put.
    """

    def __init__(self, path: str, *, max_bytes: int = 10_000_000, backups: int = 5):
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._buffer: list = []
        self._last_flush = time.monotonic()
        self._file: Optional[TextIO] = None
        self.error: Optional[OSError] = None

    def write(self, line: str) -> None:
        self._buffer.append(line)
        if time.monotonic() - self._last_flush >= FLUSH_PERIOD:
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines (rotating first if the file is full).

        Raises:
            OSError: the file could not be written (the lines are dropped; also kept in
                :attr:`error`).
        """
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        text = "".join(self._buffer)
        self._buffer.clear()
        try:
            if self._file is None:
                self._file = open(self.path, "a", encoding="utf-8")
            if self._file.tell() + len(text) > self.max_bytes and self._file.tell():
                self._rotate()
            self._file.write(text)
            self._file.flush()
            self.error = None
        except OSError as exc:
            self.error = exc
            raise

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
        try:
            self.flush()
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None
