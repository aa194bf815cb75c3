"""Test kit: loopback EPICS environments, free ports, real EPICS tools, IOC fixtures."""

from ._environment import LOOPBACK, epics_tool, free_port, loopback_env, subprocess_env
from ._ioc import RunningIOC, start_ioc

__all__ = ["LOOPBACK", "RunningIOC", "epics_tool", "free_port", "loopback_env", "start_ioc",
           "subprocess_env"]
