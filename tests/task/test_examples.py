"""The example tasks in iocs/ on the simulators: the PID loop (fake clock, and as an IOC
process), the SlowTask-style demo script, and the interlock between two IOCs."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.temperature_controller import TemperatureControllerSimulator
from iocgate.task import TaskState
from iocgate.testing import LOOPBACK, RunningIOC, free_port, loopback_env, start_ioc
from iocs.power_supply import PowerSupplyIOC
from iocs.temperature_controller import TemperatureControllerIOC
from iocs.temperature_pid import HeaterPid
from tests.ioc._cli_process import IocProcess, monitored_values
from tests.ioc._wait import wait_until

from .test_loop_task import FakeClock

ROOT = Path(__file__).resolve().parents[2]


def test_simulated_controller_gives_the_manual_output_in_open_loop():
    clock = FakeClock()
    adapter = TemperatureControllerSimulator(clock=clock)
    for line in ("RANGE 1,2", "SETP 1,400", "OUTMODE 1,3,1,0", "MOUT 1,40", "MOUT 1,140",
                 "OUTMODE 1,2"):
        assert adapter.handle_line(line) is None
    assert [line for line, _ in adapter.errors] == ["MOUT 1,140", "OUTMODE 1,2"]
    assert adapter.handle_line("OUTMODE? 1;MOUT? 1") == "3,1,0;+40.00"
    clock.advance(600)  # 20 time constants: settled at ambient + 40 % of 5 W / 0.1 W/K
    assert adapter.handle_line("HTR? 1") == "+40.0"
    assert adapter.state.get("temp_rbv") == pytest.approx(295.0 + 20.0, abs=1e-3)
    adapter.handle_line("OUTMODE 1,1")  # closed loop: the controller heats to 400 K
    clock.advance(600)
    assert adapter.state.get("temp_rbv") > 340.0


class BoundedPid(HeaterPid):
    """Stops itself after ``iterations``."""

    iterations = 600

    async def loop_iteration(self) -> None:
        if self.loop_count + 1 >= self.iterations:
            self.stop()
        await super().loop_iteration()


def test_pid_holds_the_setpoint_with_the_heater():
    clock = FakeClock()  # 600 iterations of 0.5 s: 300 s of simulated time in well under 1 s
    simulator = TemperatureControllerSimulator(clock=clock)
    port = simulator.start_tcp()
    device = TemperatureControllerIOC.device_config.open({"host": LOOPBACK, "port": port}, 2.0)
    try:
        device.command(set="SETP 1,{value}").set(310.0)
        pid = BoundedPid(device, clock=clock, sleep=clock.advance)
        pid.run()
        assert pid.state is TaskState.Stopped and pid.loop_count == 600, pid.last_error
        assert simulator.state.get("temp_rbv") == pytest.approx(310.0, abs=0.2)
        assert abs(pid.readouts.error) < 0.2 and 0 < pid.readouts.output < 100
        # finalize handed the heater back to the controller's own loop (the query orders it
        # after the mode change, which has no reply)
        assert device.command(get="OUTMODE? 1").get().startswith("1,")
    finally:
        device.endpoint.close()
        simulator.stop()


def test_pid_ioc_process_drives_the_heater(tmp_path):
    ioc = IocProcess("iocs.temperature_pid", "PID:STATE", tmp_path, ["--on-event-loop"]).start()
    try:
        assert ioc.caget("PID:STATE") == "Running"
        assert ioc.caput("TC:SETPOINT", "305").returncode == 0
        ioc.monitor(["PID:OUTPUT"], done=lambda lines: float(monitored_values(lines)[-1]) > 10)
        assert ioc.caput("PID:KP", "-1").returncode != 0  # outside the setting's limits
        assert ioc.caput("PID:STOP", "1").returncode == 0
        ioc.monitor(["PID:STATE"], done=lambda lines: "Stopped" in lines[-1])
    finally:
        ioc.stop()


def test_slowtask_demo_script_runs_as_in_the_seed(tmp_path):
    script = str(ROOT / "iocs" / "slowtask_demo.py")
    ioc = IocProcess("iocgate.task", "DEMO:STATE", tmp_path,
                     [script, "--prefix", "DEMO:", "--param", "ramping=20",
                      "--poll-period", "0.2"]).start()
    try:
        assert ioc.caput("DEMO:set_V0", "3 20").returncode == 0
        assert ioc.caget("DEMO:set_V0_RESULT") == "ramping to 3 V"
        ioc.monitor(["DEMO:x"], done=lambda lines: monitored_values(lines)[-1] == "3")
        wait_until(lambda: '["V0", 3.0, "No"]' in  # caget escapes the quotes
                   ioc.caget("DEMO:Status", "-S").replace('\\"', '"'))
        assert ioc.caput("DEMO:V0", "31").returncode != 0  # the setpoint's limits (0, 30)
        assert ioc.caput("DEMO:fx", "0.25").returncode == 0
        assert ioc.caget("DEMO:fx") == "0.25"
    finally:
        ioc.stop()


def serve_in_process(ioc_class: type, monkeypatch: pytest.MonkeyPatch) -> RunningIOC:
    """``ioc_class`` on its simulator in this process, on a port of its own."""
    port = free_port()
    for key, value in loopback_env(port).items():  # read by the server as it starts
        monkeypatch.setenv(key, value)
    return start_ioc(ioc_class, port)


def test_interlock_switches_the_output_off_and_says_why(tmp_path, monkeypatch):
    tc = serve_in_process(TemperatureControllerIOC, monkeypatch)
    psu = serve_in_process(PowerSupplyIOC, monkeypatch)
    interlock = IocProcess("iocs.interlock", "ILK:STATE", tmp_path)
    interlock.env["EPICS_CA_ADDR_LIST"] = f"{LOOPBACK}:{tc.port} {LOOPBACK}:{psu.port} {LOOPBACK}"
    try:
        interlock.start()
        assert psu.caput("OUTPUT", "On").returncode == 0
        interlock.monitor(["ILK:TEMPERATURE"],
                          done=lambda lines: float(monitored_values(lines)[-1]) > 200)
        assert psu.value("OUTPUT") == "On"  # 295 K is under the 320 K limit
        assert interlock.caput("ILK:LIMIT", "290").returncode == 0
        interlock.monitor(["ILK:TRIPPED"], done=lambda lines: "On" in lines[-1])
        assert psu.value("OUTPUT") == "Off"
        reason = interlock.caget("ILK:REASON", "-S")
        assert "TC:TEMP_RBV 295.00 K > limit 290.00 K: PSU:OUTPUT switched Off" in reason
        # fail-safe: the temperature IOC goes away
        assert interlock.caput("ILK:LIMIT", "400").returncode == 0
        interlock.monitor(["ILK:TRIPPED"], done=lambda lines: "Off" in lines[-1])
        assert psu.caput("OUTPUT", "On").returncode == 0
        assert interlock.caput("ILK:STALE_TIMEOUT", "0.5").returncode == 0
        tc.stop()
        interlock.monitor(["ILK:TRIPPED"], done=lambda lines: "On" in lines[-1])
        assert psu.value("OUTPUT") == "Off"
        assert "unreadable" in interlock.caget("ILK:REASON", "-S")
        assert interlock.caget("ILK:STATE") == "Running"
    finally:
        interlock.stop()
        psu.stop()
        tc.stop()
