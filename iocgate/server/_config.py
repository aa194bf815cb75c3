"""Server settings from the EPICS environment, and the bits every back-end shares.

No I/O beyond reading ``os.environ`` and creating (not using) sockets.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

import caproto as ca

from .._compat._caproto import get_address_and_port_from_string
from ._pvdb import PVDatabase

log = logging.getLogger("iocgate.server")
_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
MIN_BEACON_PERIOD = 0.02
"""First beacon interval in seconds; it doubles up to EPICS_CAS_BEACON_PERIOD."""


class Settings:
    """Server configuration resolved from arguments and EPICS_* variables.

    Attributes:
        interfaces: IPv4 addresses to listen on (EPICS_CAS_INTF_ADDR_LIST, else 0.0.0.0).
        port: preferred TCP port and the UDP search port (EPICS_CAS_SERVER_PORT, else
            EPICS_CA_SERVER_PORT, else 5064).
        max_array_bytes: EPICS_CA_MAX_ARRAY_BYTES (at least 16384) when
            EPICS_CA_AUTO_ARRAY_BYTES is NO; else None: no limit beyond each PV's own size,
            as EPICS 7's rsrv (whose default is YES, so the variable alone limits nothing).
        beacon_addresses: ``(host, port)`` beacon destinations (EPICS_CAS_BEACON_ADDR_LIST,
            EPICS_CAS_AUTO_BEACON_ADDR_LIST, EPICS_CAS_BEACON_PORT / EPICS_CA_REPEATER_PORT).
        beacon_period: longest beacon interval in seconds (EPICS_CAS_BEACON_PERIOD).
        ignore: client hosts whose searches are ignored (EPICS_CAS_IGNORE_ADDR_LIST).
        repeater_port: the host's CA repeater (EPICS_CA_REPEATER_PORT, else 5065), where
            the search relay learns the other servers on the host from their beacons.
    """

    def __init__(self, interfaces: Sequence[str] | None = None,
                 environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.interfaces: List[str] = list(interfaces or _split(
            env.get("EPICS_CAS_INTF_ADDR_LIST", "")) or ["0.0.0.0"])
        self.interfaces = [addr.partition(":")[0] for addr in self.interfaces]
        self.port = int(env.get("EPICS_CAS_SERVER_PORT") or env.get("EPICS_CA_SERVER_PORT")
                        or 5064)
        self.max_array_bytes: int | None = None
        if env.get("EPICS_CA_AUTO_ARRAY_BYTES", "YES").strip().upper() == "NO":
            self.max_array_bytes = int(env.get("EPICS_CA_MAX_ARRAY_BYTES") or 16384)
        beacon_port = int(env.get("EPICS_CAS_BEACON_PORT") or env.get("EPICS_CA_REPEATER_PORT")
                          or 5065)
        manual = _split(env.get("EPICS_CAS_BEACON_ADDR_LIST", ""))
        if not manual:
            manual = _split(env.get("EPICS_CA_ADDR_LIST", ""))
        auto = env.get("EPICS_CAS_AUTO_BEACON_ADDR_LIST",
                       env.get("EPICS_CA_AUTO_ADDR_LIST", "YES")).strip().upper() != "NO"
        hosts = manual + (["255.255.255.255"] if auto else [])
        self.beacon_addresses: List[Tuple[str, int]] = [
            get_address_and_port_from_string(host, beacon_port) for host in hosts]
        self.beacon_period = float(env.get("EPICS_CAS_BEACON_PERIOD")
                                   or env.get("EPICS_CA_BEACON_PERIOD") or 15.0)
        self.ignore: Set[str] = {addr.partition(":")[0] for addr in
                                 _split(env.get("EPICS_CAS_IGNORE_ADDR_LIST", ""))}
        self.repeater_port = int(env.get("EPICS_CA_REPEATER_PORT") or 5065)

    def relays(self, interface: str) -> bool:
        """Whether searches received on ``interface`` are relayed to the other servers on
        the host: a socket bound to one address receives unicast only (a wildcard one
        also gets broadcasts, which reach every server anyway)."""
        return interface != "0.0.0.0"

    def beacon_host_id(self) -> int:
        """The IPv4 address announced in beacons, as an integer (0 for INADDR_ANY)."""
        return int.from_bytes(socket.inet_aton(self.interfaces[0]), "big")


def _split(text: str) -> List[str]:
    return [item for item in text.replace(",", " ").split() if item]


def make_udp_socket(interface: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to ``(interface, port)`` for searches.

    On a loopback address it is also bound to the loopback device where the system allows
    (Linux): the kernel then hands unicast searches to it rather than to a C server sharing
    the port, and it relays them to that server (see :mod:`._relay`); otherwise a client
    would find one server of the host only, whichever the kernel picked.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    if interface != "0.0.0.0" and ipaddress.IPv4Address(interface).is_loopback:
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, b"lo")
        except OSError as exc:  # not permitted, or not Linux: the kernel picks
            log.info("cannot bind the search socket to the loopback device: %s", exc)
    sock.setblocking(False)
    sock.bind((interface, port))
    return sock


def make_beacon_socket() -> socket.socket:
    """A non-blocking unbound UDP socket allowed to broadcast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setblocking(False)
    return sock


def bind_tcp(interfaces: Sequence[str], port: int) -> Tuple[int, Dict[str, socket.socket]]:
    """Listening TCP sockets on every interface with one port number.

    The preferred ``port`` is tried first, then random ones (as caproto and rsrv do when
    another server holds the default port). Accepted circuits inherit TCP_NODELAY.

    Raises:
        OSError: no common free port was found.
    """
    last: OSError | None = None
    for candidate in ca.random_ports(100, try_first=port):
        socks: Dict[str, socket.socket] = {}
        try:
            for interface in interfaces:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks[interface] = sock
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.bind((interface, candidate))
                sock.listen(1024)
                sock.setblocking(False)
        except OSError as exc:
            last = exc
            for sock in socks.values():
                sock.close()
            continue
        return candidate, socks
    raise OSError(f"no free TCP port on {list(interfaces)}") from last


def startup_hooks(db: PVDatabase) -> Dict[str, object]:
    """Per-PV ``server_startup`` and ``server_scan`` hooks, called with ``async_lib``."""
    return db.hooks("server_startup", "server_scan")


class Listening(NamedTuple):
    """Where a server listens, handed to the ``started`` callback of ``run``.

    Attributes:
        interfaces: the IPv4 addresses bound (``0.0.0.0``: all of the host's).
        tcp_port: the TCP port of the circuits (a random one when the preferred was taken).
        udp_port: the UDP port that answers name searches.
        pv_count: how many PVs the server serves.
    """

    interfaces: Tuple[str, ...]
    tcp_port: int
    udp_port: int
    pv_count: int


def announce(db: PVDatabase, port: int, settings: Settings, log_pvs: bool,
             started: Optional[Callable[[Listening], None]]) -> None:
    """Say where the server listens: a warning, as RSRV, when the configured TCP port was
    taken; ``started`` (if given) is told, else an info line is logged; every PV name is
    logged with ``log_pvs``."""
    if port != settings.port:
        log.warning("configured TCP port %d was unavailable; serving on port %d, sharing "
                    "UDP search port %d with another server (unicast searches relayed)",
                    settings.port, port, settings.port)
    if started is not None:
        started(Listening(tuple(settings.interfaces), port, settings.port, len(db.pvdb)))
    else:
        log.info("iocgate CA server on %s TCP port %d, UDP search port %d",
                 ", ".join(settings.interfaces), port, settings.port)
    if log_pvs:
        log.info("PVs available:\n%s", "\n".join(db.pvdb))
