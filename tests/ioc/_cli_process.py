"""Run an IOC as ``python -m iocs.<name>`` and drive it with the real EPICS tools and pyepics."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import pytest

from iocgate.ioc._cli import describe_pvs
from iocgate.testing import epics_tool, free_port, subprocess_env

ASYNC_LIBS = ("asyncio", "curio", "trio")
#: seconds an IOC process may take to answer its first caget (the machine is shared)
START_TIMEOUT = 30.0
#: seconds any one EPICS tool run may take
TOOL_TIMEOUT = 20.0
#: seconds an IOC may take to exit after SIGTERM
STOP_TIMEOUT = 15.0
SIMULATOR_NOTICE = "no device address given: running the built-in simulator"


class IocProcess:
    """One ``python -m <module>`` IOC on its own CA port, with its output in ``log_path``.

    Args:
        module: e.g. ``"iocs.power_supply"``.
        ready_pv: a PV whose successful ``caget`` means the IOC is up.
        log_dir: where stdout+stderr go.
        args: extra command-line arguments (e.g. ``--async-lib trio``).
        ignore_sigint: start it with SIGINT ignored, as a shell starts a job with ``&``.
        command: the interpreter's arguments instead of ``-m module --list-pvs args``.
    """

    def __init__(self, module: str, ready_pv: str, log_dir: Path, args: Sequence[str] = (),
                 ignore_sigint: bool = False, command: Optional[Sequence[str]] = None):
        self.module = module
        self.ready_pv = ready_pv
        self.port = free_port()
        self.env: Dict[str, str] = subprocess_env(self.port)
        self.log_path = log_dir / f"{module}-{self.port}.log"
        self.args = list(args)
        self.command = list(command) if command is not None else [
            "-m", module, "--list-pvs", *self.args]
        self.process: Optional[subprocess.Popen] = None
        self._ignore_sigint = ignore_sigint

    def start(self) -> IocProcess:
        """Start the IOC; return once ``caget ready_pv`` succeeds.

        Raises:
            AssertionError: it exited, or did not answer within START_TIMEOUT s.
        """
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, *self.command],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_ignore_sigint if self._ignore_sigint else None)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            # caget's own -w timeout paces this loop (no sleep)
            if self.tool("caget", "-w", "0.5", self.ready_pv).returncode == 0:
                return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop(check=False)
                raise AssertionError(f"{self.module} did not start:\n{self.log()}")

    def stop(self, check: bool = True, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` to the IOC and wait for it to exit; returns its exit code
        (asserted 0 with ``check``)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
            raise AssertionError(f"{self.module} ignored SIGTERM:\n{self.log()}") from None
        if check:
            assert code == 0, f"{self.module} exited with {code}:\n{self.log()}"
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # -- EPICS tools -----------------------------------------------------------------------
    def tool(self, name: str, *args: str) -> subprocess.CompletedProcess:
        """Run the real EPICS binary ``name`` against this IOC."""
        return subprocess.run([str(epics_tool(name)), *args], env=self.env,
                              capture_output=True, text=True, timeout=TOOL_TIMEOUT)

    def start_tool(self, name: str, *args: str) -> subprocess.Popen:
        """Start the real EPICS binary ``name`` against this IOC without waiting for it."""
        return subprocess.Popen([str(epics_tool(name)), *args], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def caget(self, pv: str, *args: str) -> str:
        """``caget -t [args] pv``'s value text (asserts success)."""
        result = self.tool("caget", "-t", *args, pv)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def caput(self, pv: str, value: str, completion: bool = True
              ) -> subprocess.CompletedProcess:
        """``caput -c -w 10 pv value`` (or a plain ``caput`` without completion)."""
        args = ("-c", "-w", "10") if completion else ()
        return self.tool("caput", *args, pv, value)

    def ctrl(self, pv: str) -> Dict[str, str]:
        """``caget -d DBR_CTRL_DOUBLE pv`` as a field -> text mapping."""
        result = self.tool("caget", "-d", "DBR_CTRL_DOUBLE", pv)
        assert result.returncode == 0, result.stderr
        fields = {}
        for line in result.stdout.splitlines()[1:]:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        return fields

    def monitor(self, pvs: Sequence[str], done: Callable[[List[str]], bool],
                timeout: float = 15.0, action: Optional[Callable[[], None]] = None
                ) -> List[str]:
        """:func:`camonitor` against this IOC."""
        return camonitor(self.env, pvs, done, timeout, action)

    def pyepics(self, code: str) -> object:
        """Run ``code`` with pyepics in a child Python (libca reads this IOC's env there);
        ``code`` must print one JSON document, which is returned."""
        result = subprocess.run([sys.executable, "-c", "import epics, json\n" + code],
                                env=self.env, capture_output=True, text=True,
                                timeout=TOOL_TIMEOUT * 2)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])


def camonitor(env: Dict[str, str], pvs: Sequence[str], done: Callable[[List[str]], bool],
              timeout: float = 15.0, action: Optional[Callable[[], None]] = None) -> List[str]:
    """Run ``camonitor pvs`` with ``env``; call ``action`` after the first line per PV;
    collect lines until ``done(lines)``; terminate it. Returns the lines.

    The raw bytes are split here: a buffered reader would keep the second of two lines that
    arrive in one chunk in its buffer, where ``select`` does not see it.

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


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # kept across exec, as SIG_IGN is


def ioc_processes(module: str, ready_pv: str, async_lib: str,
                  factory: pytest.TempPathFactory) -> Iterator[IocProcess]:
    """Fixture body: one started IOC process; stopped with SIGTERM and exit code 0 checked."""
    ioc = IocProcess(module, ready_pv, factory.mktemp("ioc"), ["--async-lib", async_lib])
    ioc.start()
    try:
        yield ioc
    finally:
        ioc.stop()


def assert_logged_pv_list(ioc: IocProcess, ioc_class: type) -> None:
    """``--list-pvs`` logged every PV ``ioc_class`` declares (under its default prefix)."""
    log = ioc.log()
    assert "PVs available:" in log, log
    listed = set(log.split("PVs available:", 1)[1].split())
    declared = {name for name, *_ in describe_pvs(ioc_class, ioc_class.default_prefix)}
    assert declared <= listed, declared - listed


def monitored_values(lines: Sequence[str]) -> List[str]:
    """The value column of camonitor lines (``NAME  DATE TIME VALUE [STAT SEVR]``)."""
    return [line.split()[3] for line in lines if len(line.split()) >= 4]


# --------------------------------------------------------------------------------------------
