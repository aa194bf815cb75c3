"""The contract's fault check is a real check: it fails when a fault raises no alarm, or an
alarm with another status than the fault may cause (the DMM IOC on its simulator)."""

from __future__ import annotations

import importlib
import re
from typing import Any, Optional

import pytest
from caproto import AlarmStatus

from iocgate.testing import FAULTS, check_fault_alarm
from iocgate.testing._contract import _address_for
from iocs.dmm import DmmIOC

#: seconds the failing checks wait (a passing one ends as soon as the alarm comes)
SHORT = 1.0


class _Misdirected:
    """Stands in for a simulator's faults: switching any fault on switches ``actual`` on
    instead (``None``: nothing at all); ``clear`` clears the real ones."""

    def __init__(self, faults: Any, actual: Optional[str]):
        object.__setattr__(self, "_faults", faults)
        object.__setattr__(self, "_actual", actual)

    def __setattr__(self, name: str, value: Any) -> None:
        if self._actual is not None:
            setattr(self._faults, self._actual, value)

    def drop_connections(self) -> None:
        pass

    def clear(self) -> None:
        self._faults.clear()


@pytest.fixture
def dmm(ioc_factory):
    ioc = ioc_factory(DmmIOC, scan_period=0.1)
    yield ioc, ioc.simulation.handle.faults
    ioc.simulation.handle.faults.clear()


def test_the_garbage_fault_may_alarm_comm_or_timeout_and_nothing_else():
    assert FAULTS["garbage"][1] == ("COMM", "TIMEOUT")


def test_the_check_passes_on_a_real_fault(dmm):
    ioc, faults = dmm
    check_fault_alarm(ioc, faults, "garbage")


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_the_check_fails_when_the_fault_raises_no_alarm(dmm, fault):
    ioc, faults = dmm
    with pytest.raises(pytest.fail.Exception, match=f"INVALID .* on {fault}"):
        check_fault_alarm(ioc, _Misdirected(faults, None), fault, timeout=SHORT)


def test_the_check_fails_on_an_alarm_with_another_status(dmm):
    ioc, faults = dmm  # garbage makes the SCPI driver raise COMM; a freeze must be TIMEOUT
    with pytest.raises(pytest.fail.Exception, match=r"INVALID \(TIMEOUT\) on freeze"):
        check_fault_alarm(ioc, _Misdirected(faults, "garbage"), "freeze", timeout=SHORT)
    status = ioc.get("READING", data_type="time").metadata.status
    assert status == AlarmStatus.COMM  # it did alarm, with another status


@pytest.mark.parametrize("ioc_name, options, reason", [
    ("power_switch:PowerSwitchIOC", {"host": "127.0.0.1", "port": 80},
     "PowerSwitchIOC takes --url, not --host"),
    ("power_switch:PowerSwitchIOC", {"port": 80}, "PowerSwitchIOC takes --url, not --port"),
    ("host_monitor:HostMonitorIOC", {"host": "127.0.0.1"},
     "HostMonitorIOC takes no address, not --host"),
    ("power_supply:PowerSupplyIOC", {"port": 5025}, "--port 5025 needs --host"),
    ("power_supply:PowerSupplyIOC", {"url": "http://127.0.0.1"},
     "PowerSupplyIOC takes --host or --resource, not --url"),
    ("power_supply:PowerSupplyIOC", {"host": "127.0.0.1", "resource": "TCPIP::1.2.3.4::SOCKET"},
     "give one device address, not --host and --resource"),
])
def test_a_hardware_address_the_ioc_cannot_use_stops_the_run_with_the_reason(
        ioc_name, options, reason):
    module, name = ioc_name.split(":")
    ioc_class = getattr(importlib.import_module(f"iocs.{module}"), name)
    with pytest.raises(pytest.UsageError, match=re.escape(reason)):
        _address_for(ioc_class, options)


def test_a_hardware_address_is_completed_as_on_the_command_line():
    from iocs.power_supply import PowerSupplyIOC
    from iocs.power_switch import PowerSwitchIOC

    assert _address_for(PowerSupplyIOC, {"host": "10.0.0.5"}) == {"host": "10.0.0.5",
                                                                   "port": 5025}
    assert _address_for(PowerSwitchIOC, {"url": "http://10.0.0.9"}) == {"url": "http://10.0.0.9"}
