"""``iocgate doctor [PV ...]``: why can't my client find the PV?

Reads the EPICS client and server variables, lists the Channel Access servers on this host
(from ``/proc/net``: who holds which UDP and TCP ports, each checked with a CA handshake),
searches each PV over UDP as a C client does (``EPICS_CA_ADDR_LIST``, plus the limited
broadcast when ``EPICS_CA_AUTO_ADDR_LIST`` is not ``NO``), asks every local server directly
over TCP whether it has the PV, and explains in plain words what stands between the two.
"""

from __future__ import annotations

import getpass
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ..ioc._hostnet import Socket, host_addresses, listening
from ..server import _wire as wire

#: seconds each UDP search (and each TCP check) waits for answers
SEARCH_TIMEOUT = 1.0
_CA_VARIABLES = (
    ("EPICS_CA_ADDR_LIST", "", "where clients send searches (besides the automatic list)"),
    ("EPICS_CA_AUTO_ADDR_LIST", "YES", "YES: also broadcast searches on every interface"),
    ("EPICS_CA_SERVER_PORT", "5064", "UDP port clients search"),
    ("EPICS_CA_REPEATER_PORT", "5065", "port of the CA repeater (beacons)"),
    ("EPICS_CAS_INTF_ADDR_LIST", "", "interfaces servers listen on (empty: all)"),
    ("EPICS_CAS_SERVER_PORT", "", "port servers listen on (empty: EPICS_CA_SERVER_PORT)"),
)


@dataclass
class Server:
    """A CA server process on this host: its UDP (search) and TCP (circuit) sockets."""

    pid: Optional[int]
    command: str
    udp: List[Tuple[str, int]] = field(default_factory=list)
    tcp: List[Tuple[str, int]] = field(default_factory=list)


@dataclass
class Environment:
    """The client side as a C client would see it."""

    addr_list: List[str]
    auto: bool
    port: int
    repeater_port: int

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Environment:
        return cls(addr_list=environ.get("EPICS_CA_ADDR_LIST", "").replace(",", " ").split(),
                   auto=environ.get("EPICS_CA_AUTO_ADDR_LIST", "YES").strip().upper() != "NO",
                   port=int(environ.get("EPICS_CA_SERVER_PORT") or 5064),
                   repeater_port=int(environ.get("EPICS_CA_REPEATER_PORT") or 5065))

    def destinations(self) -> List[Tuple[str, int]]:
        """``(host, port)`` every search goes to (``host:port`` entries keep their port)."""
        found = []
        for entry in self.addr_list + (["255.255.255.255"] if self.auto else []):
            host, _, port = entry.partition(":")
            found.append((host, int(port) if port else self.port))
        return found


def ca_servers() -> List[Server]:
    """Processes on this host with a UDP socket and a listening TCP socket that answers a CA
    VERSION request: the CA servers (IOCs, gateways, softIoc, iocgate)."""
    by_pid: Dict[Optional[int], Server] = {}
    for sock in listening("udp"):
        by_pid.setdefault(sock.pid, Server(sock.pid, sock.command)).udp.append(
            (sock.address, sock.port))
    for sock in listening("tcp"):
        if sock.pid in by_pid and sock.pid is not None:
            by_pid[sock.pid].tcp.append((sock.address, sock.port))
    servers = []
    for server in by_pid.values():
        server.tcp = [address for address in server.tcp if _speaks_ca(address)]
        if server.tcp:
            search_ports = {port for _address, port in server.tcp} | _configured_ports(server.pid)
            server.udp = sorted({address for address in server.udp
                                 if address[1] in search_ports})
            servers.append(server)
    return servers


def _configured_ports(pid: Optional[int]) -> Set[int]:
    """The search port a server process was started with (its EPICS_CAS_SERVER_PORT or
    EPICS_CA_SERVER_PORT, else 5064), read from ``/proc/<pid>/environ`` where allowed.

    A server's other UDP sockets (beacons, relays) are on ephemeral ports and do not count."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {5064}
    environ = dict(item.partition(b"=")[::2] for item in raw.split(b"\0") if b"=" in item)
    value = environ.get(b"EPICS_CAS_SERVER_PORT") or environ.get(b"EPICS_CA_SERVER_PORT")
    return {int(value) if value and value.isdigit() else 5064}


def search(names: Sequence[str], destinations: Sequence[Tuple[str, int]],
           timeout: float = SEARCH_TIMEOUT) -> Dict[str, List[Tuple[str, int]]]:
    """Search ``names`` over UDP as a C client does (one datagram per destination, all names
    in it); for each name the ``(address, TCP port)`` of every server that answered within
    ``timeout`` seconds."""
    request = wire.HEADER.pack(wire.VERSION, 0, 0, wire.CA_MINOR_VERSION, 0, 0) + b"".join(
        wire.message(wire.SEARCH, wire.NO_REPLY, wire.CA_MINOR_VERSION, cid, cid,
                     _text(name)) for cid, name in enumerate(names))
    answers: Dict[str, List[Tuple[str, int]]] = {name: [] for name in names}
    if not names:
        return answers
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        for destination in destinations:
            try:
                sock.sendto(request, destination)
            except OSError:
                continue
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data, sender = sock.recvfrom(65536)
            except (socket.timeout, ConnectionRefusedError):
                continue
            for command, _size, port, _count, ip, cid in _headers(data):
                if command != wire.SEARCH or not 0 <= cid < len(names):
                    continue
                host = sender[0] if ip in (0, 0xFFFFFFFF) else socket.inet_ntoa(
                    struct.pack("!I", ip))
                found = answers[names[cid]]
                if (host, port) not in found:
                    found.append((host, port))
    return answers


def has_pv(address: Tuple[str, int], name: str, timeout: float = SEARCH_TIMEOUT) -> bool:
    """Ask the server at ``address`` over TCP whether it has ``name`` (CREATE_CHAN)."""
    request = (wire.HEADER.pack(wire.VERSION, 0, 0, wire.CA_MINOR_VERSION, 0, 0)
               + wire.message(wire.CLIENT_NAME, 0, 0, 0, 0, _text(getpass.getuser()))
               + wire.message(wire.HOST_NAME, 0, 0, 0, 0, _text(socket.gethostname()))
               + wire.message(wire.CREATE_CHAN, 0, 0, 1, wire.CA_MINOR_VERSION, _text(name)))
    replies = _exchange(address, request, {wire.CREATE_CHAN, wire.CREATE_CH_FAIL}, timeout)
    return wire.CREATE_CHAN in replies


def _speaks_ca(address: Tuple[str, int]) -> bool:
    host = "127.0.0.1" if address[0] == "0.0.0.0" else address[0]
    request = wire.HEADER.pack(wire.VERSION, 0, 0, wire.CA_MINOR_VERSION, 0, 0)
    return wire.VERSION in _exchange((host, address[1]), request, {wire.VERSION}, 0.5)


def _exchange(address: Tuple[str, int], request: bytes, wanted: Set[int],
              timeout: float) -> Set[int]:
    """Send ``request``; the commands received until one in ``wanted`` (or ``timeout``)."""
    seen: Set[int] = set()
    host = "127.0.0.1" if address[0] == "0.0.0.0" else address[0]
    try:
        with socket.create_connection((host, address[1]), timeout=timeout) as sock:
            sock.sendall(request)
            data = b""
            deadline = time.monotonic() + timeout
            while not seen & wanted and time.monotonic() < deadline:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
                seen = {command for command, *_ in _headers(data)}
    except OSError:
        pass
    return seen


def _headers(data: bytes) -> List[Tuple[int, int, int, int, int, int]]:
    found = []
    pos = 0
    while len(data) - pos >= 16:
        fields = wire.HEADER.unpack_from(data, pos)
        found.append(fields)
        pos += 16 + fields[1]
    return found


def _text(value: str) -> bytes:
    return value.encode("latin-1", errors="replace") + b"\0"


def _udp_ports(server: Server) -> Set[int]:
    return {port for _address, port in server.udp}


def _reaches(destination: Tuple[str, int], server: Server) -> bool:
    """Would a search sent to ``destination`` be delivered to one of ``server``'s UDP sockets?"""
    host, port = destination
    for address, bound_port in server.udp:
        if bound_port != port:
            continue
        if address in ("0.0.0.0", host) or host == "255.255.255.255":
            return True
    return False


def explain(name: str, found: Sequence[Tuple[str, int]], holders: Sequence[Server],
            env: Environment, servers: Sequence[Server]) -> List[str]:
    """Plain-words diagnosis for one PV (pure: no I/O).

    Args:
        found: the ``(address, TCP port)`` answers to the UDP search.
        holders: the local servers that have the PV when asked over TCP.
        env: the client's EPICS settings.
        servers: every CA server on this host.
    """
    lines = []
    if len(found) > 1:
        lines.append(f"{name}: answered by {len(found)} servers "
                     f"({', '.join(f'{h}:{p}' for h, p in found)}): two IOCs serve the same "
                     "name; clients take whichever answers first. Give each IOC its own "
                     "--prefix.")
    elif found:
        lines.append(f"{name}: found at {found[0][0]} TCP port {found[0][1]}.")
    if found:
        return lines
    destinations = env.destinations()
    if not destinations:
        return [f"{name}: NOT FOUND. No search address at all: EPICS_CA_AUTO_ADDR_LIST=NO and "
                "EPICS_CA_ADDR_LIST is empty. Set EPICS_CA_ADDR_LIST=127.0.0.1 for IOCs on "
                "this host (or the IOC host's address)."]
    if not holders:
        return [f"{name}: NOT FOUND. No CA server on this host has it (checked "
                f"{len(servers)} over TCP). Check the spelling and the IOC's --prefix; if the "
                "IOC runs on another host, put that host in EPICS_CA_ADDR_LIST and make sure "
                f"its firewall lets UDP {env.port} and the IOC's TCP port through."]
    lines.append(f"{name}: NOT FOUND by searching "
                 f"{', '.join(f'{h}:{p}' for h, p in destinations)}, but served on this host "
                 f"by {_label(holders[0])}.")
    server = holders[0]
    ports = _udp_ports(server)
    if not ports:
        lines.append("  Its UDP search port is not known from /proc: compare the IOC's "
                     f"EPICS_CAS_SERVER_PORT with your EPICS_CA_SERVER_PORT ({env.port}).")
    elif env.port not in ports and not any(_reaches(d, server) for d in destinations):
        wanted = sorted(ports)[0]
        lines.append(f"  Port: that IOC answers searches on UDP port {wanted}, your client "
                     f"searches port {env.port}. Set EPICS_CA_SERVER_PORT={wanted} in the "
                     "client's shell (or start the IOC with EPICS_CAS_SERVER_PORT="
                     f"{env.port}).")
    elif not any(_reaches(d, server) for d in destinations):
        bound = sorted({address for address, _port in server.udp})
        lines.append(f"  Interface: that IOC listens on {', '.join(bound)} only "
                     "(EPICS_CAS_INTF_ADDR_LIST / --interfaces) and no search goes there. Add "
                     f"{bound[0] if bound[0] != '0.0.0.0' else '127.0.0.1'} to "
                     "EPICS_CA_ADDR_LIST.")
    else:
        sharing = [other for other in servers if other is not server
                   and _udp_ports(other) & ports]
        if sharing:
            lines.append(f"  Second IOC: {_label(sharing[0])} shares UDP port "
                         f"{sorted(ports)[0]} on this host, and a unicast search reaches only "
                         "one of them. Give each IOC its own port (EPICS_CAS_SERVER_PORT=<n>) and "
                         "list each in the clients' EPICS_CA_ADDR_LIST as 127.0.0.1:<n>.")
        else:
            lines.append("  The IOC did not answer the search in time: it may be busy or "
                         "stopped (SIGSTOP), or a firewall drops UDP on this host.")
    return lines


def _label(server: Server) -> str:
    tcp = ", ".join(f"{address}:{port}" for address, port in server.tcp)
    who = f"pid {server.pid} ({server.command})" if server.pid else "a process of another user"
    return f"{who}, TCP {tcp}"


def report(pvs: Sequence[str], environ: Mapping[str, str] = os.environ) -> Tuple[List[str], bool]:
    """The doctor's report as lines, and whether every PV was found."""
    env = Environment.from_environ(environ)
    lines = ["EPICS environment:"]
    for variable, default, meaning in _CA_VARIABLES:
        value = environ.get(variable)
        shown = value if value is not None else f"(unset: {default or 'empty'})"
        lines.append(f"  {variable:<26} {shown:<20} {meaning}")
    addresses = host_addresses()
    lines.append("This host's addresses: " + (", ".join(
        f"{address} ({name})" for address, name in sorted(addresses.items())) or "unknown"))
    servers = ca_servers()
    lines.append(f"CA servers on this host: {len(servers)}")
    for server in servers:
        udp = ", ".join(f"{address}:{port}" for address, port in server.udp)
        lines.append(f"  {_label(server)}; UDP {udp}")
    lines.append(_search_port_line(listening("udp", env.port), env.port, servers))
    lines.append(_repeater_line(listening("udp", env.repeater_port), env.repeater_port))
    answers = search(pvs, env.destinations())
    for name in pvs:
        found = answers[name]
        holders = [] if found else [server for server in servers if any(
            has_pv(address, name) for address in server.tcp)]
        lines.extend(explain(name, found, holders, env, servers))
    return lines, all(answers.values())


def _search_port_line(sockets: Sequence[Socket], port: int, servers: Sequence[Server]) -> str:
    """Who receives searches sent to ``port`` on this host; flags a port clash."""
    if not sockets:
        return f"Search port: nothing on this host listens on UDP {port} (EPICS_CA_SERVER_PORT)."
    ca_pids = {server.pid for server in servers}
    strangers = sorted({f"pid {sock.pid} ({sock.command})" for sock in sockets
                        if sock.pid is not None and sock.pid not in ca_pids})
    holders = f"Search port: UDP {port} is held by {len(sockets)} socket(s)"
    if strangers:
        return (f"{holders}; PORT CLASH: {', '.join(strangers)} is not a Channel Access "
                f"server, and searches sent to port {port} may go to it. Stop it, or move "
                "the IOCs and their clients to another port (EPICS_CAS_SERVER_PORT, "
                "EPICS_CA_SERVER_PORT).")
    return holders + "."


def _repeater_line(sockets: Sequence[Socket], port: int) -> str:
    if not sockets:
        return (f"CA repeater: none on UDP port {port}. C clients start caRepeater "
                "themselves; without one, beacons are not relayed and clients notice a "
                "restarted IOC later (searches still work).")
    owner = sockets[0]
    who = f"pid {owner.pid} ({owner.command})" if owner.pid else "another user's process"
    return f"CA repeater: UDP port {port}, {who}."
