"""asyncio face of :mod:`iocgate.client`: the same calls, awaited.

Example (e.g. an IOC hook reading a PV of another IOC)::

    from iocgate.client import aio

    value = await aio.caget("PSU:voltage")
    await aio.caput("PSU:setpoint", 2.5, wait=True)
    pv = aio.PV("PSU:mode")
    await pv.wait_for_connection(timeout=2.0)
    pv.enum_strs, await pv.get(as_string=True)
    async for change in aio.camonitor("PSU:voltage"):
        print(change["value"], change["timestamp"])

Values, metadata and errors are those of the sync face (shared conversion code).
"""

from .._errors import CAError, CAPutError, CATimeoutError
from ._procedural import (
           caget,
           caget_many,
           cainfo,
           camonitor,
           camonitor_line,
           caput,
           caput_many,
           get_pv,
)
from ._pv import PV, default_context, reset_default_context

__all__ = ["PV", "caget", "caput", "caget_many", "caput_many", "cainfo", "camonitor",
           "camonitor_line", "get_pv", "default_context", "reset_default_context",
           "CAError", "CAPutError", "CATimeoutError"]
