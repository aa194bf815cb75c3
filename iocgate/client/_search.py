"""When to search for which names, and which beacons mean "search again now" (no I/O).

libca's rules, simplified: a name is searched at once, then again after a delay that doubles
from :data:`FIRST_RETRY` up to :data:`MAX_RETRY`; a beacon from a server not heard before (or
whose beacon counter went backwards: it restarted) puts every unresolved name back to an
immediate search, so a restarted server is found as soon as it announces itself.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Dict, Iterable, List, Optional, Tuple

from ..protocol import _ca_client as wire

#: Seconds before the first repeat of an unanswered search.
FIRST_RETRY = 0.05
#: Longest wait between two searches for one name, in seconds.
MAX_RETRY = 5.0
#: Largest search datagram, in bytes (fits an Ethernet frame).
MAX_DATAGRAM = 1400
#: Datagrams sent per address in one pass before yielding to replies (a server's UDP
#: receive buffer drops what it cannot hold; the rest follows on the next pass).
BURST = 64


class SearchSchedule:
    """The unresolved names and when each is due.

    Call :meth:`add` for a name to resolve, :meth:`discard` once resolved (or dropped),
    :meth:`datagrams` when :meth:`next_due` has come, :meth:`on_beacon` per beacon.
    """

    def __init__(self) -> None:
        self._names: Dict[int, Tuple[str, float]] = {}  # cid -> (name, retry delay)
        self._due: List[Tuple[float, int, int]] = []  # heap of (time, seq, cid)
        self._seq = itertools.count()
        self._beacons: Dict[Tuple[str, int], int] = {}

    def __len__(self) -> int:
        return len(self._names)

    def add(self, cid: int, name: str, now: float) -> None:
        """Search ``name`` (client id ``cid``) as soon as possible, then with back-off."""
        self._names[cid] = (name, FIRST_RETRY)
        heapq.heappush(self._due, (now, next(self._seq), cid))

    def discard(self, cid: int) -> None:
        """Stop searching ``cid`` (no error if unknown)."""
        self._names.pop(cid, None)

    def next_due(self) -> Optional[float]:
        """The time the next search is due (``None``: nothing to search)."""
        while self._due and self._due[0][2] not in self._names:
            heapq.heappop(self._due)
        return self._due[0][0] if self._due else None

    def datagrams(self, now: float, limit: int = BURST) -> List[bytes]:
        """Search datagrams for the names due at ``now`` (at most ``limit``); each name is
        rescheduled after its doubled delay."""
        out: List[bytes] = []
        chunk: List[bytes] = [wire.version()]
        size = 16
        while self._due and self._due[0][0] <= now and len(out) < limit:
            _, _, cid = heapq.heappop(self._due)
            entry = self._names.get(cid)
            if entry is None:
                continue
            name, delay = entry
            request = wire.search(name, cid)
            if size + len(request) > MAX_DATAGRAM:
                out.append(b"".join(chunk))
                chunk, size = [wire.version()], 16
            chunk.append(request)
            size += len(request)
            self._names[cid] = (name, min(delay * 2, MAX_RETRY))
            heapq.heappush(self._due, (now + delay, next(self._seq), cid))
        if len(chunk) > 1:
            out.append(b"".join(chunk))
        return out

    def reset(self, now: float) -> None:
        """Make every unresolved name due now, with the back-off restarted."""
        cids = list(self._names)
        self._due = [(now, next(self._seq), cid) for cid in cids]
        heapq.heapify(self._due)
        for cid in cids:
            self._names[cid] = (self._names[cid][0], FIRST_RETRY)

    def on_beacon(self, server: Tuple[str, int], beacon_id: int, now: float) -> bool:
        """Note a beacon from ``server`` (host, port); a new server or a restarted one (its
        beacon counter went back) resets the search. Returns whether it did."""
        last = self._beacons.get(server)
        self._beacons[server] = beacon_id
        if last is not None and beacon_id > last:
            return False
        if self._names:
            self.reset(now)
        return True

    def forget_server(self, server: Tuple[str, int]) -> None:
        """Forget ``server``'s beacons (its circuit died), so its next beacon counts as new."""
        self._beacons.pop(server, None)


def parse_address_list(text: str, default_port: int) -> List[Tuple[str, int]]:
    """``EPICS_CA_ADDR_LIST`` (``'host[:port] ...'``) as ``[(host, port)]``."""
    out = []
    for item in text.split():
        host, _, port = item.partition(":")
        out.append((host, int(port) if port else default_port))
    return out


def unique(items: Iterable[Tuple[str, int]]) -> List[Tuple[str, int]]:
    """``items`` without repeats, in order."""
    return list(dict.fromkeys(items))
