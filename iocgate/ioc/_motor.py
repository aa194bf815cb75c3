"""A motor-record face for one axis of a motion controller: the fields EPICS clients expect
(``.VAL .RBV .DMOV .MOVN .VELO .ACCL .HLM .LLM .DHLM .DLLM .HLS .LLS .STOP .TDIR .SET .FOFF
.OFF .DIR .EGU .PREC .DESC .RTYP .HOMF .HOMR .TWV .TWF .TWR .SPMG .LVIO .DVAL .DRBV``), so
that ophyd's ``EpicsMotor``, pyepics' ``Motor`` and ``iocgate.client.Motor`` drive it.

Use it as a subgroup whose prefix ends in ``.``, and call :func:`add_record_aliases` so the
bare record name is ``.VAL``, as on an IOC::

    m1 = SubGroup(MotorRecord, prefix="M1.", axis=my_axis, egu="mm", desc="Stage X")

User and dial coordinates follow the motor record: ``user = dial * (+1 if DIR is Pos else -1)
+ OFF``; ``HLM``/``LLM`` are the user images of ``DHLM``/``DLLM``; ``ACCL`` is the time (s) to
reach ``VELO``. A ``.VAL`` put outside ``LLM..HLM`` is refused (CA error, ``LVIO`` = 1,
nothing moves); a put completes when the move has ended (``DMOV`` = 1).
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol, Tuple

from caproto import AlarmSeverity, AlarmStatus, ChannelType

from .._errors import DeviceError
from ..server import PutCompletion
from ._bound import alarm_status_for
from ._group import PVGroup
from ._properties import pvproperty

__all__ = ["AxisStatus", "MotorAxis", "MotorRecord", "add_record_aliases"]

log = logging.getLogger("iocgate.ioc")


@dataclass(frozen=True)
class AxisStatus:
    """One poll of an axis: dial position (EGU), and its flags."""

    position: float
    moving: bool
    high_limit: bool = False
    low_limit: bool = False


class MotorAxis(Protocol):
    """What a motion controller's driver provides for one axis (dial coordinates, EGU).

    Every method may raise :class:`~iocgate.DeviceError`; it then shows as an alarm.
    """

    async def status(self) -> AxisStatus: ...
    async def move(self, dial: float) -> None: ...
    async def stop(self) -> None: ...
    async def home(self, forward: bool) -> None: ...
    async def speed(self, velocity: float, acceleration: float) -> None:
        """Set velocity (EGU/s) and acceleration (EGU/s²)."""
    async def soft_limits(self) -> Tuple[float, float]: ...
    async def set_soft_limits(self, low: float, high: float) -> None: ...


# the motor record's menus, states in the record's order
Direction = enum.IntEnum("Direction", [("Pos", 0), ("Neg", 1)])
Freeze = enum.IntEnum("Freeze", [("Variable", 0), ("Frozen", 1)])
SetMode = enum.IntEnum("SetMode", [("Use", 0), ("Set", 1)])
Spmg = enum.IntEnum("Spmg", [("Stop", 0), ("Pause", 1), ("Move", 2), ("Go", 3)])


def _pos(name: str, doc: str, value: float = 0.0, **kwargs: Any) -> pvproperty:
    return pvproperty(name=name, value=value, precision=3, units="mm", doc=doc, **kwargs)


def _flag(name: str, doc: str, value: int = 0, **kwargs: Any) -> pvproperty:
    return pvproperty(name=name, value=value, dtype=int, units="mm", doc=doc, **kwargs)


class MotorRecord(PVGroup):
    """The motor-record fields of one axis.

    Args:
        axis: ``device -> MotorAxis`` (called with the group's device node).
        egu: engineering units of positions. desc: the description (DESC).
        precision: digits shown (PREC).
        poll_moving, poll_idle: seconds between axis polls while moving / at rest.
    """

    attr_separator = "."

    def __init__(self, *args: Any, axis: Callable[[Any], MotorAxis], egu: str = "mm",
                 desc: str = "", precision: int = 3, poll_moving: float = 0.05,
                 poll_idle: float = 0.5, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.axis = axis(self.device) if self.device is not None else None
        self._egu, self._desc, self._prec = egu, desc, precision
        self.poll_moving, self.poll_idle = poll_moving, poll_idle
        self._busy = False  # a move or homing was commanded and has not ended yet
        self._generation = 0  # counts commanded moves
        self._sleep: Any = None
        self._offset, self._sign = 0.0, 1  # OFF and the DIR sign, as the coordinates use them

    # fields -----------------------------------------------------------------------------
    val = _pos("VAL", "User setpoint; a put moves the axis and completes when it stops")
    rbv = _pos("RBV", "User readback position", read_only=True)
    dval = _pos("DVAL", "Dial setpoint", read_only=True)
    drbv = _pos("DRBV", "Dial readback position", read_only=True)
    dmov = _flag("DMOV", "Done moving: 1 at rest, 0 while a move is under way", 1,
                 read_only=True)
    movn = _flag("MOVN", "Moving: 1 while the controller reports motion", read_only=True)
    tdir = _flag("TDIR", "Direction of the last move: 1 positive (dial), 0 negative",
                 read_only=True)
    hls = _flag("HLS", "At the high-limit switch (user direction)", read_only=True)
    lls = _flag("LLS", "At the low-limit switch (user direction)", read_only=True)
    lvio = _flag("LVIO", "Limit violation: the last target was outside LLM..HLM",
                 read_only=True)
    stop = _flag("STOP", "Put 1 to stop the axis now")
    homf = _flag("HOMF", "Put 1 to search home (forward)")
    homr = _flag("HOMR", "Put 1 to search home (reverse)")
    twf = _flag("TWF", "Put 1 to move forward by TWV")
    twr = _flag("TWR", "Put 1 to move in reverse by TWV")
    twv = _pos("TWV", "Tweak step for TWF/TWR", value=1.0)
    velo = pvproperty(name="VELO", value=1.0, precision=3, units="mm/s",
                      lower_ctrl_limit=1e-6, upper_ctrl_limit=1e3,
                      doc="Velocity of moves (EGU/s)")
    accl = pvproperty(name="ACCL", value=0.2, precision=3, units="s",
                      lower_ctrl_limit=1e-3, upper_ctrl_limit=100.0,
                      doc="Seconds to reach VELO from rest")
    hlm = _pos("HLM", "User high soft limit (0 with LLM 0: none)")
    llm = _pos("LLM", "User low soft limit")
    dhlm = _pos("DHLM", "Dial high soft limit (sent to the controller)")
    dllm = _pos("DLLM", "Dial low soft limit (sent to the controller)")
    off = _pos("OFF", "User offset: user = dial * DIR sign + OFF")
    dir = pvproperty(name="DIR", dtype=Direction, doc="User direction: Pos or Neg (of dial)")
    foff = pvproperty(name="FOFF", dtype=Freeze,
                      doc="Offset Variable (SET redefines OFF) or Frozen (SET refused)")
    set = pvproperty(name="SET", dtype=SetMode,
                     doc="Use: VAL puts move; Set: VAL puts redefine the user position")
    spmg = pvproperty(name="SPMG", dtype=Spmg, value=Spmg.Go,
                      doc="Stop/Pause/Move/Go; Stop and Pause stop the axis")
    egu = pvproperty(name="EGU", dtype=ChannelType.STRING, value="mm",
                     doc="Engineering units of positions")
    prec = pvproperty(name="PREC", dtype=int, value=3, units="digits", read_only=True,
                      doc="Digits after the decimal point of positions")
    desc = pvproperty(name="DESC", dtype=ChannelType.STRING, value="", doc="Description")
    rtyp = pvproperty(name="RTYP", dtype=ChannelType.STRING, value="motor", read_only=True,
                      doc="Record type, as a motor record reports it")

    # coordinates ------------------------------------------------------------------------
    def _user(self, dial: float) -> float:
        return dial * self._sign + self._offset

    def _dial(self, user: float) -> float:
        return (user - self._offset) * self._sign

    async def _publish_limits(self) -> None:
        ends = sorted((self._user(self.dllm.value), self._user(self.dhlm.value)))
        await self.llm.write(ends[0], verify_value=False)
        await self.hlm.write(ends[1], verify_value=False)
        await self.val.write_metadata(lower_ctrl_limit=ends[0], upper_ctrl_limit=ends[1])

    # the poll loop ----------------------------------------------------------------------
    @rbv.startup
    async def rbv(self, instance: Any, async_lib: Any) -> None:
        self._sleep = async_lib.library.sleep
        for channel in self.attr_pvdb.values():  # positions and, as on a motor record, flags
            if getattr(channel, "units", None) == "mm":
                extra = {"precision": self._prec} if isinstance(channel.value, float) else {}
                await channel.write_metadata(units=self._egu, **extra)
        await self.velo.write_metadata(units=f"{self._egu}/s", precision=self._prec)
        await self.egu.write(self._egu, verify_value=False)
        await self.desc.write(self._desc, verify_value=False)
        await self.prec.write(self._prec, verify_value=False)
        if self.axis is None:
            return
        while True:
            try:
                if self.dhlm.value == self.dllm.value == 0:
                    low, high = await self.axis.soft_limits()
                    await self.dllm.write(low, verify_value=False)
                    await self.dhlm.write(high, verify_value=False)
                    await self._publish_limits()
                await self._speed(self.velo.value, self.accl.value)
                break
            except DeviceError as exc:
                await self._alarm(exc)
                await self._sleep(self.poll_idle)
        while True:
            await self._poll()
            await self._sleep(self.poll_moving if self._busy or self.movn.value
                              else self.poll_idle)

    async def _alarm(self, exc: Optional[BaseException], stamp: Optional[float] = None) -> None:
        """Clear the readback's alarm, or raise TIMEOUT/COMM INVALID for ``exc``, stamped
        ``stamp`` (default now) as a record stamps the processing that raised it."""
        if exc is None:
            if self.rbv.alarm.severity != AlarmSeverity.NO_ALARM:
                await self.rbv.write_metadata(status=AlarmStatus.NO_ALARM,
                                              severity=AlarmSeverity.NO_ALARM,
                                              timestamp=time.time())
            return
        status = alarm_status_for(exc)
        if (self.rbv.alarm.status, self.rbv.alarm.severity) == (
                status, AlarmSeverity.INVALID_ALARM):
            return
        log.warning("%s: %s", self.prefix, exc)
        await self.rbv.write_metadata(status=status, severity=AlarmSeverity.INVALID_ALARM,
                                      timestamp=time.time() if stamp is None else stamp)

    async def link_down(self, error: BaseException, stamp: float) -> None:
        """The device group found the link down: alarm now, with the scanned PVs' stamp."""
        await self._alarm(error, stamp)

    async def _poll(self) -> Optional[AxisStatus]:
        generation = self._generation  # a status read before a move must not end it
        try:
            status = await self.axis.status()
        except Exception as exc:  # a driver bug too must alarm, not end the polling
            await self._alarm(exc)
            return None
        await self._alarm(None)
        high, low = status.high_limit, status.low_limit
        if self._sign < 0:
            high, low = low, high
        for pv, value in ((self.drbv, status.position), (self.rbv, self._user(status.position)),
                          (self.movn, int(status.moving)), (self.hls, int(high)),
                          (self.lls, int(low))):
            if pv.value != value:
                await pv.write(value, verify_value=False)
        if self._busy and not status.moving and generation == self._generation:
            self._busy = False
            await self.dmov.write(1, verify_value=False)
        return status

    async def _wait_done(self) -> None:
        while self._busy:
            await self._sleep(self.poll_moving)

    async def _start(self, action: Any, dial_target: Optional[float]) -> None:
        if self.axis is None:
            raise DeviceError("no controller connected")
        await self.dmov.write(0, verify_value=False)
        if dial_target is not None:
            await self.tdir.write(int(dial_target >= self.drbv.value), verify_value=False)
            await self.dval.write(dial_target, verify_value=False)
        try:
            await action
        except Exception:
            await self.dmov.write(1, verify_value=False)
            raise
        self._generation += 1
        self._busy = True

    # puts -------------------------------------------------------------------------------
    @val.putter
    async def val(self, instance: Any, value: float) -> float:
        if self.set.value in ("Set", SetMode.Set):
            if self.foff.value in ("Frozen", Freeze.Frozen):
                raise ValueError("SET with FOFF Frozen: this controller cannot redefine "
                                 "its dial position")
            self._offset = value - self._sign * self.drbv.value
            await self.off.write(self._offset, verify_value=False)
            await self.rbv.write(value, verify_value=False)
            await self._publish_limits()
            return value
        low, high = self.llm.value, self.hlm.value
        if not (low == high == 0) and not low <= value <= high:
            await self.lvio.write(1, verify_value=False)
            raise ValueError(f"{value} outside the soft limits {low}..{high}")
        await self.lvio.write(0, verify_value=False)
        dial = self._dial(value)
        await self._start(self.axis.move(dial) if self.axis else None, dial)
        return PutCompletion(value, self._move_ended())

    async def _move_ended(self) -> Optional[float]:
        """A VAL put's completion: the move's end (DMOV 1); where it stopped if a limit
        switch ended it (VAL follows), else None (VAL stays)."""
        await self._wait_done()
        if self.hls.value or self.lls.value:
            return self.rbv.value
        return None

    @stop.putter
    async def stop(self, instance: Any, value: int) -> int:
        if value and self.axis is not None:
            await self.axis.stop()
        return 0

    async def _home(self, value: int, forward: bool) -> Any:
        """HOMF/HOMR: 1 while the search runs; the put completes, and the flag returns to
        0, when the axis is done."""
        if not value:
            return 0
        await self._start(self.axis.home(forward) if self.axis else None, None)
        return PutCompletion(1, self._homing_ended())

    async def _homing_ended(self) -> int:
        await self._wait_done()
        return 0

    @homf.putter
    async def homf(self, instance: Any, value: int) -> Any:
        return await self._home(value, True)

    @homr.putter
    async def homr(self, instance: Any, value: int) -> Any:
        return await self._home(value, False)

    def _tweak(self, value: int, sign: int) -> Any:
        """TWF/TWR: move VAL by TWV; the flag reads 0 at once (as the record resets it), the
        put completes with the move (a target past the soft limits fails it)."""
        if not value:
            return 0
        return PutCompletion(0, self.val.write(self.val.value + sign * self.twv.value))

    @twf.putter
    async def twf(self, instance: Any, value: int) -> Any:
        return self._tweak(value, 1)

    @twr.putter
    async def twr(self, instance: Any, value: int) -> Any:
        return self._tweak(value, -1)

    @spmg.putter
    async def spmg(self, instance: Any, value: Any) -> Any:
        if value in ("Stop", "Pause") and self.axis is not None:
            await self.axis.stop()
        return value

    async def _speed(self, velocity: float, accel_time: float) -> None:
        if self.axis is not None:
            await self.axis.speed(velocity, velocity / accel_time)

    @velo.putter
    async def velo(self, instance: Any, value: float) -> float:
        await self._speed(value, self.accl.value)
        return value

    @accl.putter
    async def accl(self, instance: Any, value: float) -> float:
        await self._speed(self.velo.value, value)
        return value

    async def _dial_limits(self, low: float, high: float) -> None:
        if low > high:
            raise ValueError(f"low limit {low} above high limit {high}")
        if self.axis is not None:
            await self.axis.set_soft_limits(low, high)
        await self.dllm.write(low, verify_value=False)
        await self.dhlm.write(high, verify_value=False)
        await self._publish_limits()

    @dhlm.putter
    async def dhlm(self, instance: Any, value: float) -> float:
        await self._dial_limits(self.dllm.value, value)
        return value

    @dllm.putter
    async def dllm(self, instance: Any, value: float) -> float:
        await self._dial_limits(value, self.dhlm.value)
        return value

    async def _user_limit(self, value: float, high: bool) -> None:
        dial = self._dial(value)
        if high == (self._sign > 0):
            await self._dial_limits(self.dllm.value, dial)
        else:
            await self._dial_limits(dial, self.dhlm.value)

    @hlm.putter
    async def hlm(self, instance: Any, value: float) -> float:
        await self._user_limit(value, True)
        return self.hlm.value

    @llm.putter
    async def llm(self, instance: Any, value: float) -> float:
        await self._user_limit(value, False)
        return self.llm.value

    async def _recompute(self) -> None:
        await self.rbv.write(self._user(self.drbv.value), verify_value=False)
        await self.val.write(self._user(self.dval.value), verify_value=False)
        await self._publish_limits()

    @off.putter
    async def off(self, instance: Any, value: float) -> float:
        self._offset = value
        await self._recompute()
        return value

    @dir.putter
    async def dir(self, instance: Any, value: Any) -> Any:
        self._sign = -1 if value in ("Neg", Direction.Neg) else 1
        await self._recompute()
        return value


def add_record_aliases(group: PVGroup) -> None:
    """Serve every :class:`MotorRecord` subgroup's ``.VAL`` also under the bare record name
    (``MC:M1`` is ``MC:M1.VAL``), as an IOC does."""
    for sub in group.groups.values():
        if isinstance(sub, MotorRecord):
            group.pvdb[sub.prefix.rstrip(".")] = sub.val
