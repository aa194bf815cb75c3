"""The network power switch IOC on its simulated web API: the contract, outlets switched by
the C tools and pyepics, refused values, and a hung unit's alarm and recovery."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from iocgate.testing import contract_tests, subprocess_env
from iocs.power_switch import PowerSwitchIOC

#: a pyepics script (child process): switch outlet 5 on, read it back with its metadata
PYEPICS = """
import json, sys, time
import epics
prefix = sys.argv[1]
switch, power = epics.PV(prefix + "OUTLET_5"), epics.PV(prefix + "POWER_5")
seen = {"enum_strs": list(switch.enum_strs), "units": power.units,
        "precision": power.precision, "put": epics.caput(prefix + "OUTLET_5", "On",
                                                          wait=True, timeout=10)}
deadline = time.monotonic() + 10
while epics.caget(prefix + "OUTLET_5_RBV", as_string=True) != "On":
    assert time.monotonic() < deadline, "OUTLET_5_RBV did not become On"
    time.sleep(0.05)
while not epics.caget(prefix + "POWER_5") > 0:
    assert time.monotonic() < deadline, "POWER_5 stayed 0"
    time.sleep(0.05)
seen["power"] = epics.caget(prefix + "POWER_5")
seen["off"] = epics.caput(prefix + "OUTLET_5", 0, wait=True, timeout=10)
print(json.dumps(seen))
"""


def _puts(simulator) -> list:
    return [r.split(" ", 2)[1] for r in simulator.received if r.startswith(("PUT", "POST"))]


class TestPowerSwitch(contract_tests(PowerSwitchIOC)):
    def test_the_c_tools_switch_an_outlet_and_read_its_power(self, ioc, simulator):
        model = simulator.model
        model.load[3] = 150.0
        put = ioc.caput("OUTLET_3", "On")
        assert put.returncode == 0, put.stderr
        try:
            assert model.on[3]  # the put completed when the unit had switched
            self.wait(lambda: ioc.value("POWER_3") > 0)
            got = ioc.run_tool("caget", "-t", "-w", "5", *(ioc.prefix + s for s in (
                "OUTLET_3_RBV", "POWER_3", "CURRENT_3", "POWER")))
            state, watts, amps, total = got.stdout.split()
            assert state == "On"
            assert float(watts) == pytest.approx(150.0, rel=0.02)
            assert float(amps) == pytest.approx(150.0 / 230.0, rel=0.02)
            self.wait(lambda: ioc.value("POWER") >= ioc.value("POWER_3") * 0.98)
        finally:
            assert ioc.caput("OUTLET_3", 0).returncode == 0  # by index
        assert not model.on[3]
        self.wait(lambda: ioc.value("OUTLET_3_RBV") == "Off" and ioc.value("POWER_3") == 0)

    def test_pyepics_switches_an_outlet(self, ioc, simulator):
        proc = subprocess.run([sys.executable, "-c", PYEPICS, ioc.prefix],
                              env=subprocess_env(ioc.port), capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr[-3000:]
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
        assert seen["enum_strs"] == ["Off", "On"]
        assert seen["units"] == "W" and seen["precision"] == 1
        assert seen["put"] == 1 and seen["off"] == 1
        assert seen["power"] == pytest.approx(50.0, rel=0.02)  # outlet 5: 50 W
        assert not simulator.model.on[5]

    @pytest.mark.parametrize("bad", ["2", "-1", "Maybe", "on"])
    def test_an_outlet_value_out_of_range_is_refused(self, ioc, simulator, bad):
        simulator.clear_received()
        refused = ioc.caput("OUTLET_4", bad)
        assert refused.returncode == 1, refused.stdout
        assert ioc.value("OUTLET_4") == "Off" and not simulator.model.on[4]
        assert _puts(simulator) == []  # refused by the IOC: nothing reached the unit

    def test_a_hung_unit_alarms_refuses_puts_and_recovers(self, ioc, simulator, faults):
        model = simulator.model

        def alarm(suffix: str) -> tuple:
            md = ioc.get(suffix, data_type="time").metadata
            return md.status, md.severity

        faults.withhold = True
        self.wait(lambda: alarm("OUTLET_2_RBV") == (_status("TIMEOUT"), 3))
        assert ioc.caput("OUTLET_2", "On").returncode == 1
        assert not model.on[2]
        faults.clear()
        self.wait(lambda: alarm("OUTLET_2_RBV") == (0, 0) and alarm("POWER_2") == (0, 0))
        assert ioc.caput("OUTLET_2", "On").returncode == 0 and model.on[2]
        assert ioc.caput("OUTLET_2", "Off").returncode == 0 and not model.on[2]


def _status(name: str) -> int:
    from caproto import AlarmStatus

    return int(AlarmStatus[name])
