"""Test kit: loopback EPICS environments, free ports, real EPICS tools, IOC fixtures."""

from ._environment import LOOPBACK, epics_tool, free_port, loopback_env, subprocess_env

__all__ = ["LOOPBACK", "epics_tool", "free_port", "loopback_env", "subprocess_env"]
