"""A process (temperature) controller speaking Modbus TCP, as many PLC-based loops do.

Register map (unit id: any; floats in CDAB word order, i.e. ``word_order="little"``)::

    holding 0-1   setpoint, float32, degC, 0..400 (else exception 3)
    holding 2     output limit, uint16, 0.1 %, 0..1000
    input 0-1     process temperature, float32, degC
    input 2       heater output, uint16, 0.1 %
    coil 0        run (loop on)
    discrete 0    high-temperature alarm (above ``alarm_above``)

Anything else answers exception 2 (illegal address). Physics (:class:`ProcessModel`): the
temperature lags toward the setpoint while running and toward ambient when stopped, evaluated
lazily from the clock. Run: ``python -m devices.process_controller [--port N] [--control-port N]``.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Callable, Dict, List, Optional

from iocgate.protocol import Dynamics, ModbusException, from_registers, to_registers
from iocgate.protocol._modbus import ILLEGAL_ADDRESS, ILLEGAL_VALUE
from iocgate.sim import ModbusSimulator

__all__ = ["ProcessControllerSimulator", "ProcessModel", "RegisterMap"]


class ProcessModel:
    """The loop; public attributes are the backdoor's state (``SET setpoint 80``)."""

    def __init__(self, ambient: float = 20.0, lag: float = 3.0, noise: float = 0.02,
                 clock: Callable[[], float] = time.monotonic):
        self.ambient, self.noise, self.alarm_above = ambient, noise, 350.0
        self.setpoint, self.output_limit, self.run = 25.0, 100.0, False
        self._dynamics, self._clock = Dynamics(lag=lag), clock
        self._temperature, self._t = ambient, clock()
        self._lock = threading.Lock()

    @property
    def temperature(self) -> float:
        """Process temperature now, degC; setting it (backdoor) starts the lag from there."""
        with self._lock:
            now = self._clock()
            target = self.setpoint if self.run else self.ambient
            _, self._temperature = self._dynamics.step(self._temperature, target,
                                                       max(0.0, now - self._t), target)
            self._t = now
            return self._temperature + random.gauss(0.0, self.noise)

    @temperature.setter
    def temperature(self, celsius: float) -> None:
        with self._lock:
            self._temperature, self._t = float(celsius), self._clock()

    @property
    def output(self) -> float:
        """Heater output, %: what holds the setpoint plus a proportional term, limited."""
        if not self.run:
            return 0.0
        wanted = 0.25 * (self.setpoint - self.ambient) + 5.0 * (self.setpoint - self.temperature)
        return min(max(wanted, 0.0), self.output_limit)


class RegisterMap:
    """The register map above over a :class:`ProcessModel` (a ``RegisterBank``)."""

    def __init__(self, model: ProcessModel):
        self.model = model

    def _image(self, table: str) -> List[int]:
        m = self.model
        images: Dict[str, List[int]] = {
            "holding": to_registers(m.setpoint, "float32", "little")
            + [round(m.output_limit * 10)],
            "input": to_registers(m.temperature, "float32", "little")
            + [round(m.output * 10)],
            "coils": [int(m.run)], "discrete": [int(m.temperature > m.alarm_above)]}
        return images[table]

    def read(self, table: str, address: int, count: int) -> List[int]:
        image = self._image(table)
        if address + count > len(image):
            raise ModbusException(ILLEGAL_ADDRESS)
        return image[address:address + count]

    def write(self, table: str, address: int, values: List[int]) -> None:
        image = self._image(table)
        if address + len(values) > len(image):
            raise ModbusException(ILLEGAL_ADDRESS)
        image[address:address + len(values)] = values
        if table == "coils":
            self.model.run = bool(image[0])
            return
        setpoint, limit = from_registers(image[:2], "float32", "little"), image[2] / 10
        if not (0.0 <= setpoint <= 400.0 and 0.0 <= limit <= 100.0):
            raise ModbusException(ILLEGAL_VALUE)
        self.model.setpoint, self.model.output_limit = setpoint, limit


class ProcessControllerSimulator(ModbusSimulator):
    """The controller served over Modbus TCP; ``model`` is the backdoor's state."""

    def __init__(self, **model_kwargs: object):
        self.model = ProcessModel(**model_kwargs)  # type: ignore[arg-type]
        super().__init__(RegisterMap(self.model), name="process-controller")


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m devices.process_controller [--port N] [--control-port N]``."""
    from iocgate.sim import run_standalone

    return run_standalone("Simulated Modbus TCP process controller",
                          ProcessControllerSimulator, argv)


if __name__ == "__main__":
    raise SystemExit(main())
