"""Async versions of the procedural helpers: ``await caget(...)`` and friends."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Sequence

from .._errors import CAError, should_raise
from .._procedural import _default_monitor_line
from .._pv import DEFAULT_TIMEOUT
from .._pvbase import log
from ._pv import PV, pv_caches


def get_pv(pvname: str, form: str = "time") -> PV:
    """The cached async :class:`PV` for ``pvname`` in the running loop (not yet connected)."""
    pvs = pv_caches.setdefault(asyncio.get_running_loop(), {})
    pv = pvs.get((pvname, form))
    if pv is None:
        pv = pvs[(pvname, form)] = PV(pvname, form=form)
    return pv


async def _guard(raise_on_error: Optional[bool], call: Any) -> Any:
    try:
        return await call
    except CAError as exc:
        if should_raise(raise_on_error):
            raise
        log.warning("%s", exc)
        return None


async def caget(pvname: str, as_string: bool = False, count: Optional[int] = None,
                as_numpy: bool = True, timeout: Optional[float] = DEFAULT_TIMEOUT,
                form: str = "time", raise_on_error: Optional[bool] = None) -> Any:
    """Read one PV; the same values as :func:`iocgate.client.caget`.

    Raises:
        CATimeoutError: no connection or reply within ``timeout`` seconds.
    """
    pv = get_pv(pvname, form)
    return await _guard(raise_on_error, pv.get(count=count, as_string=as_string,
                                               as_numpy=as_numpy, timeout=timeout,
                                               use_monitor=False, raise_on_error=True))


async def caput(pvname: str, value: Any, wait: bool = False,
                timeout: Optional[float] = 60.0,
                callback: Optional[Callable[..., Any]] = None,
                raise_on_error: Optional[bool] = None) -> Optional[int]:
    """Write one PV; ``wait=True`` awaits completion.

    Raises:
        CATimeoutError: no connection, or (``wait``) no completion within ``timeout``.
        CAPutError: refused (no write access, bad enum name, server status).
    """
    pv = get_pv(pvname)
    return await _guard(raise_on_error, pv.put(value, wait=wait, timeout=timeout,
                                               callback=callback, raise_on_error=True))


async def caget_many(pvlist: Sequence[str], as_string: bool = False, as_numpy: bool = True,
                     count: Optional[int] = None,
                     timeout: Optional[float] = DEFAULT_TIMEOUT,
                     raise_on_error: Optional[bool] = None) -> List[Any]:
    """Read many PVs concurrently, values in ``pvlist`` order.

    Raises:
        CAError: the first failure; the others are still read (``None`` when not raising).
    """
    gets = [get_pv(name).get(count=count, as_string=as_string, as_numpy=as_numpy,
                             timeout=timeout, use_monitor=False, raise_on_error=True)
            for name in pvlist]
    results = await asyncio.gather(*gets, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, CAError):
            raise error
    if errors and should_raise(raise_on_error):
        raise errors[0]
    return [None if isinstance(r, BaseException) else r for r in results]


async def caput_many(pvlist: Sequence[str], values: Sequence[Any], wait: bool = False,
                     put_timeout: Optional[float] = 60.0,
                     raise_on_error: Optional[bool] = None) -> List[int]:
    """Write many PVs concurrently; 1/-1 per PV as pyepics returns.

    Raises:
        CAError: the first failure when raising (the others are still written).
    """
    if len(pvlist) != len(values):
        raise ValueError("pvlist and values must have the same length")
    puts = [get_pv(name).put(value, wait=wait, timeout=put_timeout, raise_on_error=True)
            for name, value in zip(pvlist, values)]
    results = await asyncio.gather(*puts, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors and should_raise(raise_on_error):
        raise errors[0]
    return [-1 if isinstance(r, BaseException) else 1 for r in results]


async def cainfo(pvname: str, print_out: bool = True,
                 timeout: Optional[float] = DEFAULT_TIMEOUT) -> Optional[str]:
    """The text report of :func:`iocgate.client.cainfo`: returned with ``print_out=False``,
    otherwise printed (and ``None`` returned, as pyepics does)."""
    pv = get_pv(pvname)
    await pv.get(timeout=timeout, use_monitor=False, raise_on_error=True)
    await pv.get_ctrlvars(timeout=timeout)
    text = pv._info_text()
    if print_out:
        print(text)
        return None
    return text


async def camonitor(pvname: str, timeout: Optional[float] = DEFAULT_TIMEOUT
                    ) -> AsyncIterator[Dict[str, Any]]:
    """``async for change in camonitor(name)``: pyepics callback dicts, current value first.

    Raises:
        CATimeoutError: no connection within ``timeout`` seconds.
    """
    async for change in get_pv(pvname).monitor(timeout):
        yield change


def camonitor_line(change: Dict[str, Any]) -> str:
    """The line :func:`iocgate.client.camonitor` prints for one change."""
    return _default_monitor_line(**change)


__all__ = ["caget", "caput", "caget_many", "caput_many", "cainfo", "camonitor",
           "camonitor_line", "get_pv"]
