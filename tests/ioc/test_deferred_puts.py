"""Device-bound puts deferred as an EPICS record with asynchronous device support defers
them: ``python -m iocs.power_supply`` in its own process, on asyncio, curio and trio, against
the power-supply simulator served by the test (so its received lines can be counted).
Driven by caput/caget/camonitor and pyepics.

What is shown: the value is stored at once (a read on the same circuit sees it); one client's
flood coalesces (the instrument gets few writes, the newest value wins) and another client's
put completes meanwhile; a value the instrument refuses fails ``caput -c`` and the PV returns
to its last good value with a WRITE/INVALID alarm, posted to monitors.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Iterator, Tuple

import pytest

from devices.power_supply import PowerSupplySimulator

from ._cli_process import ASYNC_LIBS, IocProcess
from ._wait import wait_until

#: A (the instrument's highest current limit; the PV's drive limits go to 5 A)
DEVICE_MAX_CURRENT = 2.0
#: puts the flooding client sends without waiting
FLOOD = 2000


class LowCurrentPSU(PowerSupplySimulator):
    """The supply with a lower current limit: it refuses (SCPI -222) what the PV allows."""

    def write_curr(self, amps: float) -> None:
        if amps > DEVICE_MAX_CURRENT:
            raise ValueError(f"current {amps:g} A above {DEVICE_MAX_CURRENT:g} A")
        self.state.set("curr", amps)


@pytest.fixture(scope="module", params=ASYNC_LIBS)
def rig(request, tmp_path_factory) -> Iterator[Tuple[IocProcess, PowerSupplySimulator]]:
    simulator = LowCurrentPSU(port=0)
    simulator.start()
    ioc = IocProcess("iocs.power_supply", "PSU:CONNECTED", tmp_path_factory.mktemp("ioc"),
                     ["--async-lib", request.param, "--host", "127.0.0.1",
                      "--port", str(simulator.port), "--timeout", "2"])
    try:
        ioc.start()
        wait_until(lambda: ioc.caget("PSU:CONNECTED") == "Connected", timeout=15)
        yield ioc, simulator
        ioc.stop()
    finally:
        simulator.stop()


@pytest.fixture
def psu(rig) -> Iterator[Tuple[IocProcess, PowerSupplySimulator]]:
    """The rig with CURR at 1 A, no alarm, and an instrument that answers at once after."""
    ioc, simulator = rig
    assert ioc.caput("PSU:CURR", "1").returncode == 0
    wait_until(lambda: alarm(ioc, "PSU:CURR") == "")
    try:
        yield ioc, simulator
    finally:
        simulator.faults.clear()


def alarm(ioc: IocProcess, pv: str) -> str:
    """``"STAT SEVR"`` as ``caget -a`` prints them, or ``""`` without an alarm."""
    words = ioc.tool("caget", "-a", pv).stdout.split()
    return " ".join(words[-2:]) if len(words) >= 6 else ""


def curr_writes(simulator: PowerSupplySimulator) -> list:
    return [line for line in simulator.received if line.upper().startswith("CURR ")]


def test_a_read_on_the_same_circuit_right_after_a_put_sees_the_new_value(psu):
    ioc, simulator = psu
    simulator.faults.delay = 0.3  # the write is still on its way when the read comes
    seen = ioc.pyepics(
        "pv = epics.PV('PSU:CURR'); assert pv.wait_for_connection(10)\n"
        "pv.put(1.25, wait=False)\n"
        "print(json.dumps(pv.get(use_monitor=False, timeout=10)))\n")
    assert seen == 1.25
    plain = ioc.caput("PSU:CURR", "1.5", completion=False)  # caput reads back on its circuit
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.split()[-1] == "1.5", plain.stdout
    wait_until(lambda: simulator.state.get("curr") == 1.5)


def test_a_flood_coalesces_its_newest_value_wins_and_another_client_gets_through(psu):
    ioc, simulator = psu
    simulator.faults.delay = 0.02  # each write takes 20 ms: the puts pile up meanwhile
    simulator.clear_received()
    flood = subprocess.Popen(
        [sys.executable, "-c",
         "import epics, sys\n"
         "pv = epics.PV('PSU:CURR'); assert pv.wait_for_connection(10)\n"
         f"for i in range({FLOOD}):\n"
         f"    pv.put(round(i / {FLOOD}, 4), wait=False)\n"
         "epics.ca.flush_io()\n"
         "sys.stdin.readline()\n"  # the other client's put has completed
         "pv.put(1.234, wait=True, timeout=30)\n"
         "print(pv.get(use_monitor=False, timeout=10))\n"],
        env=ioc.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: curr_writes(simulator))  # the flood has reached the instrument
        other = ioc.caput("PSU:CURR", "0.5")
        assert other.returncode == 0, other.stderr
        # "New :" shows its value, or a newer one of the flood's (all below 1 A)
        assert float(other.stdout.split()[-1]) < 1.0, other.stdout
        out, _ = flood.communicate("go\n", timeout=60)
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait(10)
    assert flood.returncode == 0
    assert float(out.strip()) == 1.234
    assert simulator.state.get("curr") == 1.234  # put-callback: the instrument has it
    assert float(ioc.caget("PSU:CURR")) == 1.234
    writes = curr_writes(simulator)
    assert len(writes) < FLOOD // 4, len(writes)  # coalesced, not one write per put
    assert float(writes[-1].split()[1]) == 1.234


def test_a_refused_put_fails_caput_c_and_the_pv_returns_to_its_last_good_value(psu):
    ioc, simulator = psu

    def refuse() -> None:
        refused = ioc.caput("PSU:CURR", "3")  # within the PV's limits, above the device's
        assert refused.returncode == 1, refused.stdout
        assert "write request failed" in refused.stderr
        assert "New" not in refused.stdout

    lines = ioc.monitor(["PSU:CURR"], done=lambda lines: len(lines) >= 3, action=refuse)
    values = [float(line.split()[3]) for line in lines]
    assert values == [1.0, 3.0, 1.0], lines  # stored at once, then back, with monitors
    assert lines[-1].split()[-2:] == ["WRITE", "INVALID"], lines
    assert float(ioc.caget("PSU:CURR")) == 1.0
    assert alarm(ioc, "PSU:CURR") == "WRITE INVALID"
    assert simulator.state.get("curr") == 1.0
    assert "-222" in ioc.caget("PSU:LAST_ERROR", "-S")
    # plain caput: stored at once (caput's read-back shows it), then back with the alarm
    plain = ioc.caput("PSU:CURR", "3", completion=False)
    assert plain.returncode == 0, plain.stderr
    wait_until(lambda: float(ioc.caget("PSU:CURR")) == 1.0
               and alarm(ioc, "PSU:CURR") == "WRITE INVALID")
    # the next good write clears the alarm
    good = ioc.caput("PSU:CURR", "1.5")
    assert good.returncode == 0 and good.stdout.split()[-1] == "1.5", good.stdout
    assert alarm(ioc, "PSU:CURR") == ""
    assert simulator.state.get("curr") == 1.5
