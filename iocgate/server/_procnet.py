"""Which process holds which socket, from Linux's ``/proc``: used to relay searches only to
the servers that share our UDP search port.

Beacons tell a server's TCP port, not its UDP port, and a host may run servers on several
CA ports (test sessions do). A server shares our search port when one process holds both
its listening TCP port and a UDP socket on our port. Where ``/proc`` cannot tell (another
OS, another user's process), the answer is no: a search is never relayed to a server that
clients of this port could not have found.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Set

_TCP_LISTEN = "0A"


def _inodes(table: str, port: int, listening: bool) -> Set[str]:
    """Socket inodes of ``/proc/net/<table>`` bound to local ``port``."""
    found = set()
    try:
        lines = Path("/proc/net", table).read_text().splitlines()[1:]
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or int(fields[1].rsplit(":", 1)[1], 16) != port:
            continue
        if not listening or fields[3] == _TCP_LISTEN:
            found.add(fields[9])
    return found


def shares_udp_port(tcp_port: int, udp_port: int) -> bool:
    """Whether the process listening on TCP ``tcp_port`` also holds a UDP socket on
    ``udp_port`` (False when this cannot be seen)."""
    tcp, udp = _inodes("tcp", tcp_port, True), _inodes("udp", udp_port, False)
    if not tcp or not udp:
        return False
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        sockets = _sockets_of(pid)
        if sockets & tcp:
            return bool(sockets & udp)
    return False


def _sockets_of(pid: str) -> Set[str]:
    """Socket inodes held by process ``pid`` (none if it is gone or not ours to read)."""
    found = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if link.startswith("socket:["):
            found.add(link[8:-1])
    return found
