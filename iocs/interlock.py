"""An over-temperature interlock: switches the power supply's output off when the temperature
exceeds a limit, and says why. A loop task that talks to the two IOCs over Channel Access.

Run the IOCs it watches (each on its simulator), then the interlock::

    python -m iocs.temperature_controller &
    python -m iocs.power_supply &
    python -m iocs.interlock          # --tc-prefix TC: --psu-prefix PSU: by default

PVs (prefix ``ILK:``): ``LIMIT`` (K), ``ENABLE`` (Off/On), ``STALE_TIMEOUT`` (s) settings;
``TRIPPED`` (Off/On), ``REASON`` (text, ``caget -S``), ``TEMPERATURE`` (K) readouts; the loop
task PVs (``ILK:STATE`` ...). The interlock fails safe: a temperature it cannot read (no
connection, INVALID alarm) for ``STALE_TIMEOUT`` s also switches the output off. It never
switches the output back on; ``TRIPPED`` returns to Off once the temperature is below the
limit again.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

from caproto import ChannelType

from iocgate import MissedScans
from iocgate.client import PV, CAError
from iocgate.task import LoopTask, loop_task_ioc, run_task_ioc

#: CA severity of an INVALID alarm
INVALID = 3
#: seconds to wait for a connection to either IOC
CONNECT_TIMEOUT = 2.0


@dataclass
class InterlockSettings:
    limit: float = field(default=320.0, metadata={
        "units": "K", "precision": 2, "limits": (0.0, 1500.0),
        "doc": "Temperature above which the output is switched off"})
    enable: bool = field(default=True, metadata={"doc": "Interlock armed Off/On"})
    stale_timeout: float = field(default=3.0, metadata={
        "units": "s", "precision": 1, "limits": (0.1, 600.0),
        "doc": "Seconds without a valid temperature before the interlock trips"})


@dataclass
class InterlockReadouts:
    tripped: bool = field(default=False, metadata={
        "doc": "On while the temperature is over the limit or unknown"})
    reason: str = field(default="", metadata={
        "dtype": ChannelType.CHAR,
        "doc": "Why the interlock last switched the output off (caget -S)"})
    temperature: float = field(default=0.0, metadata={
        "units": "K", "precision": 3, "doc": "Temperature at the last check"})


class OverTemperatureInterlock(LoopTask):
    """Switches ``<psu>OUTPUT`` Off while ``<tc>TEMP_RBV`` is over the limit or unknown.

    Args:
        tc_prefix, psu_prefix: PV prefixes of the two IOCs.
    """

    loop_period = 0.2
    missed_loops = MissedScans.SKIP

    def __init__(self, tc_prefix: str = "TC:", psu_prefix: str = "PSU:", **kwargs: Any):
        super().__init__(settings=InterlockSettings(), readouts=InterlockReadouts(),
                         on_error="continue", **kwargs)
        self.temperature_name = f"{tc_prefix}TEMP_RBV"
        self.output_name = f"{psu_prefix}OUTPUT"
        self._last_valid = 0.0

    def loop_prepare(self) -> None:
        self.temperature = PV(self.temperature_name)
        self.output = PV(self.output_name)
        for pv in (self.temperature, self.output):
            try:
                pv.wait_for_connection(timeout=CONNECT_TIMEOUT)
            except CAError:  # not up yet: each iteration tries again (and fails safe)
                pass
        self._last_valid = time.monotonic()

    def loop_iteration(self) -> None:
        limits = self.settings
        problem = self._problem(limits)
        if problem is None or not limits.enable:
            if self.readouts.tripped:
                self.publish(tripped=False)
            return
        switched = self.output.get(timeout=CONNECT_TIMEOUT, as_string=True) != "Off"
        if switched:
            self.output.put("Off", wait=True, timeout=CONNECT_TIMEOUT)
        if switched or not self.readouts.tripped:
            action = "switched Off" if switched else "already Off"
            self.publish(tripped=True, reason=f"{time.strftime('%H:%M:%S')} {problem}: "
                                              f"{self.output_name} {action}")

    def _problem(self, limits: InterlockSettings) -> Optional[str]:
        """Why the output must be off now, or ``None``."""
        now = time.monotonic()
        try:
            value = self.temperature.get(timeout=0.5)
            valid = value is not None and self.temperature.severity != INVALID
        except CAError:
            value, valid = None, False
        if valid:
            self._last_valid = now
            self.publish(temperature=float(value))
            if value > limits.limit:
                return f"{self.temperature_name} {value:.2f} K > limit {limits.limit:.2f} K"
            return None
        if now - self._last_valid > limits.stale_timeout:
            return (f"{self.temperature_name} unreadable for "
                    f"{now - self._last_valid:.1f} s (fail-safe)")
        return None

    def loop_finalize(self) -> None:
        for pv in (self.temperature, self.output):
            pv.disconnect()


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tc-prefix", default="TC:", help="temperature controller PV prefix")
    parser.add_argument("--psu-prefix", default="PSU:", help="power supply PV prefix")


def _build(args: argparse.Namespace, prefix: str, stack: contextlib.ExitStack) -> List[Any]:
    task = OverTemperatureInterlock(args.tc_prefix, args.psu_prefix)
    return [loop_task_ioc(task, prefix)]


def main(argv: Optional[Sequence[str]] = None) -> None:
    run_task_ioc(_build, description="Over-temperature interlock for the power supply",
                 default_prefix="ILK:", argv=argv, add_arguments=_arguments)


if __name__ == "__main__":
    main()
