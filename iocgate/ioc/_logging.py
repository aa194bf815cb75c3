"""Log set-up of an IOC process and its start-up line.

Verbosity (``-q``, default, ``-v``, ``-vv``):

* ``-q``: warnings and errors only;
* default: the start-up line, device errors and recoveries;
* ``-v``: also every client connect and disconnect, and every put (who, PV, old -> new);
* ``-vv``: also every Channel Access request received, and the debug messages of iocgate
  (and of caproto, which its argument parser turns on).
"""

from __future__ import annotations

import logging
import logging.handlers
from typing import Any, Mapping, Optional, Sequence

#: ``--log-file`` rotates at this size (bytes) and keeps this many old files
LOG_FILE_BYTES = 10_000_000
LOG_FILE_BACKUPS = 5
_FORMAT = "[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"


def configure_logging(verbose: int = 0, quiet: bool = False,
                      log_file: Optional[str] = None) -> None:
    """Route the ``iocgate`` loggers to stderr (and ``log_file``, rotated) at the level the
    verbosity asks for (see the module docstring). Safe to call more than once."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    root = logging.getLogger("iocgate")
    root.setLevel(level)
    logging.getLogger("iocgate.server.clients").setLevel(
        logging.INFO if verbose >= 1 else logging.WARNING)
    logging.getLogger("iocgate.server.wire").setLevel(
        logging.DEBUG if verbose >= 2 else logging.WARNING)
    formatter = logging.Formatter(_FORMAT, "%H:%M:%S")
    if not any(type(handler) is logging.StreamHandler for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(formatter)
        root.addHandler(handler)
    if log_file and not any(getattr(handler, "baseFilename", None) == log_file
                            for handler in root.handlers):
        rotating = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8")
        rotating.setFormatter(logging.Formatter(_FORMAT.replace("%(asctime)s",
                                                                "%(asctime)s.%(msecs)03d"),
                                                "%Y-%m-%dT%H:%M:%S"))
        root.addHandler(rotating)


def startup_line(name: str, prefix: str, pv_count: int, interfaces: Sequence[str],
                 tcp_port: Optional[int], udp_port: int, device: Optional[Mapping[str, Any]],
                 simulated: bool, tcp_note: str = "") -> str:
    """``PowerSupplyIOC: 12 PVs, prefix PSU:, on 127.0.0.1, TCP port 5064, UDP port 5064;
    device host=10.0.0.5, port=5025`` (``tcp_port`` None: chosen by the server, not known)."""
    line = (f"{name}: {pv_count} PVs, prefix {prefix or '(none)'}, on {', '.join(interfaces)}, "
            f"TCP port {tcp_port or '(logged by the server)'}{tcp_note}, UDP port {udp_port}; ")
    if device is None:
        return line + "no device"
    address = ", ".join(f"{key}={value}" for key, value in device.items())
    if simulated:
        return line + f"no device address given: running the built-in simulator ({address})"
    return line + f"device {address}"
