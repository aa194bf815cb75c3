"""Log a client's repeated errors once, with a count, instead of once per request.

A client that sends 20,000 bad requests must not write 20,000 log lines: the first of each
kind is logged at once, the rest are counted and reported in one summary line when
:data:`SUMMARY_PERIOD` seconds have passed (at the next occurrence) or when the client goes.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Dict, List

SUMMARY_PERIOD = 60.0
"""Seconds between summary lines for an error that keeps recurring."""


class RepeatLog:
    """Per-client log of errors keyed by kind.

    Args:
        logger: where lines go.
        who: names the client in every line (e.g. ``"client 127.0.0.1:40000"``).
        clock: monotonic seconds; tests may pass a fake one.
    """

    def __init__(self, logger: logging.Logger, who: str,
                 clock: Callable[[], float] = time.monotonic):
        self.logger = logger
        self.who = who
        self.clock = clock
        self._pending: Dict[str, List] = {}  # kind -> [suppressed count, last logged at, level]

    def report(self, level: int, kind: str, text: str) -> None:
        """Log ``text`` if ``kind`` was not logged in the last :data:`SUMMARY_PERIOD` s
        (with the count of suppressed ones), else only count it."""
        now = self.clock()
        state = self._pending.get(kind)
        if state is None:
            self._pending[kind] = [0, now, level]
            self.logger.log(level, "%s: %s", self.who, text)
            return
        state[0] += 1
        if now - state[1] >= SUMMARY_PERIOD:
            self.logger.log(level, "%s: %s (%d more like this in %.0f s)", self.who, text,
                            state[0], now - state[1])
            state[0], state[1] = 0, now

    def flush(self) -> None:
        """Log the counts still unreported (the client went away)."""
        for kind, (count, _, level) in self._pending.items():
            if count:
                self.logger.log(level, "%s: %d more %s", self.who, count, kind)
        self._pending.clear()
