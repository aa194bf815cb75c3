"""The motion controller IOC on its simulator: the contract, the motor-record fields, and real
clients moving ``MC:M1``: ophyd's EpicsMotor, a bluesky scan, pyepics and iocgate.client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from iocgate.testing import contract_tests, subprocess_env
from iocs.motor_controller import MotorControllerIOC

CLIENTS = Path(__file__).with_name("motor_clients.py")


class TestMotorController(contract_tests(MotorControllerIOC)):
    def test_clients_move_the_axis(self, ioc):
        ioc.put("M1.VELO", [20.0])
        proc = subprocess.run([sys.executable, str(CLIENTS), ioc.prefix + "M1"],
                              env=subprocess_env(ioc.port), capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
        assert seen["ophyd_success"] and seen["ophyd_position"] == pytest.approx(1.5)
        assert seen["ophyd_egu"] == "mm" and seen["ophyd_precision"] == 3
        assert seen["ophyd_limits"] == [-25.0, 25.0]
        assert seen["scan_positions"] == pytest.approx([-1.0, 0.0, 1.0])
        assert seen["pyepics_move"] == 0, seen
        assert seen["pyepics_position"] == pytest.approx(-2.0) and seen["pyepics_dmov"] == 1
        assert seen["pyepics_desc"] == "Axis 1 (SMC100-like stage)"
        assert seen["iocgate_position"] == pytest.approx(0.5)
