"""Motion controller (SMC100-like ASCII protocol, serial or TCP) with one motor-record axis.

PVs (default prefix ``MC:``): ``M1`` and its motor-record fields ``M1.VAL``, ``M1.RBV``,
``M1.DMOV``, ... (see :class:`iocgate.ioc.MotorRecord`), so ophyd's ``EpicsMotor("MC:M1")``,
pyepics' ``Motor("MC:M1")`` and ``iocgate.client.Motor("MC:M1")`` drive it; ``VERSION`` and
the device health PVs. With no ``--serial``/``--host`` the simulator
(:mod:`devices.motor_controller`) runs in-process on a pseudo-terminal.

Run: ``python -m iocs.motor_controller --list-pvs`` or
``python -m iocs.motor_controller --serial /dev/ttyUSB0``.
"""

from __future__ import annotations

from typing import Any, Callable, Tuple

from devices.motor_controller import MotorControllerSimulator
from iocgate import DeviceConfig, DeviceGroup, Simulation, SubGroup, reading, run_ioc
from iocgate.ioc import AxisStatus, MotorRecord, add_record_aliases

#: the SMC100's fixed serial rate
BAUDRATE = 57600
_MOVING_STATES = {0x1E, 0x28}


def start_simulator() -> Simulation:
    """Start the simulated controller on a pseudo-terminal (a serial port)."""
    simulator = MotorControllerSimulator()
    return Simulation(options={"serial": simulator.start_pty_link(), "baudrate": BAUDRATE},
                      handle=simulator, stop=simulator.stop)


def echoed(prefix: str, convert: Callable[[str], Any] = str) -> Callable[[str], Any]:
    """Parser of a reply that repeats address and command (``1TP2.5`` -> ``2.5``).

    Raises:
        ValueError: the reply does not start with ``prefix`` or does not convert.
    """
    def parse(reply: str) -> Any:
        reply = reply.strip()
        if not reply.startswith(prefix):
            raise ValueError(f"expected a reply starting with {prefix!r}")
        return convert(reply[len(prefix):].strip())

    return parse


def _status(text: str) -> Tuple[int, int]:
    return int(text[:4], 16), int(text[4:6], 16)


class Smc100Axis:
    """One axis of an SMC100-like controller on a ``lines()`` node (see ``MotorAxis``)."""

    def __init__(self, lines: Any, address: int = 1):
        def node(code: str, get: bool = True, set: bool = True,
                 convert: Callable[[str], Any] = float) -> Any:
            prefix = f"{address}{code}"
            return lines.command(get=prefix + ("?" if set else "") if get else None,
                                 set=prefix + ("{value}" if get else "") if set else None,
                                 parse=echoed(prefix, convert))

        self._position = node("TP", set=False)
        self._status = node("TS", set=False, convert=_status)
        self._move, self._velocity, self._acceleration = node("PA"), node("VA"), node("AC")
        self._low, self._high = node("SL"), node("SR")
        self._stop, self._home = node("ST", get=False), node("OR", get=False)

    async def status(self) -> AxisStatus:
        errors, state = await self._status.aget()
        position = await self._position.aget()
        return AxisStatus(position, state in _MOVING_STATES, bool(errors & 0x0200),
                          bool(errors & 0x0100))

    async def move(self, dial: float) -> None:
        await self._move.aset(f"{dial:.6f}")

    async def stop(self) -> None:
        await self._stop.aset(None)

    async def home(self, forward: bool) -> None:
        await self._home.aset(None)

    async def speed(self, velocity: float, acceleration: float) -> None:
        await self._velocity.aset(f"{velocity:.6g}")
        await self._acceleration.aset(f"{acceleration:.6g}")

    async def soft_limits(self) -> Tuple[float, float]:
        return await self._low.aget(), await self._high.aget()

    async def set_soft_limits(self, low: float, high: float) -> None:
        await self._low.aset(f"{low:.6f}")
        await self._high.aset(f"{high:.6f}")


class MotorControllerIOC(DeviceGroup):
    """Motion controller (SMC100-like, serial or TCP): axis M1 as a motor record."""

    default_prefix = "MC:"
    device_config = DeviceConfig(
        bridge=lambda link: link.lines(write_termination="\r\n", read_termination="\r\n"),
        transports=("serial", "tcp"), default_baudrate=BAUDRATE, timeout=1.0,
        simulator=start_simulator)

    version = reading({"get": "1VE", "parse": echoed("1VE")}, dtype=str,
                      doc="Controller firmware version (1VE)")
    m1 = SubGroup(MotorRecord, prefix="M1.", axis=Smc100Axis, egu="mm",
                  desc="Axis 1 (SMC100-like stage)", doc="Axis 1 as a motor record")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        add_record_aliases(self)


if __name__ == "__main__":
    run_ioc(MotorControllerIOC)
