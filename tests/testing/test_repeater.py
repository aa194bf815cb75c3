"""The private CA repeater: clients whose output is captured must not hang on a stray one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from iocgate.server._repeater import repeater_running
from iocgate.testing import ca_repeater, epics_tool, free_port, subprocess_env


def _udp_bindable(port: int) -> bool:
    return not repeater_running(port)


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


def test_repeater_ends_with_the_process_that_started_it(tmp_path) -> None:
    # A test run killed from outside (SIGKILL: no cleanup runs) must not leave a repeater.
    script = ("import sys, time\n"
              "from iocgate.testing import start_repeater\n"
              "r = start_repeater()\n"
              "print(r.process.pid, r.port, flush=True)\n"
              "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              text=True)
    try:
        pid, port = map(int, parent.stdout.readline().split())
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # the kernel signals it; nothing to wait on from here
    assert not _alive(pid)
    assert _udp_bindable(port)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
