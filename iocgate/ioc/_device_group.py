"""``DeviceGroup``: a PVGroup that owns one device, scans it, and publishes its health."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Iterator, Optional

from caproto import AlarmSeverity, AlarmStatus

from ._safety import SafetyPVs
from ._scanner import DeviceScanner, MissedScans, ScanItem

log = logging.getLogger("iocgate.ioc")


class DeviceGroup(SafetyPVs):
    """The PVs of one instrument.

    Subclass it, declare bound properties, and set:

    Attributes:
        default_prefix: PV name prefix when none is given (e.g. ``"PSU:"``).
        device_config: how the command line and the simulator make the device node
            (:class:`~iocgate.DeviceConfig`); used by :func:`~iocgate.run_ioc`.
        scan_period: default seconds between reads of a bound property.
        missed_scans: the policy when a scan pass overruns (``"restart"``, the default,
            as an EPICS periodic scan: the late pass runs at once; ``"skip"``,
            ``"immediate"``, ``"terminate"``; see :class:`~iocgate.MissedScans`).
    """

    device_config: ClassVar[Optional[Any]] = None
    scan_period: ClassVar[float] = 1.0
    missed_scans: ClassVar[str] = MissedScans.RESTART.value

    def __init__(self, prefix: Optional[str] = None, *, device: Any = None,
                 scan_period: Optional[float] = None, **kwargs: Any):
        if scan_period is not None:
            self.scan_period = scan_period
        super().__init__(prefix, device=device, **kwargs)
        self.scanner: Optional[DeviceScanner] = None
        if self.device is not None:
            self.scanner = self._make_scanner()

    def _make_scanner(self) -> DeviceScanner:
        from ..nodes import aread_many

        items = []
        for bound in self.walk_bound_pvs():
            bound.on_put_error = self.count_error
            own = bound.binding.period
            items.append(ScanItem(bound, own or self.scan_period, 0.0,
                                  follows_default=own is None))
        return DeviceScanner(items, aread_many, health=self,
                             missed=MissedScans(self.missed_scans),
                             link_watchers=[group.link_down for group in _subgroups(self)
                                            if hasattr(group, "link_down")])

    def set_scan_period(self, period: float) -> None:
        self.scan_period = period
        if self.scanner is not None:
            self.scanner.set_default_period(period)

    async def run_scanner(self, async_lib: Any) -> None:
        await self.scan_period_pv.write(self.scan_period, verify_value=False)
        if self.scanner is None:
            log.warning("%s: no device given; bound PVs are not scanned", self.name)
            return
        await self.scanner.run(async_lib.library.sleep)
        if self.scanner.terminated:
            for item in self.scanner.items:
                await item.bound.channel.alarm.write(status=AlarmStatus.SCAN,
                                                     severity=AlarmSeverity.INVALID_ALARM)


def _subgroups(group: Any) -> Iterator[Any]:
    """Every subgroup of ``group``, at any depth."""
    for sub in group.groups.values():
        yield sub
        yield from _subgroups(sub)
