"""Channel Access client helpers with pyepics' names and semantics, in pure Python.

One client core (:mod:`iocgate.client._core`: searches, circuits, subscriptions, beacons, on
the sans-I/O codec of :mod:`iocgate.protocol`) serves the sync face (this package) and the
async face (:mod:`iocgate.client.aio`); step scans are in :mod:`iocgate.client.scan`. Values,
metadata and errors are converted once, in code shared by both faces.

Example::

    from iocgate.client import PV, caget, caput, cainfo, Motor, device_from_group

    caget("PSU:voltage")                      # 12.5 (float); waveforms -> numpy arrays
    caget("PSU:mode", as_string=True)         # 'Remote' (enum state name)
    caput("PSU:setpoint", 3.3, wait=True)     # blocks until processing completes
    caput("PSU:mode", "Local")                # enums accept names or indices

    pv = PV("PSU:voltage")
    pv.wait_for_connection(timeout=2.0)       # raises CATimeoutError naming PV and seconds
    pv.units, pv.precision, pv.upper_alarm_limit
    pv.add_callback(lambda pvname=None, value=None, **kw: print(pvname, value))

    psu = device_from_group(PowerSupplyIOC, prefix="PSU:")   # one declaration, IOC + client
    psu.setpoint = 2.0                        # attribute access puts, reading gets

Errors are exceptions by default (:class:`CATimeoutError`, :class:`CAPutError`); old scripts
that expect pyepics' ``None`` can pass ``raise_on_error=False`` or set
``iocgate.client.settings.raise_on_error = False``.
"""

from ._context import default_context, reset_default_context
from ._device import Alarm, Device, Motor
from ._errors import CAError, CAPutError, CATimeoutError, settings
from ._group import device_from_group, group_pvnames
from ._procedural import (
    caget,
    caget_many,
    cainfo,
    camonitor,
    camonitor_clear,
    caput,
    caput_many,
    get_pv,
)
from ._pv import DEFAULT_TIMEOUT, PUT_TIMEOUT, PV, poll

__all__ = [
    "PV", "Device", "Motor", "Alarm", "device_from_group", "group_pvnames",
    "caget", "caput", "caget_many", "caput_many", "cainfo", "camonitor", "camonitor_clear",
    "get_pv", "poll", "default_context", "reset_default_context", "settings",
    "CAError", "CATimeoutError", "CAPutError", "DEFAULT_TIMEOUT", "PUT_TIMEOUT",
]
