"""pyepics-style ``Device`` (a prefix plus fields), ``Motor`` and ``Alarm``."""

from __future__ import annotations

import operator
import time
from typing import IO, Any, Callable, Dict, Iterable, Optional, Union

from .._errors import LimitError
from ._errors import CATimeoutError, should_raise
from ._pv import PUT_TIMEOUT, PV
from ._pvbase import log

_RESERVED = ("_prefix", "_delim", "_pvs", "_aliases", "_mutable", "_timeout", "_nonpvs",
             "_children")


class Device:
    """A set of PVs sharing a prefix, read and written as attributes (pyepics ``Device``).

    ``Device("XX:ai1", attrs=("VAL", "EGU"), delim=".")`` holds ``XX:ai1.VAL`` and
    ``XX:ai1.EGU``; ``dev.VAL`` gets, ``dev.VAL = 1`` puts, ``dev.PV("VAL")`` is the
    :class:`PV`. PVs are created (and connect in the background) when the Device is.

    Args:
        prefix: the common name prefix.
        attrs: field names (suffixes); each becomes ``prefix + delim + attr``.
        nonpvs: attribute names that are plain Python attributes, never PVs.
        delim: put between prefix and field.
        timeout: seconds for connection and get (``None`` = the PV default).
        mutable: ``False`` forbids attributes that are not PVs (typo guard).
        aliases: ``{alias: attr}`` so ``dev.alias`` reads ``attr``.
    """

    _fields: tuple = ()
    _alias: Dict[str, str] = {}

    def __init__(self, prefix: str = "", attrs: Optional[Iterable[str]] = None,
                 nonpvs: Optional[Iterable[str]] = None, delim: str = "",
                 timeout: Optional[float] = None, mutable: bool = True,
                 aliases: Optional[Dict[str, str]] = None):
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_delim", delim)
        object.__setattr__(self, "_pvs", {})
        object.__setattr__(self, "_children", {})
        object.__setattr__(self, "_aliases", {**self._alias, **(aliases or {})})
        object.__setattr__(self, "_mutable", mutable)
        object.__setattr__(self, "_timeout", timeout)
        object.__setattr__(self, "_nonpvs", set(nonpvs or ()) | set(_RESERVED))
        for attr in (self._fields if attrs is None else attrs):
            self.add_pv(f"{prefix}{delim}{attr}", attr=attr)

    @property
    def prefix(self) -> str:
        """The name prefix."""
        return self._prefix

    def add_pv(self, pvname: str, attr: Optional[str] = None, **kws: Any) -> PV:
        """Add (or return) the PV ``pvname`` under attribute ``attr`` (default: the name)."""
        attr = pvname if attr is None else attr
        if attr not in self._pvs:
            self._pvs[attr] = PV(pvname, connection_timeout=self._timeout, **kws)
        return self._pvs[attr]

    def add_child(self, attr: str, device: Device) -> None:
        """Make ``device`` reachable as ``self.<attr>`` (for nested groups)."""
        self._children[attr] = device

    def _resolve(self, attr: str) -> str:
        return self._aliases.get(attr, attr)

    def PV(self, attr: str, connect: bool = False, **kws: Any) -> PV:
        """The :class:`PV` for ``attr`` (an alias, a known field, or a new field of the prefix).

        Raises:
            CATimeoutError: ``connect=True`` and no connection within the device timeout.
        """
        attr = self._resolve(attr)
        pv = self._pvs.get(attr)
        if pv is None:
            pv = self.add_pv(f"{self._prefix}{self._delim}{attr}", attr=attr, **kws)
        if connect:
            pv.wait_for_connection(self._timeout, raise_on_error=True)
        return pv

    def get(self, attr: str, as_string: bool = False, count: Optional[int] = None,
            timeout: Optional[float] = None, **kws: Any) -> Any:
        """Value of ``attr`` (see :meth:`iocgate.client.PV.get`)."""
        timeout = self._timeout if timeout is None else timeout
        return self.PV(attr).get(as_string=as_string, count=count, timeout=timeout, **kws)

    def put(self, attr: str, value: Any, wait: bool = False, use_complete: bool = False,
            timeout: Optional[float] = None, **kws: Any) -> Optional[int]:
        """Write ``value`` to ``attr`` (see :meth:`iocgate.client.PV.put`)."""
        return self.PV(attr).put(value, wait=wait, use_complete=use_complete,
                                 timeout=PUT_TIMEOUT if timeout is None else timeout, **kws)

    def get_all(self) -> Dict[str, Any]:
        """``{attr: value}`` for every PV of the device (children included, dotted)."""
        out = {attr: self.get(attr) for attr in self._pvs}
        for name, child in self._children.items():
            out.update({f"{name}.{k}": v for k, v in child.get_all().items()})
        return out

    def save_state(self) -> Dict[str, Any]:
        """A snapshot ``{attr: value}`` of every PV, for :meth:`restore_state`."""
        return self.get_all()

    def restore_state(self, state: Dict[str, Any], wait: bool = False) -> None:
        """Put back every value of a :meth:`save_state` snapshot that is writable."""
        for attr, value in state.items():
            target, _, leaf = attr.rpartition(".")
            device = self
            for part in filter(None, target.split(".")):
                device = device._children[part]
            pv = device.PV(leaf)
            if pv.wait_for_connection(self._timeout) and pv.write_access:
                pv.put(value, wait=wait)

    def write_state(self, fh: IO[str], state: Optional[Dict[str, Any]] = None) -> None:
        """Write a snapshot as ``pvname  value`` lines."""
        for attr, value in (self.save_state() if state is None else state).items():
            fh.write(f"{self.PV(attr).pvname}  {value!r}\n")

    def add_callback(self, attr: str, callback: Callable[..., Any], **kws: Any) -> int:
        """Add a value callback to ``attr``'s PV; returns its index."""
        return self.PV(attr).add_callback(callback, **kws)

    def remove_callbacks(self, attr: str, index: Optional[int] = None) -> None:
        """Remove one (``index``) or all value callbacks of ``attr``."""
        pv = self.PV(attr)
        pv.clear_callbacks() if index is None else pv.remove_callback(index)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        children = self.__dict__.get("_children", {})
        if attr in children:
            return children[attr]
        resolved = self.__dict__.get("_aliases", {}).get(attr, attr)
        if resolved in self.__dict__.get("_pvs", {}):
            return self.get(resolved)
        raise AttributeError(f"{type(self).__name__} has no attribute {attr!r}")

    def __setattr__(self, attr: str, value: Any) -> None:
        resolved = self._resolve(attr)
        if resolved in self._pvs:
            self.put(resolved, value)
        elif attr in self._nonpvs or self._mutable or attr in type(self).__dict__:
            object.__setattr__(self, attr, value)
        else:
            raise AttributeError(f"{type(self).__name__} has no PV or attribute {attr!r}")

    def __dir__(self) -> Iterable[str]:
        return sorted(set(super().__dir__()) | set(self._pvs) | set(self._aliases)
                      | set(self._children))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._prefix!r}: {len(self._pvs)} PVs>"


class Motor(Device):
    """A motor-record style positioner (pyepics ``Motor``): ``VAL`` drive, ``RBV`` readback,
    ``DMOV`` done-moving, ``STOP``, soft limits ``HLM``/``LLM``, tweak step ``TWV``.

    Args:
        prefix: the record name, e.g. ``'XX:m1'``.
        delim: ``'.'`` for a real motor record; other sets of PVs (e.g. ``'XX:m1:VAL'``) use
            their separator.
        timeout: seconds for connection and reads.
    """

    _fields = ("VAL", "RBV", "DMOV", "STOP", "HLM", "LLM", "TWV", "DESC")
    _alias = {"drive": "VAL", "readback": "RBV", "done_moving": "DMOV", "high_limit": "HLM",
              "low_limit": "LLM", "tweak_val": "TWV", "description": "DESC"}

    def __init__(self, prefix: str, delim: str = ".", timeout: Optional[float] = 3.0):
        super().__init__(prefix, delim=delim, timeout=timeout)

    def within_limits(self, val: float) -> bool:
        """Whether ``val`` lies within the soft limits (no limits when both are 0, as on a
        motor record)."""
        high, low = self.get("HLM"), self.get("LLM")
        return (high == low == 0) or (low <= val <= high)

    def get_position(self, readback: bool = True) -> float:
        """The readback (``RBV``), or with ``readback=False`` the drive setpoint (``VAL``)."""
        return self.get("RBV" if readback else "VAL", use_monitor=False)

    def move(self, val: float, relative: bool = False, wait: bool = False,
             timeout: Optional[float] = 300.0, check_limits: bool = True,
             raise_on_error: Optional[bool] = None) -> int:
        """Move to ``val`` (or by ``val`` with ``relative``).

        Args:
            wait: block until the put completes and ``DMOV`` is 1 again.
            timeout: seconds to wait for the end of the move.
            check_limits: refuse targets outside ``LLM``..``HLM`` before moving.

        Returns:
            0 when the move was started (and, with ``wait``, finished); pyepics' -12 for a
            target outside the limits when not raising.

        Raises:
            LimitError: target outside the soft limits (nothing was moved).
            CATimeoutError: ``wait`` and the motor did not finish within ``timeout``; it may
                still be moving (call :meth:`stop`).
        """
        target = self.get_position(readback=False) + val if relative else val
        if check_limits and not self.within_limits(target):
            error = LimitError(f"{self.prefix}: target {target!r} outside limits "
                               f"[{self.get('LLM')}, {self.get('HLM')}]")
            if should_raise(raise_on_error):
                raise error
            log.warning("%s", error)
            return -12
        deadline = None if timeout is None else time.monotonic() + timeout
        self.put("VAL", target, wait=wait, timeout=timeout)
        if wait:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self.PV("DMOV").wait_for(lambda v: v == 1, remaining):
                raise CATimeoutError(self.PV("DMOV").pvname, timeout, "finish the move")
        return 0

    def tweak(self, direction: str = "forward", wait: bool = False,
              timeout: Optional[float] = 300.0) -> int:
        """Move by the tweak step ``TWV``, ``'forward'`` or ``'reverse'``."""
        step = self.get("TWV")
        return self.move(step if direction == "forward" else -step, relative=True, wait=wait,
                         timeout=timeout)

    def stop(self) -> None:
        """Ask the motor to stop (puts 1 to ``STOP``)."""
        self.put("STOP", 1)


_COMPARISONS: Dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "le": operator.le, "lt": operator.lt,
    "ge": operator.ge, "gt": operator.gt, "==": operator.eq, "!=": operator.ne,
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt,
}


class Alarm:
    """Run ``callback`` when a PV's value starts to satisfy ``value <comparison> trip_point``.

    The callback gets pyepics' value keywords plus ``trip_point`` and ``comparison``. It runs
    on the transition into the alarm condition, and not again within ``alert_delay`` seconds
    of the previous alert.

    Args:
        pvname: the PV to watch.
        comparison: ``'eq' 'ne' 'le' 'lt' 'ge' 'gt'`` or ``'==' '!=' '<=' '<' '>=' '>'`` or a
            callable ``f(value, trip_point) -> bool``.
        trip_point: the value compared with.
        callback: ``f(pvname=, value=, char_value=, trip_point=, comparison=, **kw)``.
        alert_delay: minimum seconds between two alerts.

    Raises:
        ValueError: unknown comparison.
    """

    def __init__(self, pvname: Union[str, PV], comparison: Any = None, trip_point: Any = None,
                 callback: Optional[Callable[..., Any]] = None, alert_delay: float = 10.0):
        if isinstance(comparison, str):
            if comparison not in _COMPARISONS:
                raise ValueError(f"unknown comparison {comparison!r}")
            self._compare = _COMPARISONS[comparison]
        elif callable(comparison):
            self._compare = comparison
        else:
            raise ValueError("comparison must be a string operator or a callable")
        self.pv = pvname if isinstance(pvname, PV) else PV(pvname)
        self.pvname = self.pv.pvname
        self.comparison = comparison
        self.trip_point = trip_point
        self.callback = callback
        self.alert_delay = alert_delay
        self.alarm_state = False
        self.last_alert = -float("inf")
        self._index = self.pv.add_callback(self._check, run_now=True)

    def _check(self, value: Any = None, **kws: Any) -> None:
        try:
            tripped = bool(self._compare(value, self.trip_point))
        except TypeError:
            tripped = False
        was, self.alarm_state = self.alarm_state, tripped
        now = time.monotonic()
        if tripped and not was and now - self.last_alert >= self.alert_delay:
            self.last_alert = now
            if self.callback is not None:
                kws.update(value=value, trip_point=self.trip_point, comparison=self.comparison)
                self.callback(**kws)

    def reset(self) -> None:
        """Forget the current state so the next matching value alerts again."""
        self.alarm_state = False
        self.last_alert = -float("inf")

    def clear(self) -> None:
        """Stop watching."""
        self.pv.remove_callback(self._index)
