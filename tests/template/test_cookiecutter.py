"""The cookiecutter template, run by the real cookiecutter: the package it generates renders
the choices given, imports only iocgate, lints clean, and, installed in a fresh virtual
environment exactly as its README says, passes its own tests and serves its PVs."""

from __future__ import annotations

import ast
import importlib.util
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Set, Tuple

import pytest

from iocgate.testing import epics_tool, free_port, loopback_env, wait_for

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "cookiecutter"
#: the choices a user types (loopback addresses only, even in text)
CHOICES = {"instrument_name": "Lab Source", "pv_prefix": "LAB:", "units": "mA",
           "low_limit": "-5", "high_limit": "5", "tcp_port": "5999",
           "device_host": "127.0.0.1", "service_user": "labioc", "install_dir": "/srv/lab-ioc",
           "ca_server_port": "5080", "ca_interfaces": "127.0.0.1"}
#: seconds for a fresh venv, the install (iocgate built from this checkout) and the tests
INSTALL_AND_TEST = 300.0


@pytest.fixture
def package(tmp_path: Path) -> Path:
    cookiecutter = pytest.importorskip("cookiecutter.main")
    out = Path(cookiecutter.cookiecutter(str(TEMPLATE), no_input=True, extra_context=CHOICES,
                                         output_dir=str(tmp_path), default_config=True))
    assert out.name == "lab_source_ioc"
    return out


def imported_modules(package: Path) -> Set[str]:
    """The top-level names of every module the package's Python files import."""
    names: Set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def is_standard_library(name: str) -> bool:
    spec = importlib.util.find_spec(name)
    origin = spec.origin if spec is not None else None
    if origin in ("built-in", "frozen"):
        return True
    return origin is not None and "site-packages" not in origin \
        and Path(origin).is_relative_to(sysconfig.get_paths()["stdlib"])


def test_package_renders_the_choices_and_imports_only_iocgate(package: Path) -> None:
    unit = (package / "systemd" / "lab-source-ioc.service").read_text()
    for line in ("User=labioc", "WorkingDirectory=/srv/lab-ioc",
                 "Environment=EPICS_CA_SERVER_PORT=5080",
                 'Environment="EPICS_CAS_INTF_ADDR_LIST=127.0.0.1"',
                 "ExecStart=/srv/lab-ioc/bin/start-lab-source-ioc --prefix LAB: "
                 "--host 127.0.0.1 --port 5999", "Restart=on-failure"):
        assert line in unit.splitlines(), line
    assert os.access(package / "bin" / "start-lab-source-ioc", os.X_OK)
    requirements = [line.strip() for line in (package / "setup.cfg").read_text().splitlines()]
    assert f"iocgate @ {ROOT.as_uri()}" in requirements
    ioc = (package / "lab_source_ioc" / "ioc.py").read_text()
    assert "LOW, HIGH = -5, 5  # mA" in ioc and 'default_port=5999' in ioc
    foreign = {name for name in imported_modules(package) - {"lab_source_ioc", "iocgate",
                                                             "pytest"}
               if not is_standard_library(name)}
    assert not foreign, f"the generated package imports {foreign} (only iocgate allowed)"


def test_package_lints_clean(package: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."],
                            cwd=package, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def readme_install_command(package: Path) -> str:
    """The command of the first literal block under the README's "Install and test"."""
    section = (package / "README.rst").read_text().split("Install and test\n", 1)[1]
    block = re.search(r"\n::\n\n((?:    .*\n)+)", section)
    assert block, "no literal block under 'Install and test'"
    lines = [line[4:] for line in block.group(1).splitlines()]
    assert len(lines) == 1, lines
    return lines[0]


def fresh_env(ca_port: int) -> Dict[str, str]:
    """This process's environment without its Python paths or virtual environment, with the
    test's interpreter first on PATH (as ``python3``) and Channel Access on loopback."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(loopback_env(ca_port))
    return env


@pytest.fixture
def processes() -> Iterator[list]:
    """Processes started in sessions of their own; whatever they leave is killed."""
    started: list = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        try:
            os.killpg(process.pid, signal.SIGKILL)  # a leftover child of the session
        except ProcessLookupError:
            pass


def start(processes: list, command: List[str], env: Dict[str, str], cwd: Path
          ) -> subprocess.Popen:
    """Start ``command`` in a session of its own, stdout and stderr on one pipe."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                               start_new_session=True)
    processes.append(process)
    return process


def lines_of(process: subprocess.Popen) -> queue.Queue[str]:
    """The process's output lines as they come; ``""`` at its end."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    return lines


def read_until(lines: queue.Queue[str], done: Callable[[List[str]], bool], what: str,
               timeout: float = 60.0) -> str:
    """Collect output lines until ``done(lines so far)``; fail after ``timeout`` s or at the
    output's end."""
    seen: List[str] = []
    deadline = time.monotonic() + timeout
    while not done(seen):
        try:
            seen.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            pytest.fail(f"no {what} within {timeout} s:\n" + "".join(seen))
        assert seen[-1], f"output ended before {what}:\n" + "".join(seen)
    return "".join(seen)


def unit_service(package: Path, device_port: int, ca_port: int
                 ) -> Tuple[Dict[str, str], List[str]]:
    """The unit's ``Environment=`` variables and its ``ExecStart=`` command, run from the
    package directory instead of the install directory, the device and CA ports replaced
    (by ports free now: the unit's would be taken on a busy machine, in time)."""
    lines = (package / "systemd" / "lab-source-ioc.service").read_text().splitlines()
    environment = dict(shlex.split(line[len("Environment="):])[0].split("=", 1)
                       for line in lines if line.startswith("Environment="))
    assert environment.pop("EPICS_CA_SERVER_PORT") == CHOICES["ca_server_port"]
    command = next(line[len("ExecStart="):] for line in lines if line.startswith("ExecStart="))
    command = command.replace(CHOICES["install_dir"], str(package))
    assert f" --port {CHOICES['tcp_port']}" in command, command
    command = command.replace(f" --port {CHOICES['tcp_port']}", f" --port {device_port}")
    return {**environment, "EPICS_CA_SERVER_PORT": str(ca_port)}, shlex.split(command)


@pytest.mark.slow
def test_installed_as_its_readme_says_it_passes_its_tests_and_serves(
        package: Path, processes: list) -> None:
    command = readme_install_command(package)
    assert "pip install" in command and "pytest" in command, command
    tests = start(processes, ["bash", "-c", f"set -euo pipefail; {command}"],
                  fresh_env(free_port()), package)
    output, _ = tests.communicate(timeout=INSTALL_AND_TEST)
    assert tests.returncode == 0, output[-4000:]
    summary = output.strip().splitlines()[-1]
    # the unit's systemd-analyze check is the one test that may skip, and only without it
    passed = r"\d+ passed" + (", 1 skipped" if shutil.which("systemd-analyze") is None else "")
    assert re.fullmatch(passed + r" in .*", summary), summary

    # the service as systemd starts it (its Environment and ExecStart, from the package
    # directory), with --list-pvs, against the package's standalone simulator
    simulator = start(processes, [str(package / ".venv" / "bin" / "python"), "-m",
                                  "lab_source_ioc.simulator", "--port", "0"],
                      fresh_env(free_port()), package)
    listening = read_until(lines_of(simulator), lambda seen: bool(seen), "simulator's address")
    assert listening.startswith("listening on 127.0.0.1:"), listening
    ca_port = free_port()
    environment, service = unit_service(package, int(listening.split(":")[-1]), ca_port)
    assert service[0] == str(package / "bin" / "start-lab-source-ioc")
    ioc = start(processes, [*service, "--list-pvs"], {**fresh_env(ca_port), **environment},
                package)
    names = {f"LAB:{name}\n" for name in ("LEVEL", "LEVEL_RBV", "OUTPUT", "OUTPUT_RBV", "IDN",
                                          "CONNECTED")}
    served = read_until(lines_of(ioc), lambda seen: names <= set(seen), "PV list")
    assert f"TCP port {ca_port}" in served and "simulator" not in served, served
    caget = [str(epics_tool("caget")), "-w", "5", "-t", "LAB:CONNECTED"]
    wait_for(lambda: subprocess.run(caget, env=fresh_env(ca_port), capture_output=True,
                                    text=True, timeout=30).stdout.strip() == "Connected",
             timeout=30, what="LAB:CONNECTED == Connected (caget)")
    for process in (ioc, simulator):
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
