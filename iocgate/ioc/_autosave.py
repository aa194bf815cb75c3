"""Autosave: PV values kept across restarts (and ``kill -9``) in a small JSON file.

The file is replaced atomically: the new content goes to ``<file>.tmp``, is fsync'ed, the
current file is hard-linked to ``<file>.bak`` (the previous generation), the temporary file
is renamed over the current one and the directory is fsync'ed. At every moment the file is
a complete generation; a crash at any point leaves either the old or the new one.
"""

from __future__ import annotations

import datetime
import errno
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from ..security import json_value

log = logging.getLogger("iocgate.autosave")

FORMAT = "iocgate-autosave 1"
#: seconds from a change to its save at most (saves are also at least this far apart)
DEFAULT_DELAY = 0.9
#: seconds between saves when nothing changes (refreshes the file and AUTOSAVE_TIME)
DEFAULT_PERIOD = 60.0
#: restore policies: into the PV only, or also written to the device at start
RESTORE_POLICIES = ("pv", "device")


class AutosaveError(ValueError):
    """A saved file is not a complete autosave file."""


class Item(NamedTuple):
    """One saved value: ``name`` (``PV`` or ``PV.FIELD``), its ChannelData and policy."""

    name: str
    data: Any
    restore: str


def default_directory(ioc_name: str) -> Path:
    """``$XDG_STATE_HOME/iocgate/<ioc_name>`` (``~/.local/state`` when unset); characters
    other than letters, digits, ``_``, ``-`` and ``.`` become ``_`` (``PSU:`` -> ``PSU_``)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"),
                                                            ".local", "state")
    return Path(base) / "iocgate" / (re.sub(r"[^A-Za-z0-9_.-]", "_", ioc_name) or "ioc")


def encode(values: Dict[str, Any], saved: float) -> str:
    """The file text for ``values`` saved at ``saved`` (epoch seconds)."""
    stamp = datetime.datetime.fromtimestamp(saved, datetime.timezone.utc).isoformat()
    return json.dumps({"format": FORMAT, "saved": stamp, "values": values}, indent=1) + "\n"


def decode(text: str) -> Dict[str, Any]:
    """The values in an autosave file's ``text``.

    Raises:
        AutosaveError: not JSON, cut short, or not an autosave file.
    """
    try:
        content = json.loads(text)
    except ValueError as exc:
        raise AutosaveError(f"not valid JSON ({exc})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise AutosaveError(f"not an {FORMAT!r} file")
    values = content.get("values")
    if not isinstance(values, dict):
        raise AutosaveError("no 'values' table")
    return values


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically, keeping the old file as ``path.bak`` if it
    is a complete autosave file (a corrupt one never replaces a good backup).

    Raises:
        OSError: the directory is not writable or the disk is full; ``path`` is unchanged.
    """
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    if _is_intact(path):
        backup = path.with_name(path.name + ".bak")
        link = path.with_name(path.name + ".bak.tmp")
        try:
            os.unlink(link)
        except FileNotFoundError:
            pass
        try:
            os.link(path, link)
        except OSError:  # no hard links here: a copy, which is as good once renamed
            link.write_bytes(path.read_bytes())
        os.replace(link, backup)
    os.replace(tmp, path)
    _fsync_directory(path.parent)


def _is_intact(path: Path) -> bool:
    try:
        decode(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, AutosaveError):
        return False
    return True


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_saved(path: Path) -> Tuple[Dict[str, Any], Optional[Path]]:
    """The newest intact saved values: from ``path``, else its backup, else none.

    Returns:
        ``(values, the file they came from)``; ``({}, None)`` when neither is usable. Each
        unusable file is logged with the reason; nothing is raised.
    """
    for candidate in (path, path.with_name(path.name + ".bak")):
        try:
            text = candidate.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            log.error("autosave: cannot read %s (%s)", candidate, exc)
            continue
        try:
            return decode(text), candidate
        except AutosaveError as exc:
            log.error("autosave: %s is unusable: %s", candidate, exc)
    return {}, None


class Autosave:
    """The saved values of one IOC.

    Args:
        items: what to save.
        path: the file (``autosave.json`` in the IOC's directory).
        delay: at most this many seconds from a change to its save, and saves at least
            this far apart (a stream of puts costs one write per ``delay``).
        period: seconds between saves while nothing changes.

    Attributes:
        last_save: ``time.time()`` of the last successful save (0: none yet).
        error: the last save's error, or None.
    """

    def __init__(self, items: List[Item], path: Path, *, delay: float = DEFAULT_DELAY,
                 period: float = DEFAULT_PERIOD):
        self.items = items
        self.path = path
        self.delay = delay
        self.period = period
        self.last_save = 0.0
        self.error: Optional[Exception] = None
        self._dirty = False
        self._last_attempt = 0.0
        self._claim_fd: Optional[int] = None
        for item in items:
            _on_publish(item.data, self._mark_dirty)

    def claim(self) -> None:
        """Make this the only running IOC that saves into :attr:`path` (an advisory lock on
        ``<file>.lock``, released when the process ends, even by ``kill -9``).

        Raises:
            OSError: another running IOC has the file (``filename`` is its directory). A
                directory that cannot be created or written is not an error here: the
                saves then fail and ``AUTOSAVE_STATUS`` says so.
        """
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.with_name(self.path.name + ".lock"),
                         os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OSError(errno.EBUSY, f"{self.path.name} is in use by another running IOC "
                          "(give each IOC its own directory)", str(self.path.parent)) from None
        self._claim_fd = fd

    def release(self) -> None:
        """Give up :meth:`claim` (when the IOC stops)."""
        if self._claim_fd is not None:
            os.close(self._claim_fd)
            self._claim_fd = None

    def _mark_dirty(self) -> None:
        self._dirty = True

    def restore(self) -> List[Item]:
        """Write the saved values into the PVs (no putter, no device I/O), before serving.

        Returns:
            The restored items whose policy is ``"device"``: write them to the device
            (:meth:`restore_devices`) once the IOC runs.
        """
        values, source = read_saved(self.path)
        if source is None:
            if self.path.exists() or self.path.with_name(self.path.name + ".bak").exists():
                log.error("autosave: no usable file in %s; starting from the defaults",
                          self.path.parent)
            else:
                log.info("autosave: nothing saved in %s yet; starting from the defaults",
                         self.path.parent)
            return []
        to_device, restored = [], 0
        for item in self.items:
            if item.name not in values:
                continue
            try:
                _write_now(item.data.write(values[item.name], verify_value=False))
            except Exception as exc:
                log.error("autosave: %s: cannot restore %r: %s", item.name,
                          values[item.name], exc)
                continue
            restored += 1
            if item.restore == "device":
                to_device.append(item)
        log.info("autosave: restored %d value(s) from %s", restored, source)
        self._dirty = False
        return to_device

    @staticmethod
    async def restore_devices(items: List[Item]) -> None:
        """Write the restored values of ``items`` through their putters (to the device);
        a failure is logged and the PV keeps the restored value."""
        for item in items:
            try:
                await item.data.write(item.data.value)
            except Exception as exc:
                log.error("autosave: %s: restoring %r to the device failed: %s",
                          item.name, item.data.value, exc)

    def due(self, now: float) -> bool:
        """Whether a save is due at ``time.time()`` ``now``."""
        if now - self._last_attempt < self.delay:
            return False
        return self._dirty or now - self.last_save >= self.period

    def save(self, now: Optional[float] = None) -> None:
        """Save every item now.

        Raises:
            OSError: the file could not be written; TypeError, ValueError: a value JSON
                cannot hold (NaN is written as NaN). The error is kept in :attr:`error`,
                the previous file stays, and the save is retried after ``delay``.
        """
        now = time.time() if now is None else now
        self._last_attempt = now
        self._dirty = False
        values = {item.name: json_value(item.data.value) for item in self.items}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, encode(values, now))
        except (OSError, TypeError, ValueError) as exc:
            self._dirty = True
            self.error = exc
            raise
        self.error = None
        self.last_save = now


def _on_publish(data: Any, callback) -> None:
    """Call ``callback()`` whenever ``data`` publishes (every value or alarm change)."""
    original = data.publish

    async def publish(flags, _original=original):
        callback()
        return await _original(flags)

    data.publish = publish


def _write_now(coro) -> None:
    """Run a ChannelData write that must not wait (no subscribers yet, no putter)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("the write waited; cannot restore before the server runs")
