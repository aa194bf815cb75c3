"""``AccessGuard``: what iocgate's CA server asks before it grants access or applies a put.

One guard serves the PVs of one IOC. The server (``iocgate.server``) looks for it as the
``access_guard`` attribute of a channel's ChannelData (see :meth:`AccessGuard.install`),
computes each channel's CA access rights with :meth:`AccessGuard.rights` when the channel is
created and again when the client sends a new host or user name, re-evaluates every open
channel when :meth:`AccessGuard.changed` is called (new ACF rules, lock taken or released),
and reports every put, accepted or refused, to :meth:`AccessGuard.audit`.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional

from caproto._status import eca_value_to_status

from ._acf import CA_READ, CA_WRITE, DEFAULT, AccessConfig, AcfError, parse_acf
from ._lock import Client, InstrumentLock
from ._putlog import PutLog

log = logging.getLogger("iocgate.security")

CURRENT_CLIENT: contextvars.ContextVar[Optional[Client]] = contextvars.ContextVar(
    "iocgate_current_client", default=None)
"""The CA client whose put is being applied (see :func:`as_client`), so that a putter (e.g.
the instrument lock's) knows who asked. None outside a put, or under a server that does not
set it (caproto's)."""

_ECA_NORMAL = 1


async def as_client(coro: Awaitable[Any], client: Client) -> Any:
    """Await ``coro`` with :data:`CURRENT_CLIENT` set to ``client``.

    Set inside the awaiting task, so it works on every async library (curio's tasks do not
    inherit context variables); a putter must read it before its first ``await``.
    """
    CURRENT_CLIENT.set(client)
    try:
        return await coro
    finally:
        CURRENT_CLIENT.set(None)


class AccessGuard:
    """Access rules of one IOC: ACF rules, an instrument lock, and the put log.

    With no ACF loaded everyone may read and write (as an EPICS IOC without ``-a``).

    Args:
        groups: ``{record name: access security group}`` (others are in ``DEFAULT``).
        lock: the IOC's instrument lock, if it has one; while held, other clients lose
            write access to every PV of the IOC.

    Attributes:
        config: the loaded :class:`~iocgate.security.AccessConfig`, or None.
        acf_path: where it was read from. check_client_ip: asLib's ``asCheckClientIP``:
            match HAG entries against the client's IP address, not its HOST_NAME message.
        put_log: the :class:`~iocgate.security.PutLog`, or None.
    """

    def __init__(self, groups: Mapping[str, str], *, lock: Optional[InstrumentLock] = None):
        self.groups: Dict[str, str] = dict(groups)
        self.lock = lock
        self.config: Optional[AccessConfig] = None
        self.acf_path: Optional[str] = None
        self.check_client_ip = False
        self.put_log: Optional[PutLog] = None
        self._servers: Dict[Any, None] = {}

    def install(self, pvdb: Mapping[str, Any]) -> None:
        """Make this the guard of every ChannelData (and record field) in ``pvdb``."""
        for data in pvdb.values():
            data.access_guard = self
            for field in getattr(data, "fields", {}).values():
                field.access_guard = self

    # -- called by the server ----------------------------------------------------------
    def attach(self, server: Any) -> None:
        """Remember a server core to notify (its ``refresh_access()``) on :meth:`changed`."""
        self._servers[server] = None

    def rights(self, name: str, host: str, user: str, address: str) -> int:
        """CA access rights (read 1 | write 2) of the client ``user`` on ``host`` (peer IP
        ``address``) to the channel ``name`` (a PV, or ``PV.FIELD``)."""
        rights = CA_READ | CA_WRITE
        config = self.config
        if config is not None:
            record, _, field = name.partition(".")
            field = field.partition("$")[0].partition("{")[0]
            level = 0 if field in ("", "VAL") else 1
            rights = config.ca_rights(self.groups.get(record, DEFAULT), level, user,
                                      address if self.check_client_ip else host)
        if self.lock is not None and self.lock.blocks(Client(host, user)):
            rights &= ~CA_WRITE
        return rights

    def audit(self, name: str, host: str, user: str, old: Any, new: Any,
              status: int) -> None:
        """Log one put of ``name``: ``old`` value, ``new`` (the value after an accepted
        put, or the requested value of a refused one), CA ``status``."""
        put_log = self.put_log
        if put_log is None:
            return
        put_log.add(None, host, user, name, old, new,
                    "OK" if status == _ECA_NORMAL else _status_name(status))

    # -- called by the IOC ---------------------------------------------------------------
    def load_acf(self, path: str, *, resolve: Optional[Callable[[str], Optional[str]]] = None
                 ) -> None:
        """Load (or reload) the ACF file at ``path`` and re-evaluate every open channel.

        Args:
            resolve: host name -> IPv4 address, for ``check_client_ip`` (asCheckClientIP).

        Raises:
            AcfError: the file is invalid; OSError: it cannot be read. The rules in force
                stay as they were.
        """
        with open(path, encoding="utf-8") as file:
            text = file.read()
        config = parse_acf(text, resolve=resolve if self.check_client_ip else None)
        for warning in config.warnings:
            log.warning("%s: %s", path, warning)
        self.config, self.acf_path = config, path
        log.info("access security: %s loaded (%d ASG, %d UAG, %d HAG)", path,
                 len(config.asgs), len(config.uags), len(config.hags))
        self.changed()

    def reload(self) -> None:
        """Read the ACF file again (SIGHUP, ACF_RELOAD); a bad file keeps the old rules.

        Raises:
            AcfError, OSError: as :meth:`load_acf`; also logged, with the reason.
        """
        if self.acf_path is None:
            raise AcfError("no ACF file was loaded (start the IOC with --acf FILE)")
        try:
            self.load_acf(self.acf_path)
        except (AcfError, OSError) as exc:
            log.error("access security: %s not reloaded, the previous rules stay: %s",
                      self.acf_path, exc)
            raise

    def changed(self) -> None:
        """Re-evaluate the access rights of every open channel; clients whose rights
        changed are sent an ACCESS_RIGHTS update."""
        for server in list(self._servers):
            server.refresh_access()


def _status_name(status: int) -> str:
    found = eca_value_to_status.get(status)
    return found.name if found is not None else f"status {status}"
