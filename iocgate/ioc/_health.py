"""Health PVs every device-owning group publishes."""

from __future__ import annotations

import enum
import logging
from typing import Any, Sequence

from caproto import AlarmSeverity, AlarmStatus, ChannelType

from .._errors import DeviceDisconnected, DeviceTimeout, ReadbackNotSettled
from ._group import PVGroup
from ._properties import pvproperty
from ._scanner import DeviceHealthSink

log = logging.getLogger("iocgate.ioc")

#: characters kept of an error message in LAST_ERROR (a long-string CHAR waveform)
LAST_ERROR_LENGTH = 256
#: limits (s) of the SCAN_PERIOD PV
SCAN_PERIOD_LIMITS = (0.01, 3600.0)


class Link(enum.IntEnum):
    Disconnected = 0
    Connected = 1


class HealthPVs(PVGroup, DeviceHealthSink):
    """Health PVs of a device: CONNECTED, LAST_ERROR, ERROR_COUNT, SCAN_OVERRUNS, SCAN_TIME
    and SCAN_PERIOD.

    LAST_ERROR holds the first error of the last failed scan pass (or a put's link failure)
    until a pass succeeds, and the reason of a refused put until a newer error replaces it.

    :class:`~iocgate.DeviceGroup` has them; the device's scheduler starts from CONNECTED's
    startup hook, so it runs on whichever server and async library serve the IOC.
    """

    _trailing_pvs_ = ("connected", "last_error", "error_count", "scan_overruns", "scan_time",
                      "scan_period_pv")
    _scan_error_shown = False  # LAST_ERROR is a scan's error, which a clean pass clears

    connected = pvproperty(name="CONNECTED", dtype=Link, value=Link.Disconnected,
                           read_only=True, doc="Whether the device answered the last scan")
    last_error = pvproperty(name="LAST_ERROR", dtype=ChannelType.CHAR, value="",
                            max_length=LAST_ERROR_LENGTH, read_only=True,
                            doc="Text of the most recent device error (a scan error clears on "
                                "recovery, a refused put's stays)")
    error_count = pvproperty(name="ERROR_COUNT", dtype=int, value=0, read_only=True,
                             units="errors",
                             doc="Device errors (failed reads and writes) since start")
    scan_overruns = pvproperty(name="SCAN_OVERRUNS", dtype=int, value=0, read_only=True,
                               units="passes", doc="Scan passes that took longer than their period")
    scan_time = pvproperty(name="SCAN_TIME", dtype=float, value=0.0, read_only=True,
                           units="s", precision=4,
                           doc="Duration of the last batched scan pass (while a pass runs "
                               "past its period: how long it has run so far)")
    scan_period_pv = pvproperty(
        name="SCAN_PERIOD", dtype=float, value=1.0, units="s", precision=3,
        limits=SCAN_PERIOD_LIMITS,
        doc="Seconds between reads of the PVs without a period of their own; a put takes "
            "effect from the next pass")

    @scan_period_pv.putter
    async def scan_period_pv(self, instance: Any, value: float) -> float:
        self.set_scan_period(float(value))
        return value

    def set_scan_period(self, period: float) -> None:
        """Apply a new default scan period (s); overridden by DeviceGroup."""

    @connected.startup
    async def connected(self, instance: Any, async_lib: Any) -> None:
        await self.run_scanner(async_lib)

    async def run_scanner(self, async_lib: Any) -> None:
        """Run the device's scheduler (overridden by DeviceGroup)."""

    async def report(self, *, connected: bool, errors: Sequence[BaseException],
                     overruns: int, duration: float) -> None:
        state = Link.Connected if connected else Link.Disconnected
        # the first error of a pass is the cause (e.g. "connection refused"); later reads
        # on the same link only report it down
        if errors and not self.last_error.value:
            log.warning("%s: device error: %s", self.name, errors[0])
        elif connected and not errors and self._scan_error_shown:
            log.info("%s: device answers again", self.name)
        severity = AlarmSeverity.NO_ALARM if connected else AlarmSeverity.MAJOR_ALARM
        if self.connected.value != state.name or self.connected.alarm.severity != severity:
            status = AlarmStatus.NO_ALARM if connected else AlarmStatus.COMM
            await self.connected.write(state.name, verify_value=False, status=status,
                                       severity=severity)
        if errors:
            await self.error_count.write(self.error_count.value + len(errors),
                                         verify_value=False)
            await self._show_error(errors[0])
            self._scan_error_shown = True
        elif connected and self._scan_error_shown:  # a refused put's reason stays
            self._scan_error_shown = False
            await self.last_error.write("", verify_value=False)
        if self.scan_overruns.value != overruns:
            await self.scan_overruns.write(overruns, verify_value=False)
        await self.scan_time.write(duration, verify_value=False)

    async def report_late(self, *, overruns: int, elapsed: float) -> None:
        if self.scan_overruns.value != overruns:
            await self.scan_overruns.write(overruns, verify_value=False)
        await self.scan_time.write(elapsed, verify_value=False)

    async def count_error(self, error: BaseException) -> None:
        """Record a failed write (puts are not part of scan passes). A link failure clears
        with the next clean pass like a scan error; a refusal's reason (or a readback that
        did not settle) stays in LAST_ERROR until a newer error."""
        await self.error_count.write(self.error_count.value + 1, verify_value=False)
        await self._show_error(error)
        self._scan_error_shown = isinstance(error, (DeviceDisconnected, DeviceTimeout)) and (
            not isinstance(error, ReadbackNotSettled))

    async def _show_error(self, error: BaseException) -> None:
        text = str(error)[:LAST_ERROR_LENGTH - 1]  # room for the terminating NUL
        if self.last_error.value != text:
            await self.last_error.write(text, verify_value=False)
