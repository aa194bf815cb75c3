"""A PV joined to its device node at run time: put, readback settling, and applying scan
results (value or alarm)."""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Awaitable, Callable, Optional

from caproto import AlarmSeverity, AlarmStatus, SkipWrite

from .. import _compat
from .._errors import (
    DeviceDisconnected,
    DeviceError,
    DeviceLinkDown,
    DeviceTimeout,
    ReadbackNotSettled,
)
from ..protocol import display_value
from ..server import PutCompletion
from ._binding import Binding
from ._channels import _same
from ._limits import limit_alarm, limit_state
from ._writes import WriteQueue

log = logging.getLogger("iocgate.ioc")

#: seconds between readback polls while a put waits for the readback to settle
SETTLE_POLL_PERIOD = 0.05


def write_alarm_status(error: BaseException) -> AlarmStatus:
    """A failed write's alarm status, as asyn maps a write's status: TIMEOUT (no answer
    in time, or a readback that did not settle), COMM (link lost or down), WRITE (the
    device refused the value, or anything else)."""
    if isinstance(error, DeviceLinkDown):
        error = error.cause
    if isinstance(error, DeviceTimeout):
        return AlarmStatus.TIMEOUT
    return AlarmStatus.COMM if isinstance(error, DeviceDisconnected) else AlarmStatus.WRITE


def alarm_status_for(error: BaseException) -> AlarmStatus:
    """TIMEOUT for a device that did not answer in time, COMM for every other failure (a
    link refused as down counts as what took it down)."""
    if isinstance(error, DeviceLinkDown):
        error = error.cause
    return AlarmStatus.TIMEOUT if isinstance(error, DeviceTimeout) else AlarmStatus.COMM


class BoundPV:
    """One PV of a group with its node.

    Attributes:
        channel: the caproto ChannelData serving the PV.
        binding: what the property declared.
        node: the resolved device node.
        readback: the ``_RBV`` PV's BoundPV, if any.
    """

    def __init__(self, channel: Any, binding: Binding, node: Any):
        self.channel = channel
        self.binding = binding
        self.node = node
        self.readback: Optional[BoundPV] = None
        self.readable = True
        self.error: Optional[BaseException] = None
        #: awaited with the error when a put fails (the device group counts it)
        self.on_put_error: Optional[Callable[[BaseException], Awaitable[None]]] = None
        #: the setpoint's ramp (a RampRunner), if it was declared with ``ramp=``
        self.ramp: Any = None
        #: this PV's deferred device writes (ramps move the device themselves)
        self.writes = WriteQueue(self._write, self._write_failed, self._write_done)
        self._put_generation = 0
        self._good_value: Any = None  # the value a failed write returns the PV to
        self._device_took = False  # whether the last write's value reached the device
        #: the alarm status a failed write raised, until a good write (WRITE also stays
        #: through good reads: the device refused a value; a link's alarm clears with them)
        self._write_alarm: Optional[AlarmStatus] = None

    @property
    def name(self) -> str:
        return self.channel.pvname

    def scan_token(self) -> int:
        """Taken before a read; :meth:`apply` drops a value read if a put happened since."""
        return self._put_generation

    async def put(self, pv_value: Any) -> Any:
        """Accept a put as an EPICS record with asynchronous device support does: the value
        is stored at once and the client's circuit goes on; the put completes when the
        device acknowledged (and, with a tolerance, the readback settled).

        Returns:
            A :class:`PutCompletion` storing ``pv_value`` now. Puts made while this PV's
            previous write is in progress replace one pending value, written when the
            device is free (an EPICS record's RPRO): each completes when the write carrying
            its value or a newer one ends. The write goes ahead of every scan read not
            sent yet. With a ramp at a rate above 0 (or the device's own), the completion
            ramps; it ends where a stopped ramp ended, or with caproto's ``SkipWrite`` when
            a newer put took over (a ramp at rate 0 writes as a put without a ramp).

        Failure of a deferred write (the device refused the value, did not answer, the link
        went down before it was sent, or the readback did not settle) fails the put
        (ECA_PUTFAIL), counts in ERROR_COUNT, shows in LAST_ERROR, and puts the PV in an
        INVALID alarm: WRITE (refused; until the next good write), TIMEOUT or COMM (until
        the device answers again). Unless the device took the value (a readback that did
        not settle) or a newer put is pending, the PV returns to its last good value.

        Raises:
            DeviceLinkDown: the link is down: refused at once (nothing is stored), never
                written later.
            ValueError: the value cannot be converted for the device (nothing is stored).
        """
        device_value = self.binding.to_device(pv_value)
        endpoint = getattr(self.node, "endpoint", None)
        refused = endpoint.link_error() if endpoint is not None else None
        if refused is not None:
            await self._put_failed(pv_value, refused)
            raise refused
        self._put_generation += 1
        if self.ramp is not None and self.ramp.takes_time:  # the target is stored now; the
            # put completes when the ramp ends (a failure then fails it; the target stays)
            return PutCompletion(pv_value, self._write(pv_value, device_value))
        if not self.writes.busy:  # what a failed write returns the PV to
            self._good_value = self.channel.value
        return self.writes.submit(pv_value, device_value)

    async def _write(self, pv_value: Any, device_value: Any) -> Any:
        self._device_took = False
        try:
            if self.ramp is not None:
                reached = await self.ramp.move(device_value)
                if reached is None:  # a newer put took over this ramp; it sets the PV
                    self._put_generation += 1
                    return SkipWrite
                device_value = pv_value = reached
            else:
                await self.node.aput(device_value)
            self._device_took = True
            self._put_generation += 1
            if self.binding.tolerance is not None and self.readback is not None:
                await self.readback.settle(float(device_value), self.binding.tolerance,
                                           self.binding.settle_timeout)
        except DeviceError as exc:
            await self._put_failed(pv_value, exc)
            raise
        return pv_value

    async def _put_failed(self, pv_value: Any, error: DeviceError) -> None:
        log.warning("%s: put of %s failed: %s", self.name, display_value(pv_value), error)
        if self.on_put_error is not None:
            await self.on_put_error(error)

    async def _write_failed(self, error: BaseException, newer_pending: bool) -> None:
        """A deferred write failed: back to the last good value unless the device took this
        one or a newer put is pending (its value stays shown). The device answered (it
        refused, or the readback did not settle): this PV's own WRITE or TIMEOUT alarm. The
        link failed: the scanner alarms every PV on it with one timestamp (link state)."""
        self._put_generation += 1  # a read that raced the failure is stale
        channel = self.channel
        if self._device_took:
            self._good_value = channel.value
        restore = not (newer_pending or self._device_took
                       or _same(channel.value, self._good_value))
        status = write_alarm_status(error)
        if status is AlarmStatus.WRITE or isinstance(error, ReadbackNotSettled):
            self._write_alarm, severity = status, AlarmSeverity.INVALID_ALARM
            if restore:
                await channel.write(self._good_value, verify_value=False, status=status,
                                    severity=severity)
            else:
                await channel.write_metadata(status=status, severity=severity)
        elif restore:  # keep the stamp of a link alarm already shown: when it started
            kept = ({"timestamp": channel.timestamp}
                    if channel.alarm.severity == AlarmSeverity.INVALID_ALARM else {})
            await channel.write(self._good_value, verify_value=False, **kept)

    async def _write_done(self, pv_value: Any) -> None:
        """A deferred write reached the device: it is the last good value; a write
        failure's alarm clears."""
        self._good_value = pv_value
        if self._write_alarm is not None:
            self._write_alarm = None
            await self.channel.write_metadata(status=AlarmStatus.NO_ALARM,
                                              severity=AlarmSeverity.NO_ALARM)

    async def settle(self, target: float, tolerance: float, timeout: float) -> None:
        """Poll this (readback) node until within ``tolerance`` of ``target``.

        Raises:
            ReadbackNotSettled: not within tolerance after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = await self.node.aget()
                await self.apply(value, self.scan_token())
                if math.isclose(float(value), target, abs_tol=tolerance):
                    return
            except DeviceError as exc:
                await self.apply(exc, self.scan_token())
            if time.monotonic() >= deadline:
                raise ReadbackNotSettled(
                    f"{self.name} did not settle to {target:g} +/- {tolerance:g}",
                    timeout=timeout, endpoint=_endpoint_name(self.node))
            await _compat.sleep(SETTLE_POLL_PERIOD)

    async def apply(self, result: Any, token: Optional[int],
                    stamp: Optional[float] = None) -> Optional[BaseException]:
        """Publish a scan result: a value (clearing any alarm) or an error (alarm, old value
        kept). Returns the error, if the result was one.

        Args:
            token: :meth:`scan_token` taken before the read; a value read before a put
                that happened since is stale and dropped (an error never is). ``None``: no
                read (an alarm raised for the whole link).
            stamp: the alarm's timestamp (s since the epoch); default now. A new alarm is
                stamped, as an EPICS record stamps the processing that raised it.
        """
        channel = self.channel
        if isinstance(result, BaseException):
            new_status = alarm_status_for(result)
            if self.error is None or type(self.error) is not type(result):
                log.debug("%s: %s", self.name, result)  # the device group logs the link state
            self.error = result
            if (channel.alarm.status, channel.alarm.severity) != (
                    new_status, AlarmSeverity.INVALID_ALARM):
                await channel.write_metadata(
                    status=new_status, severity=AlarmSeverity.INVALID_ALARM,
                    timestamp=time.time() if stamp is None else stamp)
            return result
        if (token != self._put_generation or self.writes.busy
                or (self.ramp is not None and self.ramp.active)):
            return None  # a put raced this read, a write is on its way (as a record's PACT
            # keeps scans out), or a ramp is moving the device's setpoint
        try:
            value = self.binding.to_pv(result)
        except ValueError as exc:
            bad = DeviceError(str(exc), endpoint=_endpoint_name(self.node))
            return await self.apply(bad, token)
        if self.error is not None:
            log.debug("%s: recovered", self.name)
            self.error = None
        status, severity = AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM
        if self._write_alarm is AlarmStatus.WRITE:  # a refused write's alarm stays
            status, severity = self._write_alarm, AlarmSeverity.INVALID_ALARM
        else:
            self._write_alarm = None  # a link's alarm clears when the device answers
            if self.binding.alarm_limits is not None:
                state = limit_state(channel, self.binding.alarm_limits)
                status, severity = limit_alarm(state, value)
        if (channel.alarm.status, channel.alarm.severity) != (status, severity):
            await channel.write(value, verify_value=False, status=status, severity=severity)
        elif not _same(channel.value, value):
            await channel.write(value, verify_value=False)
        return None


async def put_to_device(group: Any, instance: Any, value: Any) -> Any:
    """caproto putter generated for every writable bound property."""
    bound = group.bound_pvs.get(instance.pvspec.attr)
    if bound is not None:
        return await bound.put(value)
    return value


def _endpoint_name(node: Any) -> str:
    endpoint = getattr(node, "endpoint", None)
    return getattr(endpoint, "name", "") if endpoint is not None else ""
