"""pyepics-style ``Device`` (a prefix plus fields), ``Motor`` and ``Alarm``."""

from __future__ import annotations

import operator
import os
import threading
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

    def write_state(self, fh: Union[str, os.PathLike[str], IO[str]],
                    state: Optional[Dict[str, Any]] = None) -> None:
        """Write a snapshot as ``pvname  value`` lines to a file name (as pyepics) or an open
        text file."""
        if isinstance(fh, (str, os.PathLike)):
            with open(fh, "w") as out:
                self.write_state(out, state)
            return
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


# pyepics' attribute names of motor-record fields (motorRecord.dbd), e.g. ``m.slew_speed``.
_MOTOR_FIELDS = """
acceleration ACCL back_accel BACC backlash BDST back_speed BVEL card CARD
dial_high_limit DHLM direction DIR dial_low_limit DLLM settle_time DLY done_moving DMOV
dial_readback DRBV description DESC dial_drive DVAL units EGU encoder_step ERES
freeze_offset FOFF move_fraction FRAC hi_severity HHSV hi_alarm HIGH hihi_alarm HIHI
high_limit HLM high_limit_set HLS hw_limit HLSV home_forward HOMF home_reverse HOMR
high_op_range HOPR high_severity HSV integral_gain ICOF jog_accel JAR jog_forward JOGF
jog_reverse JOGR jog_speed JVEL last_dial_val LDVL low_limit LLM low_limit_set LLS
lo_severity LLSV lolo_alarm LOLO low_op_range LOPR low_alarm LOW last_rel_val LRLV
last_dial_drive LRVL last_SPMG LSPG low_severity LSV last_drive LVAL soft_limit LVIO
in_progress MIP missed MISS moving MOVN resolution MRES motor_status MSTA offset OFF
output_mode OMSL output OUT prop_gain PCOF precision PREC readback RBV retry_max RTRY
retry_count RCNT retry_deadband RDBD dial_difference RDIF raw_encoder_pos REP
raw_high_limit RHLS raw_low_limit RLLS relative_value RLV raw_motor_pos RMP
raw_readback RRBV readback_res RRES raw_drive RVAL dial_speed RVEL s_speed S
s_back_speed SBAK s_base_speed SBAS s_max_speed SMAX set SET stop_go SPMG
s_revolutions SREV stop_command STOP t_direction TDIR tweak_forward TWF tweak_reverse TWR
tweak_val TWV use_encoder UEIP u_revolutions UREV use_rdbl URIP drive VAL base_speed VBAS
slew_speed VELO version VERS max_speed VMAX use_home ATHM deriv_gain DCOF use_torque CNEN
device_type DTYP record_type RTYP status STAT
""".split()
#: pyepics return codes of :meth:`Motor.move`.
MOVE_OK, OUTSIDE_LIMITS, UNCONNECTED, TIMEOUT, TIMEOUT_BUT_DONE = 0, -12, -11, -8, -7
DONE_SOFT_LIMIT, DONE_HARD_LIMIT = -4, -3
MOVE_BEGUN_CONFIRMED, NOWAIT_SOFT_LIMIT, NOWAIT_HARD_LIMIT = 1, 4, 3
#: seconds ``move(confirm_move=True)`` waits for ``MOVN`` to turn 1 (pyepics' figure)
CONFIRM_MOVE_WAIT = 0.25


class Motor(Device):
    """A motor record (pyepics ``Motor``): every field by name (``m.VAL``, ``m.DMOV``) or by
    pyepics' alias (``m.drive``, ``m.done_moving``, ``m.slew_speed`` ...).

    The drive, readback, done flag, limits, tweak step, precision and description connect at
    creation; other fields connect on first use.

    Args:
        prefix: the record name, e.g. ``'XX:m1'``.
        delim: ``'.'`` for a motor record; other sets of PVs (``'XX:m1:VAL'``) use theirs.
        timeout: seconds for connection and reads.
    """

    _fields = ("VAL", "RBV", "DMOV", "HLM", "LLM", "TWV", "PREC", "DESC")
    _alias = dict(zip(_MOTOR_FIELDS[::2], _MOTOR_FIELDS[1::2]))

    def __init__(self, prefix: str, delim: str = ".", timeout: Optional[float] = 3.0):
        super().__init__(prefix, delim=delim, timeout=timeout)

    def __getattr__(self, attr: str) -> Any:
        field = self.__dict__.get("_aliases", {}).get(attr, attr)
        if field in _MOTOR_FIELDS[1::2] and field not in self.__dict__.get("_pvs", {}):
            self.PV(field)  # a motor-record field not connected yet
        return super().__getattr__(attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        field = self._resolve(attr)
        if field in _MOTOR_FIELDS[1::2]:
            self.put(field, value)
        else:
            super().__setattr__(attr, value)

    def within_limits(self, val: float, dial: bool = False) -> bool:
        """Whether ``val`` lies within the soft limits (``DLLM``..``DHLM`` with ``dial``);
        both limits 0 means no limits, as on a motor record."""
        high, low = (self.get("DHLM"), self.get("DLLM")) if dial else (
            self.get("HLM"), self.get("LLM"))
        return (high == low == 0) or (low <= val <= high)

    def check_limits(self) -> None:
        """Raise if the motor reports a limit violation (``LVIO``, ``HLS``, ``LLS``).

        Raises:
            LimitError: naming the violated limit.
        """
        for field, text in (("LVIO", "soft limit violation"), ("HLS", "high hard limit"),
                            ("LLS", "low hard limit")):
            if self.get(field) != 0:
                raise LimitError(f"{self.prefix}: {text}")

    def get_position(self, readback: bool = False, dial: bool = False, step: bool = False,
                     raw: bool = False) -> float:
        """The drive position (``VAL``), or with ``readback`` the readback (``RBV``); in dial
        (``DVAL``/``DRBV``) or raw step (``RVAL``/``RRBV``) coordinates if asked."""
        drive, back = ("DVAL", "DRBV") if dial else (
            ("RVAL", "RRBV") if (step or raw) else ("VAL", "RBV"))
        return self.get(back if readback else drive, use_monitor=False)

    def set_position(self, position: float, dial: bool = False, step: bool = False,
                     raw: bool = False) -> None:
        """Redefine the current position without moving: ``SET`` mode, write the drive field
        (``VAL``, ``DVAL`` with ``dial``, ``RVAL`` with ``raw``), back to ``USE``."""
        drive = "DVAL" if dial else ("RVAL" if (step or raw) else "VAL")
        self.put("SET", 1, wait=True)
        try:
            self.put(drive, position, wait=True)
        finally:
            self.put("SET", 0, wait=True)

    def move(self, val: float, relative: bool = False, wait: bool = False,
             timeout: Optional[float] = 300.0, dial: bool = False, step: bool = False,
             raw: bool = False, ignore_limits: bool = False, check_limits: bool = True,
             confirm_move: bool = False, raise_on_error: Optional[bool] = None) -> int:
        """Move to ``val`` (or by ``val`` with ``relative``), in user, dial or raw coordinates.

        With ``wait``, the move is complete only once the put completed and, after that,
        ``DMOV`` is 1 (the motor record sets it to 0 while processing the new drive value)
        with the readback at the target within ``RDBD`` (or the readback's precision): a
        motor whose put callback completes early is still waited for.

        Args:
            timeout: seconds to wait for the end of the move.
            ignore_limits: skip the soft-limit check (also ``check_limits=False``).
            confirm_move: without ``wait``, wait up to :data:`CONFIRM_MOVE_WAIT` s for
                ``MOVN`` to turn 1 before returning.

        Returns:
            pyepics' codes. With ``wait``: 0 finished at the target, -4/-3 finished on a
            soft/hard limit, and when not raising -8 timed out still moving, -7 timed out
            but done. Without: 1 moving, 4/3 stopped on a soft/hard limit, else 0. -12
            target outside the soft limits when not raising.

        Raises:
            LimitError: target outside the soft limits (nothing was moved).
            CATimeoutError: ``wait`` and the motor did not finish within ``timeout``; it may
                still be moving (call :meth:`stop`).
        """
        drive, back = ("DVAL", "DRBV") if dial else (
            ("RVAL", "RRBV") if (step or raw) else ("VAL", "RBV"))
        target = float(val) + (self.get(drive, use_monitor=False) if relative else 0.0)
        if check_limits and not ignore_limits and not (step or raw) and not (
                self.within_limits(target, dial=dial)):
            low, high = ("DLLM", "DHLM") if dial else ("LLM", "HLM")
            error = LimitError(f"{self.prefix}: target {target!r} outside limits "
                               f"[{self.get(low)}, {self.get(high)}]")
            if should_raise(raise_on_error):
                raise error
            log.warning("%s", error)
            return OUTSIDE_LIMITS
        if not wait:
            self.put(drive, target)
            moving = self.PV("MOVN")
            if confirm_move:
                moving.wait_for(lambda value: value == 1, timeout=CONFIRM_MOVE_WAIT)
            if moving.get(use_monitor=False, raise_on_error=False) == 1:
                return MOVE_BEGUN_CONFIRMED
            return self._limit_code(NOWAIT_SOFT_LIMIT, NOWAIT_HARD_LIMIT)
        try:
            _MoveWatch(self, back, target).run(drive, timeout)
        except CATimeoutError:
            if should_raise(raise_on_error):
                raise
            done = self.get("DMOV", use_monitor=False) == 1
            return TIMEOUT_BUT_DONE if done else TIMEOUT
        return self._limit_code(DONE_SOFT_LIMIT, DONE_HARD_LIMIT)

    def _limit_code(self, soft: int, hard: int) -> int:
        """``soft`` if ``LVIO`` is set, ``hard`` if ``HLS`` or ``LLS`` is, else 0."""
        for field, code in (("LVIO", soft), ("HLS", hard), ("LLS", hard)):
            pv = self._pvs.get(field)
            if pv is not None and pv.connected and pv.get(raise_on_error=False) == 1:
                return code
        return MOVE_OK

    def tweak(self, direction: str = "forward", wait: bool = False,
              timeout: Optional[float] = 300.0) -> int:
        """Move by the tweak step ``TWV``, ``'forward'`` or ``'reverse'``/``'back'``."""
        step = self.get("TWV")
        reverse = direction.startswith(("rev", "back"))
        return self.move(-step if reverse else step, relative=True, wait=wait,
                         timeout=timeout)

    def stop(self) -> None:
        """Ask the motor to stop (puts 1 to ``STOP``)."""
        self.put("STOP", 1)

    def get_pv(self, attr: str) -> PV:
        """The :class:`PV` of a field or alias."""
        return self.PV(attr)

    def set_callback(self, attr: str = "VAL", callback: Optional[Callable[..., Any]] = None,
                     kws: Optional[Dict[str, Any]] = None) -> int:
        """Add a value callback to a field (pyepics); returns its index."""
        return self.PV(attr).add_callback(callback, **(kws or {}))  # type: ignore[arg-type]

    def clear_callback(self, attr: str = "drive") -> None:
        """Remove every value callback of a field."""
        self.PV(attr).clear_callbacks()

    def refresh(self) -> None:
        """Read every connected field again from the server."""
        for pv in self._pvs.values():
            if pv.connected:
                pv.get(use_monitor=False, raise_on_error=False)

    def get_info(self) -> Dict[str, Any]:
        """``{alias: value}`` of the fields connected so far."""
        fields = {v: k for k, v in self._aliases.items()}
        return {fields.get(attr, attr): pv.get(raise_on_error=False)
                for attr, pv in self._pvs.items() if pv.connected}


class _MoveWatch:
    """Waits for a move: the put's completion, then ``DMOV`` 1 with the readback at the
    target, from reads made after the completion and from the monitor events stamped no
    earlier than those reads (events queued from before the move are ignored)."""

    #: Seconds between fresh reads while waiting (a safety net under the monitor events).
    POLL = 1.0

    def __init__(self, motor: Motor, readback: str, target: float) -> None:
        self.motor = motor
        self.target = target
        self.dmov = motor.PV("DMOV")
        self.readback = motor.PV(readback)
        self.changed = threading.Condition()
        self.latest: Dict[str, Any] = {}  # "dmov"/"readback" -> (timestamp, value)
        rdbd = motor._pvs.get("RDBD")
        tolerance = rdbd.get(raise_on_error=False) if rdbd is not None and rdbd.connected else 0
        precision = self.readback.precision
        self.tolerance = max(tolerance or 0, 10.0 ** -(precision if precision else 6))

    def _update(self, key: str, value: Any, timestamp: Optional[float]) -> None:
        with self.changed:
            stamp = -1.0 if timestamp is None else timestamp
            if key not in self.latest or stamp >= self.latest[key][0]:
                self.latest[key] = (stamp, value)
                self.changed.notify_all()

    def _on_dmov(self, value: Any = None, timestamp: Optional[float] = None, **_: Any) -> None:
        if "dmov" in self.latest:  # only once the fresh read is in
            self._update("dmov", value, timestamp)

    def _on_readback(self, value: Any = None, timestamp: Optional[float] = None,
                     **_: Any) -> None:
        if "readback" in self.latest:
            self._update("readback", value, timestamp)

    def _read_now(self) -> None:
        for key, pv in (("dmov", self.dmov), ("readback", self.readback)):
            md = pv.get_with_metadata(use_monitor=False, raise_on_error=True)
            self._update(key, md["value"], md.get("timestamp"))

    def _finished(self) -> bool:
        position = self.latest["readback"][1]
        return self.latest["dmov"][1] == 1 and position is not None and abs(
            position - self.target) <= self.tolerance

    def run(self, drive: str, timeout: Optional[float]) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        indices = (self.dmov.add_callback(self._on_dmov, with_ctrlvars=False),
                   self.readback.add_callback(self._on_readback, with_ctrlvars=False))
        try:
            self.motor.put(drive, self.target, wait=True, timeout=timeout)
            while True:
                self._read_now()
                with self.changed:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    step = self.POLL if remaining is None else min(self.POLL, remaining)
                    if self.changed.wait_for(self._finished, step):
                        return
            raise CATimeoutError(self.dmov.pvname, timeout,
                                 f"finish the move to {self.target!r} (readback "
                                 f"{self.latest['readback'][1]!r}, DMOV "
                                 f"{self.latest['dmov'][1]!r})")
        finally:
            self.dmov.remove_callback(indices[0])
            self.readback.remove_callback(indices[1])


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
        comparison: a key of :attr:`ops` (``'eq' 'ne' 'le' 'lt' 'ge' 'gt'``, underscores
            ignored, or ``'==' '!=' '<=' '<' '>=' '>'``) or a callable
            ``f(value, trip_point) -> bool``.
        trip_point: the value compared with.
        callback: ``f(pvname=, value=, char_value=, trip_point=, comparison=, **kw)``; without
            one, each alert prints ``Alarm: NAME=VALUE (time)`` as pyepics does.
        alert_delay: minimum seconds between two alerts.

    Raises:
        ValueError: unknown comparison.
    """

    #: The named comparisons (pyepics' ``Alarm.ops``).
    ops = _COMPARISONS

    def __init__(self, pvname: Union[str, PV], comparison: Any = None, trip_point: Any = None,
                 callback: Optional[Callable[..., Any]] = None, alert_delay: float = 10.0):
        if isinstance(comparison, str):
            op = self.ops.get(comparison.replace("_", ""))
            if op is None:
                raise ValueError(f"unknown comparison {comparison!r}")
            self._compare = op
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
            else:
                print(f"Alarm: {self.pvname}={kws.get('char_value', value)} "
                      f"({time.ctime()})")

    def reset(self) -> None:
        """Forget the current state so the next matching value alerts again."""
        self.alarm_state = False
        self.last_alert = -float("inf")

    def clear(self) -> None:
        """Stop watching."""
        self.pv.remove_callback(self._index)

    def __repr__(self) -> str:
        return (f"<Alarm pvname={self.pvname!r}, comparison={self.comparison!r}, "
                f"trip_point={self.trip_point!r}>")
