"""The private CA repeater: clients whose output is captured must not hang on a stray one."""

from __future__ import annotations

import os
import socket
import subprocess

from iocgate.testing import LOOPBACK, ca_repeater, epics_tool, free_port, subprocess_env


def _udp_bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def test_plugin_runs_a_repeater_for_the_session() -> None:
    port = int(os.environ["EPICS_CA_REPEATER_PORT"])
    assert os.environ["EPICS_CAS_BEACON_PORT"] == str(port)
    assert not _udp_bindable(port), "nothing holds the session's repeater port"


def test_captured_c_client_returns_when_its_repeater_runs() -> None:
    with ca_repeater() as repeater:
        assert not _udp_bindable(repeater.port)
        env = subprocess_env(free_port())
        assert env["EPICS_CA_REPEATER_PORT"] == str(repeater.port)
        # No server: caget reports the missing channel. With no repeater it would start one
        # that inherits the pipes below, and run() would wait for end-of-file forever.
        done = subprocess.run([str(epics_tool("caget")), "-w", "0.2", "NO:SUCH:PV"], env=env,
                              capture_output=True, text=True, timeout=30)
        assert "NO:SUCH:PV" in done.stderr + done.stdout
    assert repeater.process.poll() is not None
    assert _udp_bindable(repeater.port)
    assert os.environ["EPICS_CA_REPEATER_PORT"] != str(repeater.port)
