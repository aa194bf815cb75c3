"""When a periodic loop runs next, by its missed-loop policy. Pure: no clock, no sleep."""

from __future__ import annotations

from typing import Tuple

from ..ioc._scanner import MissedScans


class Schedule:
    """Start times ``start, start + period, ...`` of a loop, and what happens after an
    iteration that ended past the next start (an overrun), by ``policy``:

    * IMMEDIATE: the late iterations run at once, back to back, until caught up;
    * SKIP: the missed starts are dropped; the next start is the first one still ahead;
    * TERMINATE: the loop ends.

    Args:
        period: seconds between starts (> 0).
        policy: a :class:`~iocgate.MissedScans` member or its value.
        start: the first start, in the clock's seconds.

    Attributes:
        due: the next start.
    """

    def __init__(self, period: float, policy: object, start: float):
        self.period = check_period(period)
        self.policy = MissedScans(policy)
        self.due = start

    def advance(self, now: float) -> Tuple[bool, bool]:
        """An iteration that started at :attr:`due` ended at ``now``: move :attr:`due` on.

        Returns:
            ``(overran, terminate)``: whether ``now`` was past the next start, and whether
            the loop must end (TERMINATE policy).
        """
        self.due += self.period
        if self.due > now:
            return False, False
        if self.policy is MissedScans.SKIP:
            self.due += (int((now - self.due) // self.period) + 1) * self.period
        return True, self.policy is MissedScans.TERMINATE


def check_period(period: float) -> float:
    """``period`` as a float.

    Raises:
        ValueError: not a finite number > 0.
    """
    value = float(period)
    if not 0 < value < float("inf"):
        raise ValueError(f"loop period must be > 0 s, not {period!r}")
    return value
