"""README.rst, run as a newcomer would: every code block, top to bottom.

The rules (also in the README's "Development" section) are generic, so sections added later
are covered without editing this file:

* ``.. code-block:: python``: linted with ruff (the project's rules; names from earlier blocks
  allowed) and run in a fresh interpreter with ``run_name`` other than ``__main__``;
* a ``::`` literal block (or ``.. code-block:: bash``/``shell``/``sh``): bash, ``set -e``;
* any other language (``text``, ``ini``, ...): shown only;
* an RST comment before a block: ``.. readme-test: skip (reason)`` lints only;
  ``background`` runs the block until the end (its last command ``exec``-ed; the next block
  starts once that command printed a line; at the end SIGTERM must give exit code 0);
  ``timeout N`` runs the last command for N s (it may not fail before); ``file NAME`` saves
  the block as NAME in the scratch directory.

Blocks run in a scratch directory called ``iocgate`` (the checkout as the README's commands
see it: a ``.venv/bin/activate`` selecting this interpreter, ``cookiecutter/`` linked to the
template), with the loopback EPICS variables and a free CA port.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from iocgate.testing import free_port, subprocess_env

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.rst"
SHELL = {"shell", "bash", "sh"}
#: seconds one block may run (a background block: until its first line of output)
BLOCK_TIMEOUT = 120.0
SENTINEL = "__readme_test_last_command__"
_DIRECTIVE = re.compile(r"^\.\. readme-test: (skip|background|timeout|file)\b\s*(.*)$")
_CODE_BLOCK = re.compile(r"^(\s*)\.\. code-block:: *(\S+)\s*$")


@dataclass
class Block:
    line: int
    language: str  # "python", "shell" or what the code-block names
    code: str
    mode: str = "run"  # run, skip, background, timeout, file
    argument: str = ""


def blocks(text: str) -> List[Block]:
    """The code blocks of an RST text, with the ``readme-test`` directive before each."""
    lines = text.splitlines()
    found: List[Block] = []
    pending: Optional[tuple] = None
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = _DIRECTIVE.match(line)
        code_block = _CODE_BLOCK.match(line)
        literal = (line.rstrip().endswith("::") and not line.lstrip().startswith("..")
                   and not line.rstrip().endswith(":::"))
        if directive:
            pending = directive.groups()
        if not (code_block or literal):
            index += 1
            continue
        indent = len(line) - len(line.lstrip())
        language = code_block.group(2).lower() if code_block else "shell"
        body, index = _indented_after(lines, index + 1, indent)
        mode, argument = pending if pending else ("run", "")
        found.append(Block(index - len(body), "shell" if language in SHELL else language,
                           textwrap.dedent("\n".join(body)).strip() + "\n", mode,
                           argument.strip()))
        pending = None
    return found


def _indented_after(lines: List[str], index: int, indent: int) -> tuple:
    body: List[str] = []
    while index < len(lines) and (not lines[index].strip()
                                  or len(lines[index]) - len(lines[index].lstrip()) > indent):
        body.append(lines[index])
        index += 1
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    return body, index


def test_block_parser_reads_directives_literals_and_code_blocks():
    sample = textwrap.dedent("""\
        Intro::

            echo one

        .. readme-test: timeout 3

        ::

            camonitor X

        .. contents::
           :local:

        .. readme-test: file a.py

        .. code-block:: python

            x = 1

        .. code-block:: text

            output
        """)
    found = [(b.language, b.code, b.mode, b.argument) for b in blocks(sample)]
    assert found == [("shell", "echo one\n", "run", ""), ("shell", "camonitor X\n", "timeout", "3"),
                     ("python", "x = 1\n", "file", "a.py"), ("text", "output\n", "run", "")]


def test_python_blocks_are_lint_clean(tmp_path):
    python = [b for b in blocks(README.read_text()) if b.language == "python"]
    assert python
    for block in python:
        name = block.argument if block.mode == "file" else f"block_line_{block.line}.py"
        (tmp_path / name).write_text(block.code)
    # F821: a block may use names an earlier one defined; the rest are the project's rules
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--config",
                             str(ROOT / "pyproject.toml"), "--ignore", "F821", "--no-cache",
                             "."], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def scratch(tmp_path) -> Path:
    """``<tmp>/iocgate``: the checkout as the README's commands see it."""
    checkout = tmp_path / "iocgate"
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / ".venv" / "bin" / "activate").write_text(
        f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
    (checkout / "cookiecutter").symlink_to(ROOT / "cookiecutter")
    return checkout


class Background:
    """A block's process whose output lines are collected by a thread."""

    def __init__(self, block: Block, script: str, cwd: Path, env: dict):
        self.block = block
        self.lines: queue.Queue[Optional[str]] = queue.Queue()
        self.output: List[str] = []
        self.process = subprocess.Popen(
            ["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_last_command_output(self) -> None:
        """Return once the last command printed a line (fail if it ended first)."""
        seen_sentinel = False
        while True:
            try:
                line = self.lines.get(timeout=BLOCK_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"README line {self.block.line}: no output in {BLOCK_TIMEOUT} s")
            if line is None:
                pytest.fail(f"README line {self.block.line} ended early "
                            f"({self.process.wait()}):\n{''.join(self.output)}")
            if seen_sentinel:
                return
            seen_sentinel = line.strip() == SENTINEL

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()


def _split_last(code: str) -> str:
    """The script with its last command ``exec``-ed after a sentinel line."""
    lines = code.strip().splitlines()
    return "\n".join(["set -e", *lines[:-1], f"echo {SENTINEL}", "exec " + lines[-1]])


def _run_python(block: Block, cwd: Path, env: dict) -> None:
    path = cwd / f"block_line_{block.line}.py"
    path.write_text(block.code)
    result = subprocess.run(
        [sys.executable, "-c", "import runpy, sys; runpy.run_path(sys.argv[1], "
         "run_name='readme_block')", str(path)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
    assert result.returncode == 0, (f"README line {block.line}:\n{block.code}\n"
                                    f"{result.stdout}{result.stderr}")


def _run_shell(block: Block, cwd: Path, env: dict) -> None:
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.code], cwd=cwd,
                            env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, (f"README line {block.line}:\n{block.code}\n"
                                    f"{result.stdout}{result.stderr}")


def _run_timed(block: Block, cwd: Path, env: dict) -> None:
    job = Background(block, _split_last(block.code), cwd, env)
    try:
        job.wait_for_last_command_output()
        code = job.process.wait(float(block.argument))
        assert code == 0, f"README line {block.line} failed ({code}):\n{''.join(job.output)}"
    except subprocess.TimeoutExpired:  # still running after N s: as the README says
        pass
    finally:
        code = job.stop()
    assert code in (0, -signal.SIGTERM), (f"README line {block.line} ended with {code}:\n"
                                         + "".join(job.output))


@pytest.fixture
def background_jobs() -> Iterator[List[Background]]:
    jobs: List[Background] = []
    yield jobs
    for job in jobs:
        job.stop()


def test_readme_runs_top_to_bottom(scratch, background_jobs):
    env = subprocess_env(free_port())
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for block in blocks(README.read_text()):
        if block.mode == "skip" or block.language not in ("python", "shell"):
            continue
        for job in background_jobs:  # "runs until the README's end"
            assert job.process.poll() is None, (
                f"README line {job.block.line} ended ({job.process.returncode}) before line "
                f"{block.line}:\n" + "".join(job.output))
        if block.mode == "file":
            (scratch / block.argument).write_text(block.code)
        elif block.mode == "background":
            job = Background(block, _split_last(block.code), scratch, env)
            background_jobs.append(job)
            job.wait_for_last_command_output()
        elif block.mode == "timeout":
            _run_timed(block, scratch, env)
        elif block.language == "python":
            _run_python(block, scratch, env)
        else:
            _run_shell(block, scratch, env)
    for job in background_jobs:
        code = job.stop()
        assert code == 0, (f"README line {job.block.line}: exit code {code} on SIGTERM:\n"
                           + "".join(job.output))
