"""The cookiecutter template generates an IOC package whose own tests pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "cookiecutter"


def test_generated_package_passes_its_tests(tmp_path: Path) -> None:
    cookiecutter = pytest.importorskip("cookiecutter.main")
    out = cookiecutter.cookiecutter(
        str(TEMPLATE), no_input=True, output_dir=str(tmp_path),
        extra_context={"instrument_name": "Lab Source", "pv_prefix": "LAB:", "units": "mA",
                       "low_limit": "-5", "high_limit": "5"})
    package = Path(out)
    assert package.name == "lab_source_ioc"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(package), *sys.path]))
    help_text = subprocess.run([sys.executable, "-m", "lab_source_ioc", "--help"], cwd=package,
                               env=env, capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0, help_text.stderr
    assert "LAB:SETPOINT" in help_text.stdout and "mA" in help_text.stdout
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                            cwd=package, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "4 passed" in result.stdout
