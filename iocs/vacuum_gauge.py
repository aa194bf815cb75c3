"""Vacuum gauge controller (Pfeiffer-TPG-36x-like, serial, ENQ handshake): two channels.

PVs (default prefix ``VG:``): ``PRESSURE_1``/``PRESSURE_2`` (in the gauge's unit, which is
their EGU), ``STATUS_1``/``STATUS_2`` (sensor status words), ``UNIT``/``UNIT_RBV``,
``GAUGES`` (identification), health PVs. No ``--serial``/``--host``: its simulator runs on a
pseudo-terminal. Run: ``python -m iocs.vacuum_gauge --list-pvs`` or ``... --serial /dev/ttyS0``.
"""

from __future__ import annotations

from typing import Any

from devices.vacuum_gauge import VacuumGaugeSimulator
from iocgate import DeviceConfig, DeviceGroup, Simulation, reading, run_ioc, setting
from iocgate.nodes import EnqNode

BAUDRATE = 9600
UNITS = ("mbar", "Torr", "Pa", "micron", "hPa")
STATES = ("OK", "Underrange", "Overrange", "Sensor error", "Sensor off", "No sensor",
          "ID error")


def start_simulator() -> Simulation:
    """Start the simulated controller on a pseudo-terminal (a serial port)."""
    simulator = VacuumGaugeSimulator()
    return Simulation(options={"serial": simulator.start_pty_link(), "baudrate": BAUDRATE},
                      handle=simulator, stop=simulator.stop)


def _field(index: int, convert: Any) -> Any:
    """Parser of one field of a ``<status>,<value>`` reply."""
    return lambda reply: convert(reply.split(",")[index])


def _channel(n: int) -> tuple:
    pressure = reading({"get": f"PR{n}", "parse": _field(1, float)}, units="mbar",
                       precision=3, doc=f"Pressure of channel {n}, in UNIT")
    status = reading({"get": f"PR{n}", "parse": _field(0, int)}, states=STATES,
                     doc=f"Sensor status of channel {n}")
    return pressure, status


class VacuumGaugeIOC(DeviceGroup):
    """Vacuum gauge controller (TPG-36x-like, serial with ENQ handshake): two channels."""

    default_prefix = "VG:"
    device_config = DeviceConfig(bridge=EnqNode, transports=("serial", "tcp"),
                                 default_baudrate=BAUDRATE, simulator=start_simulator)

    pressure_1, status_1 = _channel(1)
    pressure_2, status_2 = _channel(2)
    unit = setting({"get": "UNI", "set": "UNI,{value}"}, states=UNITS,
                   doc="Pressure unit of the controller (the EGU of the pressure PVs)")
    gauges = reading({"get": "TID"}, dtype=str, period=10.0,
                     doc="Gauge type on each channel (TID)")

    @unit.startup
    async def unit(self, instance: Any, async_lib: Any) -> None:
        shown = None
        while True:  # the pressures' EGU follows the unit the controller reports
            if self.unit_rbv.value != shown:
                shown = self.unit_rbv.value
                for pv in (self.pressure_1, self.pressure_2):
                    await pv.write_metadata(units=shown)
            await async_lib.library.sleep(self.scan_period)


if __name__ == "__main__":
    run_ioc(VacuumGaugeIOC)
