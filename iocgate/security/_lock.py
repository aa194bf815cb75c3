"""The instrument lock: one client (host and user) takes exclusive write access for a lease."""

from __future__ import annotations

from typing import NamedTuple, Optional


class Client(NamedTuple):
    """Who a CA client says it is (its HOST_NAME and CLIENT_NAME messages)."""

    host: str
    user: str

    def __str__(self) -> str:
        return f"{self.user}@{self.host}"


class LockHeld(PermissionError):
    """Another client holds the lock."""


class InstrumentLock:
    """State of a lease-based lock; times are ``time.time()`` seconds, passed in.

    Attributes:
        owner: the holder, or None.
        expires: when the lease ends (epoch seconds; 0 when free).
    """

    def __init__(self) -> None:
        self.owner: Optional[Client] = None
        self.expires = 0.0

    def take(self, client: Client, lease: float, now: float) -> None:
        """Take or renew the lock for ``lease`` seconds; ``lease`` 0 releases it.

        Raises:
            LockHeld: another client holds an unexpired lease (nothing changes).
            ValueError: ``lease`` is negative or not finite.
        """
        if not 0 <= lease < float("inf"):
            raise ValueError(f"lease must be >= 0 seconds, not {lease!r}")
        self.expire(now)
        if self.owner is not None and self.owner != client:
            raise LockHeld(f"locked by {self.owner} for {self.expires - now:.1f} s more")
        if lease == 0:
            self.owner, self.expires = None, 0.0
        else:
            self.owner, self.expires = client, now + lease

    def expire(self, now: float) -> bool:
        """Free the lock if its lease ended; returns whether it did."""
        if self.owner is not None and now >= self.expires:
            self.owner, self.expires = None, 0.0
            return True
        return False

    def blocks(self, client: Client) -> bool:
        """Whether ``client``'s writes are refused (someone else holds the lock)."""
        return self.owner is not None and self.owner != client
