"""Shared helpers for the IOC-layer tests."""

from __future__ import annotations

import subprocess
from typing import Dict, List

import pytest

from iocgate.testing import epics_tool, subprocess_env

#: seconds any single EPICS command-line tool may take
TOOL_TIMEOUT = 20


@pytest.fixture
def ca_tool(ca_port: int):
    """``run("caget", "-t", "PV") -> CompletedProcess`` with the real EPICS binary."""
    env: Dict[str, str] = subprocess_env(ca_port)

    def run(tool: str, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        cmd: List[str] = [str(epics_tool(tool)), *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=TOOL_TIMEOUT, check=check)

    return run
