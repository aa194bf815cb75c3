"""``python -m iocs.power_supply`` against the power-supply simulator in its own process, on
asyncio, curio and trio: the simulator frozen with SIGSTOP (a hung instrument), then resumed;
puts during the outage; a put flood beside another client's puts; SCAN_PERIOD. Driven by
caget/caput and pyepics; one simulator and one IOC process per async library."""

from __future__ import annotations

import datetime
import signal
import subprocess
import sys
from typing import Dict, Iterator, Tuple

import pytest

from ._cli_process import ASYNC_LIBS, IocProcess
from ._wait import wait_until

#: the IOC's reply timeout (s): a hung instrument must alarm within this + one scan period
TIMEOUT = 0.5
#: every PV the power-supply IOC reads from the instrument
SCANNED = ("PSU:VOLT", "PSU:VOLT_RBV", "PSU:CURR", "PSU:CURR_RBV", "PSU:OUTPUT",
           "PSU:OUTPUT_RBV", "PSU:IDN")


@pytest.fixture(scope="module", params=ASYNC_LIBS)
def rig(request, tmp_path_factory) -> Iterator[Tuple[IocProcess, subprocess.Popen]]:
    """``(ioc, simulator process)``; the simulator is resumed after every test."""
    simulator = subprocess.Popen([sys.executable, "-m", "devices.power_supply", "--port", "0"],
                                 stdout=subprocess.PIPE, text=True)
    try:
        assert simulator.stdout is not None
        port = simulator.stdout.readline().rsplit(":", 1)[1].strip()
        ioc = IocProcess("iocs.power_supply", "PSU:CONNECTED", tmp_path_factory.mktemp("ioc"),
                         ["--async-lib", request.param, "--host", "127.0.0.1", "--port", port,
                          "--timeout", str(TIMEOUT)])
        ioc.start()
        try:
            yield ioc, simulator
        finally:
            simulator.send_signal(signal.SIGCONT)
            ioc.stop()
    finally:
        simulator.send_signal(signal.SIGCONT)
        simulator.terminate()
        simulator.wait(15)


def alarms(ioc: IocProcess, pvs) -> Dict[str, Tuple[datetime.datetime, str]]:
    """``caget -a``: name -> (timestamp, "STAT SEVR" or "" without alarm)."""
    result = ioc.tool("caget", "-a", *pvs)
    assert result.returncode == 0, result.stderr
    seen = {}
    for line in result.stdout.splitlines():
        name, day, clock, *rest = line.split()
        stamp = datetime.datetime.fromisoformat(f"{day} {clock}")
        seen[name] = (stamp, " ".join(rest[-2:]) if rest[-1].endswith("INVALID") else "")
    return seen


def connected(ioc: IocProcess) -> bool:
    return ioc.caget("PSU:CONNECTED") == "Connected"


def test_a_hung_instrument_alarms_every_pv_at_once_and_every_pv_is_read_on_recovery(rig):
    ioc, simulator = rig
    wait_until(lambda: connected(ioc), timeout=15)
    assert ioc.caput("PSU:OUTPUT", "On").returncode == 0
    assert ioc.caput("PSU:VOLT", "1.5").returncode == 0
    wait_until(lambda: float(ioc.caget("PSU:VOLT_RBV")) == 1.5)
    frozen_at = datetime.datetime.now()
    simulator.send_signal(signal.SIGSTOP)
    # a put on its way when the instrument hangs fails, and its PV still alarms
    in_flight = ioc.caput("PSU:VOLT", "2.5")
    assert in_flight.returncode == 1, in_flight.stdout
    wait_until(lambda: alarms(ioc, ["PSU:IDN"])["PSU:IDN"][1], timeout=15)
    seen = alarms(ioc, SCANNED)
    assert {state for _, state in seen.values()} == {"TIMEOUT INVALID"}, seen
    stamps = {stamp for stamp, _ in seen.values()}
    assert len(stamps) == 1 and stamps.pop() > frozen_at  # one fresh stamp for all
    assert ioc.caget("PSU:CONNECTED", "-a").split()[-3:] == ["Disconnected", "COMM", "MAJOR"]
    # while down, a put fails at once with the reason and is never applied
    refused = ioc.caput("PSU:VOLT", "3.5")
    assert refused.returncode == 1 and "write request failed" in refused.stderr
    wait_until(lambda: "put of 3.5 failed: link down, next attempt in" in ioc.log())
    seen = ioc.pyepics(  # pyepics reads the same; its caput(wait=True) ignores failures
        f"states = [epics.PV(name, form='time').get_with_metadata(timeout=5)\n"
        f"          for name in {list(SCANNED)!r}]\n"
        "epics.caput('PSU:CURR', 1.234, wait=True, timeout=5)\n"
        "print(json.dumps([[s['status'], s['severity'], s['timestamp']] for s in states]))\n")
    assert {(status, severity) for status, severity, _ in seen} == {(10, 3)}  # TIMEOUT INVALID
    assert len({stamp for _, _, stamp in seen}) == 1
    simulator.send_signal(signal.SIGCONT)
    # IDN has a 10 s period of its own: it is read in the first pass after recovery anyway
    wait_until(lambda: not any(state for _, state in alarms(ioc, SCANNED).values()),
               timeout=5)
    assert connected(ioc)
    wait_until(lambda: float(ioc.caget("PSU:VOLT")) in (1.5, 2.5))  # the device's setpoint
    assert float(ioc.caget("PSU:VOLT")) != 3.5 and float(ioc.caget("PSU:CURR")) != 1.234


def test_a_put_flood_ends_on_its_newest_value_and_another_client_gets_through(rig):
    # (that the flood's puts coalesce is shown where the device's writes can be counted:
    # tests/nodes/test_device_path.py)
    ioc, _ = rig
    wait_until(lambda: connected(ioc), timeout=15)
    flood = subprocess.Popen(
        [sys.executable, "-c",
         "import epics\n"
         "pv = epics.PV('PSU:CURR'); assert pv.wait_for_connection(10)\n"
         "for i in range(1000):\n"
         "    pv.put(round(i / 1000, 3), wait=False)\n"
         "epics.ca.flush_io()\n"
         "pv.put(4.321, wait=True, timeout=30)\n"],
        env=ioc.env)
    other = [ioc.caput("PSU:VOLT", str(v)) for v in (4.0, 5.0)]
    assert flood.wait(60) == 0
    assert [result.returncode for result in other] == [0, 0]
    assert float(ioc.caget("PSU:VOLT")) == 5.0
    wait_until(lambda: float(ioc.caget("PSU:CURR")) == 4.321)


def test_scan_period_is_a_writable_pv_with_limits(rig):
    ioc, _ = rig
    ctrl = ioc.ctrl("PSU:SCAN_PERIOD")
    assert (ctrl["Units"], ctrl["Lo ctrl limit"], ctrl["Hi ctrl limit"]) == ("s", "0.01",
                                                                            "3600")
    assert float(ioc.caget("PSU:SCAN_PERIOD")) == 0.5  # the IOC's scan_period
    assert ioc.caput("PSU:SCAN_PERIOD", "0").returncode == 1
    assert ioc.caput("PSU:SCAN_PERIOD", "0.2").returncode == 0
    try:  # every pass writes SCAN_TIME: its timestamps are the passes' ends
        lines = ioc.monitor(["PSU:SCAN_TIME"], done=lambda lines: len(lines) >= 7, timeout=10)
    finally:
        assert ioc.caput("PSU:SCAN_PERIOD", "0.5").returncode == 0
    stamps = [datetime.datetime.fromisoformat(" ".join(line.split()[1:3]))
              for line in lines[2:]]  # from the second pass at the new period on
    gaps = sorted((b - a).total_seconds() for a, b in zip(stamps, stamps[1:]))
    assert 0.15 < gaps[len(gaps) // 2] < 0.4, gaps  # 0.2 s, not the 0.5 s it was
