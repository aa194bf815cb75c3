"""The host monitor IOC (shell commands on this machine): the contract, and sane values."""

from __future__ import annotations

from iocgate.testing import contract_tests
from iocs.host_monitor import HostMonitorIOC


class TestHostMonitor(contract_tests(HostMonitorIOC)):
    def test_values_are_plausible(self, ioc):
        self.wait(lambda: ioc.value("MEM_AVAILABLE") > 0)
        assert 0 <= ioc.value("MEM_USED") <= 100 and 0 <= ioc.value("DISK_USED") <= 100
        assert ioc.value("LOAD_1") >= 0 and ioc.value("DISK_FREE") > 0
