"""This host's IPv4 addresses and who holds a port, for one-line errors and ``iocgate doctor``.

Reads ``/proc`` on Linux; elsewhere the lookups answer "unknown" (empty results) and callers
fall back to plainer messages.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence

_SIOCGIFADDR = 0x8915
_PROC = Path("/proc")
_STATES = {"tcp": "0A", "udp": "07"}  # LISTEN, and an unconnected ("closed") UDP socket


class Socket(NamedTuple):
    """A bound socket seen in ``/proc/net``: protocol, address, port, owning process."""

    protocol: str
    address: str
    port: int
    pid: Optional[int]
    command: str


def host_addresses() -> Dict[str, str]:
    """``{IPv4 address: interface name}`` of every configured interface of this host
    (empty where the ``SIOCGIFADDR`` ioctl is not available)."""
    found: Dict[str, str] = {}
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return found
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _index, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                reply = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)
            except OSError:  # no IPv4 address on this interface
                continue
            found[socket.inet_ntoa(reply[20:24])] = name
    return found


def check_interfaces(interfaces: Sequence[str], source: str = "--interfaces ") -> None:
    """Raise ``ValueError`` with a one-line reason unless every entry is an IPv4 address
    (``0.0.0.0`` for all) that this host has; ``source`` names where the entry came from."""
    for text in interfaces:
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            raise ValueError(f"{source}{text}: not an IPv4 address "
                             "(give one of this host's, e.g. 127.0.0.1, or 0.0.0.0 for all)"
                             ) from None
        if text == "0.0.0.0":
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((text, 0))
            except OSError as exc:
                if exc.errno != errno.EADDRNOTAVAIL:
                    raise
                have = ", ".join(sorted(host_addresses())) or "none found"
                raise ValueError(f"{source}{text}: this host has no such address "
                                 f"(its addresses: {have})") from None


def listening(protocol: str, port: Optional[int] = None) -> List[Socket]:
    """Sockets bound on this host: TCP ones listening, UDP ones unconnected; on ``port`` only
    if given. The owner is known for this user's processes (else ``pid`` is None)."""
    table = _PROC / "net" / protocol
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return []
    rows = []
    for line in lines:
        fields = line.split()
        host_hex, port_hex = fields[1].split(":")
        if fields[3] != _STATES[protocol] or (port is not None and int(port_hex, 16) != port):
            continue
        address = socket.inet_ntoa(struct.pack("<I", int(host_hex, 16)))
        rows.append((address, int(port_hex, 16), fields[9]))
    owners = _socket_owners({inode for *_, inode in rows})
    return [Socket(protocol, address, number, *owners.get(inode, (None, "")))
            for address, number, inode in rows]


def describe_owner(protocol: str, port: int) -> str:
    """``" by pid 1234 (softIoc -d x.db)"`` for who holds ``port``, or ``""`` if unknown."""
    for sock in listening(protocol, port):
        if sock.pid is not None:
            return f" by pid {sock.pid} ({sock.command})"
    return ""


def _socket_owners(inodes: set) -> Dict[str, tuple]:
    owners: Dict[str, tuple] = {}
    if not inodes:
        return owners
    for proc in _PROC.glob("[0-9]*"):
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:  # another user's process, or gone
            continue
        links = set()
        for fd in fds:
            try:
                links.add(os.readlink(fd))
            except OSError:  # closed meanwhile
                continue
        for inode in inodes:
            if f"socket:[{inode}]" in links:
                owners[inode] = (int(proc.name), _command(proc))
    return owners


def _command(proc: Path) -> str:
    try:
        parts = (proc / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return "?"
    words = [part.decode(errors="replace") for part in parts if part]
    if words:
        words[0] = os.path.basename(words[0])
    return " ".join(" ".join(words).split())[:80]
