"""Test kit: loopback EPICS environments, free ports, real EPICS tools, IOC fixtures."""

from ._contract import FAULTS, InstrumentContract, check_fault_alarm, contract_tests, wait_for
from ._environment import LOOPBACK, epics_tool, free_port, loopback_env, subprocess_env
from ._ioc import RunningIOC, start_ioc
from ._parsers import check_parser
from ._repeater import RunningRepeater, ca_repeater, start_repeater

__all__ = ["FAULTS", "LOOPBACK", "InstrumentContract", "RunningIOC", "RunningRepeater",
           "ca_repeater", "check_fault_alarm", "check_parser", "contract_tests", "epics_tool",
           "free_port", "loopback_env", "start_ioc", "start_repeater", "subprocess_env",
           "wait_for"]
