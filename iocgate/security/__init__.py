"""Safe operation: EPICS access security (ACF) rules, the instrument lock, the put log.

Pure parts (:func:`parse_acf`, :class:`AccessConfig`, :class:`InstrumentLock`,
:func:`format_put`) do no I/O; :class:`AccessGuard` ties them to iocgate's CA server.
"""

from ._acf import CA_READ, CA_WRITE, AccessConfig, AcfError, Rule, parse_acf
from ._guard import CURRENT_CLIENT, AccessGuard, as_client
from ._lock import Client, InstrumentLock, LockHeld
from ._putlog import PutLog, format_put, json_value

__all__ = ["CA_READ", "CA_WRITE", "CURRENT_CLIENT", "AccessConfig", "AccessGuard", "AcfError",
           "Client", "InstrumentLock", "LockHeld", "PutLog", "Rule", "as_client", "format_put",
           "json_value", "parse_acf"]
