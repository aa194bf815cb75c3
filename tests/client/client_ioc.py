"""A caproto IOC for the client tests; its ``PowerSupplyIOC`` also feeds ``device_from_group``.

Run as ``python client_ioc.py PREFIX`` with the loopback CA environment; prints
``client_ioc ready`` once listening, then serves until killed.
"""

from __future__ import annotations

import sys

from caproto import ChannelType
from caproto.server import PVGroup, SubGroup, pvproperty, run


class ChannelGroup(PVGroup):
    """One output channel; its PV names use the ``unit`` macro."""

    volts = pvproperty(value=0.0, name="{unit}:V", units="V", precision=3)
    enabled = pvproperty(value=False, name="on")


class PowerSupplyIOC(PVGroup):
    """A power supply with a setpoint, a read-back, an enum mode and two channels."""

    setpoint = pvproperty(value=1.5, units="V", precision=2, upper_ctrl_limit=10.0,
                          lower_ctrl_limit=0.0)
    readback = pvproperty(value=1.5, name="RBV", read_only=True, units="V", precision=2)
    mode = pvproperty(value="Local", enum_strings=["Local", "Remote"], dtype=ChannelType.ENUM)
    label = pvproperty(value="psu-1", dtype=ChannelType.STRING)
    guarded = pvproperty(value=0, doc="refuses every put (the putter raises)")
    picky = pvproperty(value=0.0, doc="refuses negative values (the putter raises)")
    ch1 = SubGroup(ChannelGroup, prefix="out1:", macros={"unit": "u1"})
    ch2 = SubGroup(ChannelGroup, macros={"unit": "u2"})

    @setpoint.putter
    async def setpoint(self, instance, value):
        await self.readback.write(value)
        return value

    @guarded.putter
    async def guarded(self, instance, value):
        raise ValueError("this channel refuses puts")

    @picky.putter
    async def picky(self, instance, value):
        if value < 0:
            raise ValueError("negative values are refused")
        return value


async def _announce(async_lib):
    print(READY, flush=True)  # the server is listening (TCP and UDP) by now


READY = "client_ioc ready"

if __name__ == "__main__":
    ioc = PowerSupplyIOC(prefix=sys.argv[1])
    run(ioc.pvdb, module_name="caproto.asyncio.server", interfaces=["127.0.0.1"],
        startup_hook=_announce)
