"""Starts the safety test IOC again and again, fast: a process that imported iocgate once
and forks an IOC on request (no interpreter start-up per round of the kill -9 test).

Protocol on stdin/stdout, one line each: ``start ARGS...`` -> ``started PID``;
``kill`` -> ``killed PID`` (SIGKILL, then reaped); EOF ends it (killing a running IOC).
Each IOC's output goes to the file named by ``ZYGOTE_LOG``.
"""

from __future__ import annotations

import asyncio  # noqa: F401 - imported once here rather than in every child
import os
import signal
import sys

from safety_ioc import SafetyIOC

import iocgate.server  # noqa: F401 - likewise
from iocgate.ioc import run_ioc


def _child(args: list) -> None:
    log = os.open(os.environ["ZYGOTE_LOG"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        run_ioc(SafetyIOC, args)
    finally:
        os._exit(0)


def main() -> None:
    pid = None
    for line in sys.stdin:
        command, *args = line.split()
        if command == "start":
            pid = os.fork()
            if pid == 0:
                _child(args)
            print("started", pid, flush=True)
        elif command == "kill" and pid is not None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print("killed", pid, flush=True)
            pid = None
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
