"""pyepics' procedural helpers: ``caget``, ``caput``, ``cainfo``, ``camonitor`` and friends.

A global cache keyed by ``(pvname, form)`` keeps one :class:`PV` per name, so repeated calls
reuse the channel instead of searching and connecting again.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..protocol import _ca_dbr as dbr
from . import _convert
from ._context import cache_lock as _cache_lock, default_context, pv_cache as _cache
from ._core import Channel, Context
from ._errors import CAError, CATimeoutError, limit_text, should_raise
from ._pv import DEFAULT_TIMEOUT, PV
from ._pvbase import DeltaGate, log

_monitors: Dict[str, Tuple[PV, int]] = {}


class _Keeper:
    """Keeps the channels ``caget_many`` used attached, so later calls find them connected."""

    channels: Dict[str, Channel] = {}

    def _ca_access(self, channel: Channel, rights: int) -> None:
        pass

    def _ca_connection(self, channel: Channel, connected: bool) -> None:
        pass


_keeper = _Keeper()


def _clear_caches() -> None:
    with _cache_lock:
        pvs = list(_cache.values())
        _cache.clear()
        _monitors.clear()
        _Keeper.channels = {}
    for pv in pvs:
        pv.disconnect()


def get_pv(pvname: str, form: str = "time", connect: bool = False,
           timeout: Optional[float] = DEFAULT_TIMEOUT, **kws: Any) -> PV:
    """The cached :class:`PV` for ``pvname`` (created on first use).

    Args:
        connect: wait for the connection before returning.
        timeout: seconds to wait when ``connect`` (``None`` = no limit).
        **kws: passed to :class:`PV` when it is created (``callback`` is added to an existing one).

    Raises:
        CATimeoutError: ``connect`` and no connection within ``timeout``.
    """
    callback = kws.pop("callback", None)
    with _cache_lock:
        pv = _cache.get((pvname, form))
        if pv is None:
            pv = _cache[(pvname, form)] = PV(pvname, form=form, **kws)
    if callback is not None:
        pv.add_callback(callback)
    if connect:
        pv.wait_for_connection(timeout, raise_on_error=True)
    return pv


def _guard(raise_on_error: Optional[bool], call: Callable[[], Any]) -> Any:
    try:
        return call()
    except CAError as exc:
        if should_raise(raise_on_error):
            raise
        log.warning("%s", exc)
        return None


def caget(pvname: str, as_string: bool = False, count: Optional[int] = None,
          as_numpy: bool = True, use_monitor: bool = False,
          timeout: Optional[float] = DEFAULT_TIMEOUT,
          connection_timeout: Optional[float] = DEFAULT_TIMEOUT, form: str = "time",
          raise_on_error: Optional[bool] = None) -> Any:
    """Read one PV (pyepics' ``caget``); see :meth:`PV.get` for the value rules.

    Args:
        timeout: seconds to wait for the reply.
        connection_timeout: seconds to wait for the connection.
        use_monitor: ``False`` (default) always asks the server.
        raise_on_error: ``False`` returns ``None`` on failure, as pyepics does.

    Raises:
        CATimeoutError: no connection or reply in time (names the PV and seconds).
    """
    def call() -> Any:
        pv = get_pv(pvname, form=form, connect=True, timeout=connection_timeout)
        return pv.get(count=count, as_string=as_string, as_numpy=as_numpy, timeout=timeout,
                      use_monitor=use_monitor, raise_on_error=True)
    return _guard(raise_on_error, call)


def caput(pvname: str, value: Any, wait: bool = False, timeout: Optional[float] = 60.0,
          connection_timeout: Optional[float] = DEFAULT_TIMEOUT,
          callback: Optional[Callable[..., Any]] = None,
          raise_on_error: Optional[bool] = None) -> Optional[int]:
    """Write one PV (pyepics' ``caput``); ``wait=True`` blocks until processing completes.

    Returns:
        1 on success (``None`` on failure when not raising).

    Raises:
        CATimeoutError: no connection, or with ``wait`` no completion in ``timeout`` seconds.
        CAPutError: refused (no write access, bad enum name, server status with ``wait``).
    """
    def call() -> Optional[int]:
        pv = get_pv(pvname, connect=True, timeout=connection_timeout)
        return pv.put(value, wait=wait, timeout=timeout, callback=callback, raise_on_error=True)
    return _guard(raise_on_error, call)


def cainfo(pvname: str, print_out: bool = True, timeout: Optional[float] = DEFAULT_TIMEOUT,
           raise_on_error: Optional[bool] = None) -> Optional[str]:
    """A text report on a PV (type, value, metadata, host, access).

    Returns:
        the text with ``print_out=False``; otherwise ``None`` (it is printed, as pyepics does,
        so an interactive session does not show it twice).
    """
    def call() -> str:
        pv = get_pv(pvname, connect=True, timeout=timeout)
        pv.get(timeout=timeout, use_monitor=False, raise_on_error=True)
        pv.get_ctrlvars(timeout=timeout, raise_on_error=True)
        return pv._info_text()
    text = _guard(raise_on_error, call)
    if print_out and text is not None:
        print(text)
        return None
    return text


def _default_monitor_line(pvname: str = "", timestamp: Optional[float] = None,
                          char_value: str = "", **_: Any) -> str:
    """pyepics' camonitor line, ``NAME YYYY-mm-dd HH:MM:SS.fffff VALUE``, stamped with the
    server's timestamp (pyepics uses the arrival time)."""
    seconds, frac = divmod(time.time() if timestamp is None else timestamp, 1)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    return f"{pvname:.32s} {stamp}.{min(int(frac * 1e5), 99999):05d} {char_value}"


def camonitor(pvname: str, writer: Optional[Callable[[str], Any]] = None,
              callback: Optional[Callable[..., Any]] = None,
              connection_timeout: Optional[float] = DEFAULT_TIMEOUT,
              monitor_delta: Optional[float] = None,
              raise_on_error: Optional[bool] = None) -> Optional[PV]:
    """Report every change of ``pvname`` until :func:`camonitor_clear`.

    Args:
        writer: called with one formatted line per change (``name  date time  value``);
            default ``print``. Ignored when ``callback`` is given.
        callback: a pyepics value callback (``f(pvname=, value=, char_value=, **kw)``).
        connection_timeout: seconds to wait for the PV to connect.
        monitor_delta: report a numeric change only once it reaches this size (client-side).
        raise_on_error: ``False`` logs a connection timeout and returns ``None`` (pyepics
            sets up nothing then either).

    Returns:
        the monitored :class:`PV`.

    Raises:
        CATimeoutError: no connection within ``connection_timeout`` (names the PV).
    """
    report = callback
    if report is None:
        write = print if writer is None else writer

        def report(**kws: Any) -> None:
            write(_default_monitor_line(**kws))

    gate = DeltaGate(monitor_delta)

    def on_change(**kws: Any) -> None:
        if gate.passes(kws.get("value")):
            report(**kws)

    camonitor_clear(pvname)
    pv = _guard(raise_on_error,
                lambda: get_pv(pvname, connect=True, timeout=connection_timeout))
    if pv is None:
        return None
    index = pv.add_callback(on_change)
    if pv._monitor_seen:
        pv.run_callback(index)
    with _cache_lock:
        _monitors[pvname] = (pv, index)
    return pv


def camonitor_clear(pvname: str) -> None:
    """Stop the :func:`camonitor` on ``pvname`` (no error if there is none)."""
    with _cache_lock:
        entry = _monitors.pop(pvname, None)
    if entry is not None:
        pv, index = entry
        pv.remove_callback(index)


def caget_many(pvlist: Sequence[str], as_string: bool = False, as_numpy: bool = True,
               count: Optional[int] = None, timeout: Optional[float] = DEFAULT_TIMEOUT,
               connection_timeout: Optional[float] = DEFAULT_TIMEOUT, form: str = "time",
               raise_on_error: Optional[bool] = None) -> List[Any]:
    """Read many PVs at once: all searches go out in one batch, and the reads of connected
    channels go out (one buffer per server) while the others still connect.

    Channels come from the shared context (and are reused by later calls); no monitors are
    created, so this scales to tens of thousands of PVs.

    Args:
        as_string, as_numpy, count: as for :func:`caget` (in pyepics' positional order).
        timeout: seconds for the replies, once every channel connected or timed out
            (``None`` = no limit).
        connection_timeout: seconds for the connections (``None`` = no limit).

    Returns:
        the values in ``pvlist`` order (``None`` for failures when not raising).

    Raises:
        CATimeoutError: some PVs did not connect or answer; ``failed`` maps each to why.
        CAError: some reads were refused by the server; ``failed`` maps each to why.
    """
    batch = _ReadMany(default_context(), form, as_string, count)
    batch.start(pvlist)
    batch.wait(connection_timeout, timeout)
    results: List[Any] = []
    failed: Dict[str, str] = {}
    for name in pvlist:
        entry = batch.replies.get(name)
        if entry is None:
            failed[name] = "answer a read" if batch.channels[name].connected else "connect"
            results.append(None)
            continue
        channel, (status, data_type, wire_count, payload) = entry
        try:
            if payload is None:
                raise CAError("disconnected before the read was answered", pvname=name)
            _convert.check_status(name, status, put=False)
            results.append(_reply_value(channel, data_type, wire_count, payload, as_string,
                                        count, as_numpy))
        except CAError as exc:
            failed[name] = str(exc)
            results.append(None)
    if failed:
        _report_many(failed, connection_timeout, timeout, raise_on_error)
    return results


class _ReadMany:
    """One read per name, each sent by the I/O thread as soon as its channel connects
    (connected channels' reads go out in one buffer per server)."""

    def __init__(self, context: Context, form: str, as_string: bool,
                 count: Optional[int]) -> None:
        self.context = context
        self.form = form
        self.as_string = as_string
        self.count = count
        self.channels: Dict[str, Channel] = {}
        self.replies: Dict[str, Tuple[Channel, Tuple[int, int, int, Any]]] = {}
        self._requested: set = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def start(self, names: Sequence[str]) -> None:
        with self.context.batch():
            for name in dict.fromkeys(names):
                channel = self.context.attach(name, self)
                self.channels[name] = channel
                if name not in _Keeper.channels:
                    _Keeper.channels[name] = self.context.attach(name, _keeper)

    def _ca_access(self, channel: Channel, rights: int) -> None:
        pass

    def _ca_connection(self, channel: Channel, connected: bool) -> None:
        with self._lock:
            if not connected or channel.name in self._requested:
                return
            self._requested.add(channel.name)
            self._changed.notify_all()
        native = channel.native
        enum = self.as_string and native == dbr.DBR.ENUM
        rtype = _convert.data_type_for(native, "ctrl" if enum else self.form)
        count = self.count if self.count is not None and 0 < self.count < channel.nelm else 0

        def done(status: int, data_type: int, wire_count: int, payload: Any) -> None:
            with self._lock:
                self.replies[channel.name] = (channel, (status, data_type, wire_count, payload))
                self._changed.notify_all()

        self.context.read(channel, rtype, count, done)

    def wait(self, connection_timeout: Optional[float], timeout: Optional[float]) -> None:
        """Wait for the connections, then for the replies; detach afterwards."""
        try:
            with self._lock:
                self._changed.wait_for(lambda: len(self._requested) >= len(self.channels),
                                       connection_timeout)
                self._changed.wait_for(lambda: len(self.replies) >= len(self._requested),
                                       timeout)
        finally:
            for channel in self.channels.values():
                self.context.detach(channel, self)


def _reply_value(channel: Channel, data_type: int, count: int, payload: Any,
                 as_string: bool, want: Optional[int], as_numpy: bool) -> Any:
    native, nelm = dbr.DBR(channel.native), channel.nelm
    values, md = dbr.decode(data_type, count, payload)
    raw = _convert.raw_value(values, native)
    if not as_string:
        return _convert.python_value(raw, native, nelm, count=want, as_numpy=as_numpy)
    return _convert.primitive_string(raw, native, nelm, data_type, md.get("enum_strs"))


def _report_many(failed: Dict[str, str], connection_timeout: Optional[float],
                 timeout: Optional[float], raise_on_error: Optional[bool]) -> None:
    names = sorted(failed)
    shown = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
    reasons = set(failed.values())
    if reasons == {"connect"}:  # each names the seconds it waited
        error: CAError = CATimeoutError(shown, connection_timeout, "connect")
    elif reasons == {"answer a read"}:
        error = CATimeoutError(shown, timeout, "answer a read")
    elif reasons == {"connect", "answer a read"}:
        error = CATimeoutError(shown, connection_timeout,
                               f"answer a read {limit_text(timeout)}, or connect")
    else:
        error = CAError(f"read failed: {failed}", pvname=shown)
    error.failed = failed  # type: ignore[attr-defined]
    if should_raise(raise_on_error):
        raise error
    log.warning("%s", error)


def caput_many(pvlist: Sequence[str], values: Sequence[Any],
               wait: Union[bool, str] = False,
               connection_timeout: Optional[float] = DEFAULT_TIMEOUT,
               put_timeout: Optional[float] = 60.0,
               raise_on_error: Optional[bool] = None) -> List[int]:
    """Write many PVs (pyepics' ``caput_many``).

    Args:
        wait: ``False`` sends all puts without waiting; ``'each'`` waits for each put in turn;
            ``'all'`` (or ``True``) sends all then waits for every completion.

    Returns:
        per PV, 1 for success and -1 for failure (pyepics' convention).

    Raises:
        CAError: with ``raise_on_error``, the first failure (the others are still attempted).
    """
    if len(pvlist) != len(values):
        raise ValueError("pvlist and values must have the same length")
    pvs = [get_pv(name) for name in pvlist]
    done = threading.Semaphore(0)
    statuses: List[int] = []
    errors: List[CAError] = []
    for pv, value in zip(pvs, values):
        try:
            pv.wait_for_connection(connection_timeout, raise_on_error=True)
            if wait == "each":
                pv.put(value, wait=True, timeout=put_timeout, raise_on_error=True)
            else:
                pv.put(value, callback=lambda **_: done.release(), raise_on_error=True)
            statuses.append(1)
        except CAError as exc:
            errors.append(exc)
            statuses.append(-1)
    if wait in (True, "all"):
        deadline = None if put_timeout is None else time.monotonic() + put_timeout
        for _ in range(statuses.count(1)):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not done.acquire(timeout=remaining):
                errors.append(CATimeoutError(", ".join(pvlist), put_timeout, "complete puts"))
                break
        for i, pv in enumerate(pvs):
            if statuses[i] == 1 and not pv.put_complete:
                statuses[i] = -1
            elif statuses[i] == 1 and pv.last_put_error is not None:
                errors.append(pv.last_put_error)
                statuses[i] = -1
    if errors:
        if should_raise(raise_on_error):
            raise errors[0]
        for exc in errors:
            log.warning("%s", exc)
    return statuses


__all__ = ["caget", "caput", "cainfo", "camonitor", "camonitor_clear", "caget_many",
           "caput_many", "get_pv"]
