"""IOC processes on all five transports (TCP, serial pty, VISA socket, HTTP, shell) facing a
hung instrument, garbage replies and a vanished instrument, watched with the EPICS C tools and
pyepics: the readback alarms, the IOC keeps serving, it reconnects by itself, and a put during
the outage fails and is never applied later. One IOC per transport; every async library
serves at least one of them."""

from __future__ import annotations

from typing import Tuple

import pytest

from ._cli_process import IocProcess
from ._fault_devices import FaultyDevice, make_device
from ._wait import wait_until

#: transport -> async library its IOC runs on (each library gets at least one)
TRANSPORTS = {"tcp": "asyncio", "serial": "trio", "visa": "curio", "http": "curio",
              "shell": "trio"}
#: s, the IOCs' device reply timeout (--timeout) and scan period (--scan-period)
REPLY_TIMEOUT = 0.5
SCAN_PERIOD = 0.2
#: s, a fault must show as an alarm within this: with link state per endpoint that takes one
#: reply timeout plus one scan period (0.7 s here); the margin is for the loaded 2-core test
#: machine, not for PVs waiting out their timeouts one by one (3-4 s here before link state)
ALARM_WITHIN = 5.0
#: s, the IOC must be back to NO_ALARM/Connected within this after the instrument recovers
RECOVER_WITHIN = 15.0
#: caget's connection timeout (s): its 1 s default is too short for a loaded machine
WAIT = "5"


@pytest.fixture(scope="module", params=list(TRANSPORTS))
def rig(request, tmp_path_factory) -> Tuple[IocProcess, FaultyDevice]:
    transport = request.param
    device = make_device(transport, tmp_path_factory.mktemp(transport))
    ioc = IocProcess(device.module, device.prefix + "CONNECTED",
                     tmp_path_factory.mktemp("log"),
                     [*device.args, "--async-lib", TRANSPORTS[transport],
                      "--timeout", str(REPLY_TIMEOUT), "--scan-period", str(SCAN_PERIOD)])
    try:
        ioc.start()
        wait_until(lambda: get(ioc, device.prefix + "CONNECTED") == "Connected",
                   timeout=RECOVER_WITHIN)
        yield ioc, device
        ioc.stop()
    finally:
        device.stop()


def get(ioc: IocProcess, pv: str, *args: str) -> str:
    """``caget -t`` with a connection timeout fit for a loaded machine."""
    return ioc.caget(pv, "-w", WAIT, *args)


def alarm(ioc: IocProcess, pv: str) -> Tuple[str, str]:
    """``(STAT, SEVR)`` as ``caget -a`` prints them (blank columns mean no alarm)."""
    result = ioc.tool("caget", "-w", WAIT, "-a", pv)
    assert result.returncode == 0, result.stderr  # the IOC is alive and serving
    words = result.stdout.split()
    return (words[-2], words[-1]) if len(words) >= 6 else ("NO_ALARM", "NO_ALARM")


def recovers(ioc: IocProcess, device: FaultyDevice) -> None:
    """Undo the fault; wait for the readback's alarm to clear, CONNECTED and an empty
    LAST_ERROR (a pass that began during the fault may still report it once)."""
    device.recover()
    wait_until(lambda: alarm(ioc, device.prefix + device.readback) == ("NO_ALARM", "NO_ALARM")
               and get(ioc, device.prefix + "CONNECTED") == "Connected"
               and get(ioc, device.prefix + "LAST_ERROR", "-S") == "",
               timeout=RECOVER_WITHIN)


@pytest.mark.parametrize("fault, status", [("hang", "TIMEOUT"), ("garbage", "COMM")])
def test_fault_alarms_the_readback_and_the_ioc_recovers(rig, fault, status):
    ioc, device = rig
    readback = device.prefix + device.readback
    before = get(ioc, readback)
    getattr(device, fault)()
    try:
        wait_until(lambda: alarm(ioc, readback) == (status, "INVALID"), timeout=ALARM_WITHIN)
        assert get(ioc, readback) == before  # the last good value stays
        assert get(ioc, device.prefix + "ERROR_COUNT") != "0"
        assert get(ioc, device.prefix + "LAST_ERROR", "-S")
        if fault == "hang":  # an answering instrument is connected, if confused
            wait_until(lambda: get(ioc, device.prefix + "CONNECTED") == "Disconnected",
                       timeout=ALARM_WITHIN)
    finally:
        recovers(ioc, device)


def test_disconnect_alarms_and_a_put_during_the_outage_is_never_applied(rig):
    ioc, device = rig
    setpoint, readback = device.prefix + device.setpoint, device.prefix + device.readback
    old_pv, old_device = get(ioc, setpoint), device.device_setpoint()
    device.disconnect()
    try:
        wait_until(lambda: alarm(ioc, readback) == ("COMM", "INVALID"), timeout=ALARM_WITHIN)
        assert get(ioc, device.prefix + "CONNECTED") == "Disconnected"  # in the same moment
        refused = ioc.caput(setpoint, device.refusal)
        assert refused.returncode == 1 and "write request failed" in refused.stderr
        seen = ioc.pyepics(
            f"pv = epics.PV({setpoint!r}); assert pv.wait_for_connection(10)\n"
            f"pv.put({device.refusal}, wait=True, timeout=10)\n"
            "print(json.dumps(pv.get(timeout=10, use_monitor=False)))\n")
        assert seen == float(old_pv)  # pyepics sees the old value kept
        assert get(ioc, setpoint) == old_pv
    finally:
        recovers(ioc, device)
    assert device.device_setpoint() == old_device
    assert get(ioc, setpoint) == old_pv
    # a put after recovery goes through; the refused one does not follow it
    assert ioc.caput(setpoint, device.fresh).returncode == 0
    assert device.device_setpoint() == float(device.fresh)
    wait_until(lambda: float(get(ioc, setpoint)) == float(device.fresh))
    assert device.device_setpoint() == float(device.fresh)
