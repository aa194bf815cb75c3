"""A small device IOC (no device) for the safety tests: autosave, ACF groups, the lock."""

from __future__ import annotations

import enum

from iocgate import DeviceGroup, pvproperty
from iocgate.ioc import run_ioc


class Switch(enum.IntEnum):
    Off = 0
    On = 1


class SafetyIOC(DeviceGroup):
    """Safety test IOC: a setpoint, a switch and PVs in three access groups."""

    default_prefix = "SAFE:"

    setpoint = pvproperty(name="SETPOINT", value=0.0, units="V", precision=3, record="ao",
                          autosave=True, doc="A setpoint kept by autosave")
    switch = pvproperty(name="SWITCH", dtype=Switch, autosave=True,
                        doc="An output switch kept by autosave (restored into the PV only)")
    limit = pvproperty(name="LIMIT", value=0.0, units="V", precision=3, record="ao",
                       access_group="EXPERT", doc="A PV in the EXPERT access group")
    note = pvproperty(name="NOTE", value=0.0, units="V", precision=3, record="ao",
                      access_group="RO", doc="A PV in the RO access group")
    other = pvproperty(name="OTHER", value=0.0, units="V", precision=3, record="ao",
                       access_group="UNDEFINED", doc="A PV in a group no ACF defines")


if __name__ == "__main__":
    import sys

    run_ioc(SafetyIOC, sys.argv[1:])
