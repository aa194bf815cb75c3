"""A PID loop holding the temperature controller's setpoint with its heater, as a loop task.

One IOC serves the controller (``TC:`` PVs, a DeviceGroup) and the PID task (``PID:``) on the
same device link: the task switches output 1 to open loop and sets the heater's manual output
(``MOUT``) from the error between ``SETP? 1`` and ``KRDG? A`` every ``PID:PERIOD`` seconds;
stopping it hands the heater back to the controller's own loop.

Run (simulator): ``python -m iocs.temperature_pid``, then e.g. ``caput TC:SETPOINT 310`` and
``camonitor TC:TEMP_RBV PID:OUTPUT``. PVs: ``PID:KP`` (%/K), ``PID:KI`` (%/K/s), ``PID:KD``
(% s/K), ``PID:OUT_MAX`` (%), readouts ``PID:OUTPUT`` (%) and ``PID:ERROR`` (K), and the loop
task PVs (``PID:STATE``, ``START``, ``STOP``, ``PERIOD``, ``LOOP_COUNT``, ``OVERRUNS``,
``ITER_TIME``, ``LATENESS``, ``LAST_ERROR``, ``HEARTBEAT``). ``--on-event-loop`` runs the
task on the IOC's event loop instead of a thread.
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

from iocgate import MissedScans
from iocgate.task import LoopTask, loop_task_ioc, open_device, run_task_ioc
from iocs.temperature_controller import TemperatureControllerIOC

#: the controller's output modes (OUTMODE)
CLOSED_LOOP, OPEN_LOOP = 1, 3
#: heater ranges (RANGE codes) Off and Medium
HEATER_OFF, HEATER_MEDIUM = 0, 2


@dataclass
class PidSettings:
    kp: float = field(default=10.0, metadata={
        "units": "%/K", "precision": 3, "limits": (0.0, 1000.0), "doc": "Proportional gain"})
    ki: float = field(default=0.3, metadata={
        "units": "%/K/s", "precision": 4, "limits": (0.0, 100.0), "doc": "Integral gain"})
    kd: float = field(default=0.0, metadata={
        "units": "% s/K", "precision": 3, "limits": (0.0, 1000.0), "doc": "Derivative gain"})
    out_max: float = field(default=100.0, metadata={
        "units": "%", "precision": 1, "limits": (0.0, 100.0),
        "doc": "Highest heater output the loop gives"})


@dataclass
class PidReadouts:
    output: float = field(default=0.0, metadata={
        "units": "%", "precision": 2, "doc": "Heater output the loop gave last"})
    error: float = field(default=0.0, metadata={
        "units": "K", "precision": 3, "doc": "Setpoint minus temperature at the last iteration"})


class HeaterPid(LoopTask):
    """PID on the heater's manual output holding the controller's setpoint.

    Args:
        device: the controller's line node (``TemperatureControllerIOC.device_config``).
        **kwargs: for :class:`~iocgate.task.LoopTask` (``loop_period``, ``clock`` ...).
    """

    loop_period = 0.5
    missed_loops = MissedScans.SKIP

    def __init__(self, device: Any, **kwargs: Any):
        super().__init__(settings=PidSettings(), readouts=PidReadouts(), **kwargs)
        self.temperature = device.command(get="KRDG? A", type=float)
        self.setpoint = device.command(get="SETP? 1", type=float)
        self.heater_range = device.command(get="RANGE? 1", set="RANGE 1,{value}", type=int)
        self.mode = device.command(set="OUTMODE 1,{value},1,0")
        self.output = device.command(set="MOUT 1,{value}")
        self._integral = 0.0
        self._last_error: Optional[float] = None

    async def loop_prepare(self) -> None:
        self._integral, self._last_error = 0.0, None
        if await self.heater_range.aget() == HEATER_OFF:
            await self.heater_range.aset(HEATER_MEDIUM)
        await self.mode.aset(OPEN_LOOP)

    async def loop_iteration(self) -> None:
        gains = self.settings
        error = await self.setpoint.aget() - await self.temperature.aget()
        dt = self.loop_period
        slope = 0.0 if self._last_error is None else (error - self._last_error) / dt
        self._last_error = error
        integral = self._integral + error * dt
        wanted = gains.kp * error + gains.ki * integral + gains.kd * slope
        output = min(max(wanted, 0.0), gains.out_max)
        if output == wanted:  # integrate only while not saturated (no wind-up)
            self._integral = integral
        await self.output.aset(round(output, 2))
        self.publish(output=output, error=error)

    async def loop_finalize(self) -> None:
        await self.output.aset(0)
        await self.mode.aset(CLOSED_LOOP)


def _arguments(parser: argparse.ArgumentParser) -> None:
    TemperatureControllerIOC.device_config.add_arguments(parser)
    parser.add_argument("--tc-prefix", default="TC:", help="prefix of the controller's PVs")
    parser.add_argument("--on-event-loop", action="store_true",
                        help="run the loop on the IOC's event loop instead of a thread")


def _build(args: argparse.Namespace, prefix: str, stack: contextlib.ExitStack) -> List[Any]:
    device = open_device(TemperatureControllerIOC.device_config, args, stack)
    controller = TemperatureControllerIOC(prefix=args.tc_prefix, device=device)
    pid = loop_task_ioc(HeaterPid(device), prefix, on_event_loop=args.on_event_loop)
    return [controller, pid]


def main(argv: Optional[Sequence[str]] = None) -> None:
    run_task_ioc(_build, description="PID loop holding the temperature controller's setpoint",
                 default_prefix="PID:", argv=argv, add_arguments=_arguments)


if __name__ == "__main__":
    main()
