"""Safe-operation PVs of every device IOC: instrument lock, autosave status, ACF reload."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import enum
import logging
import signal
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from caproto import ChannelType

from ..security import CURRENT_CLIENT, AccessGuard, AcfError, InstrumentLock, PutLog
from ._autosave import DEFAULT_DELAY, RESTORE_POLICIES, Autosave, Item, default_directory
from ._device import positive_seconds
from ._health import HealthPVs
from ._properties import pvproperty

log = logging.getLogger("iocgate.ioc")

#: seconds between checks of lease expiry, pending saves, put-log flushes and SIGHUP
#: (at most half the autosave delay)
TICK = 0.1


class AutosaveState(enum.IntEnum):
    Off = 0
    OK = 1
    Failed = 2


class ReloadCommand(enum.IntEnum):
    Ready = 0
    Reload = 1


def _utc(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


class SafetyPVs(HealthPVs):
    """LOCK, LOCK_OWNER, LOCK_EXPIRES, AUTOSAVE_STATUS, AUTOSAVE_TIME and ACF_RELOAD.

    Every instance has an :class:`~iocgate.security.AccessGuard` (``self.guard``) that iocgate's
    CA server consults: while a client holds the lock, the others lose write access to every PV
    of the IOC (``caput``: "Write access denied"). :meth:`configure_safety` adds ACF rules, a put
    log and autosave; ``run_ioc`` calls it from ``--acf``, ``--put-log`` and ``--autosave-dir``.
    """

    _trailing_pvs_ = HealthPVs._trailing_pvs_ + (
        "lock", "lock_owner", "lock_expires", "autosave_status", "autosave_time", "acf_reload")

    lock = pvproperty(name="LOCK", value=0.0, units="s", precision=1,
                      doc="Put a lease in seconds to take exclusive write access (renew before "
                          "it ends); 0 releases it")
    lock_owner = pvproperty(name="LOCK_OWNER", dtype=ChannelType.STRING, value="",
                            read_only=True, doc="user@host holding the lock (empty: free)")
    lock_expires = pvproperty(name="LOCK_EXPIRES", dtype=ChannelType.STRING, value="",
                              read_only=True, doc="When the lock's lease ends (UTC; empty: free)")
    autosave_status = pvproperty(name="AUTOSAVE_STATUS", dtype=AutosaveState,
                                 value=AutosaveState.Off, read_only=True,
                                 doc="Autosave: Off (no --autosave-dir), OK, or Failed (see log)")
    autosave_time = pvproperty(name="AUTOSAVE_TIME", dtype=ChannelType.STRING, value="",
                               read_only=True, doc="When values were last saved (UTC)")
    acf_reload = pvproperty(name="ACF_RELOAD", dtype=ReloadCommand, value=ReloadCommand.Ready,
                            doc="Put Reload (1) to reload the --acf file (fails, keeping the "
                                "old rules, if the file is invalid)")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.instrument_lock = InstrumentLock()
        self.guard = AccessGuard(self._access_groups(), lock=self.instrument_lock)
        self.guard.install(self.pvdb)
        self.autosaver: Optional[Autosave] = None
        self.reload_requested = False
        self._to_device: List[Item] = []

    def _properties(self):
        for name, data in self.pvdb.items():
            group, spec = getattr(data, "group", None), getattr(data, "pvspec", None)
            prop = getattr(type(group), spec.attr, None) if spec is not None else None
            if isinstance(prop, pvproperty):
                yield name, data, prop

    def _access_groups(self) -> Dict[str, str]:
        return {name: prop.access_group for name, _, prop in self._properties()}

    def autosave_items(self) -> List[Item]:
        """What the properties declared with ``autosave=`` save."""
        items = []
        for name, data, prop in self._properties():
            if not prop.autosave:
                continue
            restore = prop.restore
            if restore is None:
                switch = data.data_type == ChannelType.ENUM or prop.pvspec.dtype is bool
                restore = "pv" if switch else "device"
            if restore not in RESTORE_POLICIES:
                raise ValueError(f"{name}: restore must be one of {RESTORE_POLICIES}")
            fields = ("VAL",) if prop.autosave is True else tuple(prop.autosave)
            for field in fields:
                target = data if field == "VAL" else data.get_field(field)
                items.append(Item(name if field == "VAL" else f"{name}.{field}", target,
                                  restore if field == "VAL" else "pv"))
        return items

    def configure_safety(self, *, acf: Optional[str] = None, check_client_ip: bool = False,
                         put_log: Optional[str] = None, autosave_dir: Optional[str] = None,
                         autosave_delay: float = DEFAULT_DELAY) -> None:
        """Turn on access security, the put log and autosave (call before serving).

        Args:
            acf: an EPICS ``.acf`` file. check_client_ip: match HAG hosts against the
                client's IP address (asLib's ``asCheckClientIP``).
            put_log: file for the put audit log (JSON lines, rotated at 10 MB, 5 kept).
            autosave_dir: directory of the autosave file; ``""``: the default per-IOC
                directory (:func:`~iocgate.ioc._autosave.default_directory`).
            autosave_delay: seconds from a change to its save at most.

        Raises:
            AcfError, OSError: the ACF file is invalid or unreadable, the put log cannot
                be opened, or another running IOC saves into the autosave directory
                (``OSError.filename`` says which).
        """
        if acf is not None:
            self.guard.check_client_ip = check_client_ip
            self.guard.load_acf(acf, resolve=_resolve)
        if put_log is not None:
            self.guard.put_log = PutLog(put_log)
        if autosave_dir is not None:
            directory = Path(autosave_dir) if autosave_dir else default_directory(
                self.prefix or type(self).__name__)
            self.autosaver = Autosave(self.autosave_items(), directory / "autosave.json",
                                      delay=autosave_delay)
            self.autosaver.claim()
            self._to_device = self.autosaver.restore()

    @lock.putter
    async def lock(self, instance: Any, value: float) -> float:
        client = CURRENT_CLIENT.get()
        if client is None:
            raise PermissionError("the instrument lock needs iocgate's CA server")
        self.instrument_lock.take(client, float(value), time.time())
        await self._show_lock()
        self.guard.changed()
        return value

    @acf_reload.putter
    async def acf_reload(self, instance: Any, value: Any) -> ReloadCommand:
        self.guard.reload()
        return ReloadCommand.Ready

    @lock.startup
    async def lock(self, instance: Any, async_lib: Any) -> None:
        sleep = async_lib.library.sleep
        tick = TICK
        try:
            if self.autosaver is not None:
                tick = min(TICK, self.autosaver.delay / 2)
                await self.autosaver.restore_devices(self._to_device)
                await self._save(time.time())
            while True:
                await sleep(tick)
                await self._tick(time.time())
        finally:  # the IOC stops (in-process IOCs can be started again on the directory)
            if self.autosaver is not None:
                self.autosaver.release()

    async def _tick(self, now: float) -> None:
        if self.instrument_lock.expire(now):
            log.info("%s: instrument lock expired", self.name)
            await self.lock.write(0.0, verify_value=False)
            await self._show_lock()
            self.guard.changed()
        if self.reload_requested:
            self.reload_requested = False
            try:
                self.guard.reload()
            except (ValueError, OSError):
                pass  # logged by the guard
        put_log = self.guard.put_log
        if put_log is not None:
            try:
                put_log.flush_due()
            except OSError as exc:
                log.error("put log %s: %s", put_log.path, exc)
        if self.autosaver is not None and self.autosaver.due(now):
            await self._save(now)

    async def _save(self, now: float) -> None:
        saver = self.autosaver
        assert saver is not None
        try:
            saver.save(now)
        except (OSError, TypeError, ValueError) as exc:  # disk, or a value JSON cannot hold
            if self.autosave_status.value != AutosaveState.Failed.name:
                log.error("autosave: cannot write %s: %s", saver.path, exc)
                await self.autosave_status.write(AutosaveState.Failed.name,
                                                 verify_value=False)
            return
        if self.autosave_status.value != AutosaveState.OK.name:
            await self.autosave_status.write(AutosaveState.OK.name, verify_value=False)
        await self.autosave_time.write(_utc(now), verify_value=False)

    async def _show_lock(self) -> None:
        held = self.instrument_lock
        owner = str(held.owner) if held.owner is not None else ""
        expires = _utc(held.expires) if held.owner is not None else ""
        await self.lock_owner.write(owner, verify_value=False)
        await self.lock_expires.write(expires, verify_value=False)


def add_safety_arguments(ioc_class: type, parser: argparse.ArgumentParser) -> None:
    """``--acf``, ``--acf-check-client-ip``, ``--put-log``, ``--autosave-dir`` and
    ``--autosave-delay``, if ``ioc_class`` has :class:`SafetyPVs`."""
    if not issubclass(ioc_class, SafetyPVs):
        return
    group = parser.add_argument_group("safe operation")
    group.add_argument("--acf", metavar="FILE",
                       help="EPICS access security file (reloaded on SIGHUP or a put to "
                            "ACF_RELOAD); needs --server iocgate")
    group.add_argument("--acf-check-client-ip", action="store_true",
                       help="match HAG hosts against client IP addresses (asCheckClientIP)")
    group.add_argument("--put-log", metavar="FILE",
                       help="audit log of every put, JSON lines, rotated at 10 MB")
    group.add_argument("--autosave-dir", metavar="DIR", nargs="?", const="",
                       help="keep autosave properties across restarts, in DIR (default: "
                            "$XDG_STATE_HOME/iocgate/<prefix>)")
    group.add_argument("--autosave-delay", type=positive_seconds, default=DEFAULT_DELAY,
                       metavar="SECONDS",
                       help="longest time from a change to its save (default: %(default)s)")


@contextlib.contextmanager
def safety_from_arguments(ioc: Any, args: argparse.Namespace,
                          parser: argparse.ArgumentParser) -> Iterator[None]:
    """Apply the safety options to ``ioc`` (restoring autosaved values) and, with ``--acf``,
    reload the ACF file on SIGHUP while the block runs."""
    if not isinstance(ioc, SafetyPVs):
        yield
        return
    if (args.acf or args.put_log) and args.server != "iocgate":
        parser.error("--acf and --put-log need --server iocgate")
    try:
        ioc.configure_safety(acf=args.acf, check_client_ip=args.acf_check_client_ip,
                             put_log=args.put_log, autosave_dir=args.autosave_dir,
                             autosave_delay=args.autosave_delay)
    except AcfError as exc:
        parser.error(f"--acf {args.acf}: {exc}")
    except OSError as exc:
        option = {args.acf: "--acf", args.put_log: "--put-log"}.get(exc.filename,
                                                                   "--autosave-dir")
        parser.error(f"{option} {exc.filename}: {exc.strerror}")
    if not args.acf or not hasattr(signal, "SIGHUP"):
        yield
        return

    def request_reload(signum: int, frame: Any) -> None:
        ioc.reload_requested = True  # picked up by the IOC's loop within TICK s

    previous = signal.signal(signal.SIGHUP, request_reload)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def _resolve(host: str) -> Optional[str]:
    import socket

    try:
        return socket.gethostbyname(host)
    except OSError:
        return None
