"""The pytest plugin leaves an unrelated project's EPICS environment alone: only iocgate's
fixtures change it, for the test that uses them (a pytest run in a child process)."""

from __future__ import annotations

import os
import subprocess
import sys

PROJECT_TESTS = '''
import os

def test_environment_untouched():
    assert os.environ.get("EPICS_CA_ADDR_LIST") == "10.9.8.7"
    assert "EPICS_CA_REPEATER_PORT" not in os.environ

def test_fixture_sets_loopback_for_its_test(ca_env, ca_port):
    assert os.environ["EPICS_CA_ADDR_LIST"] == "127.0.0.1"
    assert os.environ["EPICS_CA_SERVER_PORT"] == str(ca_port) == ca_env["EPICS_CA_SERVER_PORT"]
    assert os.environ["EPICS_CA_REPEATER_PORT"] == ca_env["EPICS_CA_REPEATER_PORT"]

def test_environment_restored_afterwards():
    assert os.environ.get("EPICS_CA_ADDR_LIST") == "10.9.8.7"
'''


def test_plugin_changes_the_environment_only_inside_its_fixtures(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_project.py").write_text(PROJECT_TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPICS_")}
    env["EPICS_CA_ADDR_LIST"] = "10.9.8.7"  # the project's own setting; never contacted
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                           "-p", "no:cacheprovider", "test_project.py"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
