"""Relay of unicast searches to the other CA servers on this host (sans-I/O).

Several servers on one host share the UDP search port, but the kernel hands a *unicast*
datagram to one of them only (the last bound, or one picked by a hash of the client's
address), so a client with ``EPICS_CA_ADDR_LIST=127.0.0.1`` finds the PVs of one server.
RSRV accepts this (it warns that a server on a dynamically assigned TCP port "may not be
reachable with UDP unicast"); iocgate relays instead, so that every server on the host,
C IOCs included, is found:

* the server registers with the host's CA repeater, as a client does, and learns the other
  servers on the host (address and TCP port) from their beacons;
* a unicast search for names it does not serve is passed on to each of them as a SEARCH
  over a TCP circuit (which RSRV and iocgate answer, see
  :meth:`~iocgate.server._core.ServerCore.search_reply_tcp`);
* their SEARCH replies go back to the client as UDP search replies carrying the other
  server's TCP port, from this host's address, exactly as that server would have answered.

:class:`SearchRelay` holds the state; the back-ends move its bytes. Pending relayed searches
and known servers are bounded and expire.
"""

from __future__ import annotations

import ipaddress
import itertools
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Sequence, Tuple

from . import _wire as wire

Address = Tuple[str, int]
PEER_TIMEOUT = 60.0
"""Seconds without a beacon after which another server is forgotten (beacons come at
least every 15 s by default)."""
RELAY_TIMEOUT = 5.0
"""Seconds a relayed search waits for its answer before it is forgotten."""
MAX_PENDING = 10_000
"""Relayed searches awaiting an answer at most (the oldest are dropped beyond)."""
REGISTER_PERIOD = 30.0
"""Seconds between registrations with the repeater (it forgets clients that vanish)."""


class SearchRelay:
    """Which servers share this host and our search port, and the searches relayed to them.

    Args:
        own_port: our TCP port (our own beacons are ignored).
        verify: ``verify(tcp_port)`` tells whether the server on that TCP port shares our
            UDP search port; servers that do not are never relayed to (checked once per
            :data:`PEER_TIMEOUT`).
        clock: monotonic seconds.
    """

    def __init__(self, own_port: int, verify: Callable[[int], bool],
                 clock: Callable[[], float] = time.monotonic):
        self.own_port = own_port
        self.verify = verify
        self.clock = clock
        self.peers: Dict[Address, float] = {}
        self._others: Dict[Address, float] = {}  # servers on other search ports
        self._pending: OrderedDict[int, Tuple[Address, int, float]] = OrderedDict()
        self._ids = itertools.count(1)

    @staticmethod
    def registration(address: str = "127.0.0.1") -> bytes:
        """The REPEATER_REGISTER datagram to send to the repeater from our beacon socket."""
        return wire.HEADER.pack(wire.REPEATER_REGISTER, 0, 0, 0, 0,
                                int(ipaddress.IPv4Address(address)))

    def beacons(self, datagram: bytes, source: Address) -> bool:
        """Note the servers announced by beacons forwarded by the repeater.

        Returns:
            True if a server new to us appeared. The back-end then binds its search socket
            again: Linux gives unicast datagrams to the most recently bound socket of a
            port (for C servers: their ``SO_REUSEPORT`` group), so the new server would
            otherwise take every unicast search and answer only for itself.
        """
        now = self.clock()
        new = False
        for command, _type, port, _p1, address in _messages(datagram):
            if command != wire.RSRV_IS_UP or port == self.own_port:
                continue
            host = str(ipaddress.IPv4Address(address)) if address else source[0]
            peer = (host, port)
            if not ipaddress.IPv4Address(host).is_loopback or peer in self._others:
                continue
            if peer not in self.peers:
                if not self.verify(port):
                    self._others[peer] = now
                    continue
                new = True
            self.peers[peer] = now
        for known in (self.peers, self._others):
            for peer, seen in list(known.items()):
                if now - seen > PEER_TIMEOUT:
                    del known[peer]
        return new

    def relay(self, searches: Sequence[Tuple[str, int, int, int]], client: Address
              ) -> Dict[Address, bytes]:
        """What to send to each other server for the ``searches`` (as from
        :func:`~iocgate.server._wire.parse_search`) that we could not answer.

        Returns:
            ``{server: bytes}`` to write on the TCP circuit to that server (VERSION first
            when the circuit is new is the caller's: see :data:`CIRCUIT_START`).
        """
        if not searches or not self.peers:
            return {}
        now = self.clock()
        messages = []
        for name, _flag, _version, cid in searches:
            relay_id = next(self._ids) & 0xFFFFFFFF
            self._pending[relay_id] = (client, cid, now)
            raw = name.encode("latin-1") + b"\0"
            raw += wire.pad(len(raw))
            messages.append(wire.HEADER.pack(wire.SEARCH, len(raw), wire.NO_REPLY,
                                             wire.CA_MINOR_VERSION, relay_id, relay_id) + raw)
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        data = b"".join(messages)
        return {peer: data for peer in self.peers}

    def answers(self, messages: Sequence[tuple], server: Address
                ) -> List[Tuple[Address, bytes]]:
        """UDP replies for clients from SEARCH replies received from ``server``.

        Args:
            messages: as from :func:`~iocgate.server._wire.split_messages`.
            server: the server that answered (its TCP port is in each reply).
        """
        out = []
        for command, port, _count, _p1, relay_id, _h, _payload in messages:
            if command != wire.SEARCH:
                continue
            found = self._pending.pop(relay_id, None)
            if found is not None:
                client, cid, _ = found
                out.append((client, wire.VERSION_REPLY + wire.search_reply(port, cid)))
        return out

    def expire(self) -> None:
        """Forget relayed searches older than :data:`RELAY_TIMEOUT`."""
        limit = self.clock() - RELAY_TIMEOUT
        pending = self._pending
        while pending and next(iter(pending.values()))[2] < limit:
            pending.popitem(last=False)


CIRCUIT_START = wire.HEADER.pack(wire.VERSION, 0, 0, wire.CA_MINOR_VERSION, 0, 0)
"""The first bytes on a new relay circuit (VERSION, as every CA client sends)."""


def _messages(datagram: bytes):
    view = memoryview(datagram)
    pos = 0
    while len(view) - pos >= 16:
        command, size, data_type, count, p1, p2 = wire.HEADER.unpack_from(view, pos)
        yield command, data_type, count, p1, p2
        pos += 16 + size
