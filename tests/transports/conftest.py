"""An echo instrument served by the real LineSimulator over TCP and a pseudo-terminal."""

from __future__ import annotations

from typing import Iterator, Optional

import pytest

from iocgate.sim import LineSimulator


def echo(line: str) -> Optional[str]:
    """``ECHO x`` -> ``x``; ``QUIET`` -> no reply; anything else -> ``?``."""
    if line.startswith("ECHO "):
        return line[5:]
    return None if line == "QUIET" else "?"


@pytest.fixture
def sim() -> Iterator[LineSimulator]:
    with LineSimulator(echo, name="echo") as simulator:
        simulator.start_tcp()
        yield simulator


@pytest.fixture
def pty_sim(tmp_path) -> Iterator[tuple]:
    """``(simulator, stable path)``: the path is a symlink that follows pty re-creation."""
    link = str(tmp_path / "ttyECHO")
    with LineSimulator(echo, terminator="\r\n", name="echo-pty") as simulator:
        simulator.start_pty(link=link)
        yield simulator, link
