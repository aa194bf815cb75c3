"""The IOC-process harness of ``tests/ioc`` with a camonitor reader that never misses a line.

``IocProcess.monitor`` waits on the pipe with ``select`` and then reads one line through a
buffered text wrapper; when two lines arrive in one chunk (STATE going Stopping then Stopped
within a millisecond), the second waits in the wrapper's buffer while ``select`` sees nothing
more, and the wait times out. This reader splits the raw bytes itself.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from typing import Callable, Dict, List, Optional, Sequence

from iocgate.testing import epics_tool
from tests.ioc._cli_process import TOOL_TIMEOUT, IocProcess


def camonitor(env: Dict[str, str], pvs: Sequence[str], done: Callable[[List[str]], bool],
              timeout: float = 15.0, action: Optional[Callable[[], None]] = None) -> List[str]:
    """Run ``camonitor pvs`` with ``env``; call ``action`` after the first line per PV;
    collect lines until ``done(lines)``; terminate it. Returns the lines.

    Raises:
        AssertionError: ``done`` not reached within ``timeout`` s, or camonitor exited.
    """
    proc = subprocess.Popen([str(epics_tool("camonitor")), *pvs], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    lines: List[str] = []
    pending = b""
    acted = False
    deadline = time.monotonic() + timeout
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while not (len(lines) >= len(pvs) and done(lines)):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise AssertionError(f"camonitor {pvs} within {timeout} s: {lines}")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"camonitor exited: {lines}")
                *complete, pending = (pending + chunk).split(b"\n")
                for raw in complete:
                    lines.append(raw.decode(errors="replace"))
                    if len(lines) >= len(pvs) and done(lines):
                        break
                if action is not None and not acted and len(lines) >= len(pvs):
                    acted = True
                    action()
    finally:
        proc.terminate()
        proc.wait(TOOL_TIMEOUT)
    return lines


class TaskIocProcess(IocProcess):
    def monitor(self, pvs: Sequence[str], done: Callable[[List[str]], bool],
                timeout: float = 15.0, action: Optional[Callable[[], None]] = None
                ) -> List[str]:
        """:func:`camonitor` against this IOC."""
        return camonitor(self.env, pvs, done, timeout, action)
