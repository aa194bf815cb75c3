"""The start script and the systemd unit: the script runs the IOC of a virtual environment
(or says why not), and the unit starts the script with options the IOC has."""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
START = ROOT / "bin" / "start-{{ cookiecutter.__service }}"
UNIT = ROOT / "systemd" / "{{ cookiecutter.__service }}.service"


def start(*args, venv):
    env = dict(os.environ, IOC_VENV=str(venv))
    return subprocess.run([str(START), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def parse_unit(text):
    """``{section: {key: [values]}}`` in systemd's syntax (keys repeat; ``#`` and ``;``
    start comments; a trailing backslash continues a line)."""
    sections, current = {}, None
    for number, line in enumerate(text.replace("\\\n", " ").splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, equals, value = line.partition("=")
        assert equals and current is not None, f"{UNIT.name}:{number}: not key=value: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_start_script_without_an_environment_says_so(tmp_path):
    result = start("--help", venv=tmp_path / "missing")
    assert result.returncode == 2
    assert f"no virtual environment at {tmp_path / 'missing'}" in result.stderr


@pytest.fixture(scope="module")
def help_text():
    if not (Path(sys.prefix) / "bin" / "activate").is_file():
        pytest.skip("the tests do not run in a virtual environment")
    result = start("--help", venv=sys.prefix)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_start_script_runs_the_ioc_of_the_environment(help_text):
    assert "{{ cookiecutter.pv_prefix }}LEVEL_RBV" in help_text


def test_unit_starts_the_start_script_with_options_the_ioc_has(help_text):
    unit = parse_unit(UNIT.read_text())
    service = unit["Service"]
    assert service["Restart"] == ["on-failure"]
    assert service["User"][0]
    for assignment in service["Environment"]:
        for variable in shlex.split(assignment):
            name, equals, _ = variable.partition("=")
            assert name.isidentifier() and equals, f"Environment={assignment}: not NAME=value"
    program, *options = shlex.split(service["ExecStart"][0])
    assert program == service["WorkingDirectory"][0] + "/bin/" + START.name
    for option in options:
        if option.startswith("-"):
            assert f" {option.split('=')[0]} " in help_text, f"the IOC has no option {option}"
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path):
    # systemd checks that the program exists: point the unit at this checkout's script
    unit = parse_unit(UNIT.read_text())
    program = shlex.split(unit["Service"]["ExecStart"][0])[0]
    (tmp_path / UNIT.name).write_text(UNIT.read_text().replace(program, str(START)))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", UNIT.name],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
