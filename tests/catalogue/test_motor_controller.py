"""The motion controller IOC on its simulator: the contract, the motor-record fields, and real
clients moving ``MC:M1``: ophyd's EpicsMotor, a bluesky scan, pyepics and iocgate.client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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

    def test_a_target_outside_the_soft_limits_is_refused_and_nothing_moves(self, ioc):
        before = ioc.value("M1.RBV")
        refused = ioc.caput("M1.VAL", 30)
        assert refused.returncode == 1 and "write request failed" in refused.stderr
        assert ioc.value("M1.RBV") == before and ioc.value("M1.DMOV") == 1

    def test_the_end_switch_stops_a_move_and_sets_hls(self, ioc):
        ioc.put("M1.VELO", [200.0])
        ioc.put("M1.DHLM", [30.0])  # beyond the 25 mm travel of the stage
        try:
            assert ioc.put("M1.VAL", [28.0]).status.success
            assert ioc.value("M1.RBV") == pytest.approx(25.0)
            assert ioc.value("M1.HLS") == 1 and ioc.value("M1.VAL") == pytest.approx(25.0)
        finally:
            assert ioc.put("M1.VAL", [0.0]).status.success
            ioc.put("M1.DHLM", [25.0])
        assert ioc.value("M1.HLS") == 0

    def test_stop_ends_a_move_early(self, ioc):
        ioc.put("M1.VELO", [1.0])
        try:
            ioc.put("M1.VAL", [10.0], wait=False)
            self.wait(lambda: ioc.value("M1.MOVN") == 1)
            ioc.put("M1.STOP", [1])
            self.wait(lambda: ioc.value("M1.DMOV") == 1)
            assert 0 < ioc.value("M1.RBV") < 9 and ioc.value("M1.STOP") == 0
        finally:
            ioc.put("M1.VELO", [200.0])
            assert ioc.put("M1.VAL", [0.0]).status.success

    def test_tweaks_and_homing_free_the_circuit_and_complete_at_the_end(self, ioc):
        ioc.put("M1.VELO", [2.0])
        ioc.put("M1.TWV", [1.0])
        try:
            start = ioc.value("M1.RBV")
            ioc.put("M1.TWF", [1], wait=False)
            # the same circuit answers while the axis moves (the put does not hold it)
            self.wait(lambda: ioc.value("M1.MOVN") == 1)
            assert ioc.value("M1.TWF") == 0
            self.wait(lambda: ioc.value("M1.DMOV") == 1)
            assert ioc.put("M1.TWR", [1], timeout=10).status.success  # completes at the end
            assert ioc.value("M1.DMOV") == 1
            assert ioc.value("M1.RBV") == pytest.approx(start)
            assert ioc.put("M1.VAL", [1.0], timeout=10).status.success
            ioc.put("M1.HOMR", [1], wait=False)
            self.wait(lambda: ioc.value("M1.MOVN") == 1)
            assert ioc.value("M1.HOMR") == 1  # 1 while the search runs
            self.wait(lambda: ioc.value("M1.HOMR") == 0)
            assert ioc.value("M1.DMOV") == 1 and ioc.value("M1.DRBV") == pytest.approx(0.0)
            assert ioc.put("M1.VAL", [1.0], timeout=10).status.success
            assert ioc.put("M1.HOMF", [1], timeout=10).status.success  # completes when homed
            assert ioc.value("M1.HOMF") == 0 and ioc.value("M1.DMOV") == 1
            assert ioc.value("M1.DRBV") == pytest.approx(0.0)
        finally:
            ioc.put("M1.VELO", [50.0])
            assert ioc.put("M1.VAL", [0.0], timeout=10).status.success

    def test_the_readback_alarms_with_the_link_and_a_fresh_timestamp(self, ioc):
        from caproto import AlarmSeverity, AlarmStatus

        faults = ioc.simulation.handle.faults
        before = time.time()
        faults.withhold = True  # a hung controller
        try:
            self.wait(lambda: ioc.value("CONNECTED") == "Disconnected")
            # the link-down pass raised it, before CONNECTED dropped (not a later poll)
            alarm = ioc.get("M1.RBV", data_type="time").metadata
            assert (alarm.status, alarm.severity) == (AlarmStatus.TIMEOUT,
                                                      AlarmSeverity.INVALID_ALARM)
            assert alarm.timestamp >= before  # stamped when it was raised
        finally:
            faults.withhold = False
        self.wait(lambda: ioc.get("M1.RBV", data_type="time").metadata.severity == 0)

    def test_set_mode_redefines_the_user_position_without_moving(self, ioc):
        dial = ioc.value("M1.DRBV")
        ioc.put("M1.SET", "Set")
        try:
            assert ioc.put("M1.VAL", [10.0]).status.success
        finally:
            ioc.put("M1.SET", "Use")
        assert ioc.value("M1.RBV") == pytest.approx(10.0)
        assert ioc.value("M1.DRBV") == pytest.approx(dial)
        assert ioc.value("M1.OFF") == pytest.approx(10.0 - dial)
        assert ioc.value("M1.HLM") == pytest.approx(25.0 + 10.0 - dial)
        ioc.put("M1.OFF", [0.0])
        assert ioc.value("M1.RBV") == pytest.approx(dial)

    def test_the_bare_record_name_is_val(self, ioc):
        assert ioc.value("M1") == ioc.value("M1.VAL")
