"""Temperature controller (Lakeshore-336-like ASCII protocol over serial).

PVs (default prefix ``TC:``): ``TEMP_RBV`` (K), ``SETPOINT``/``SETPOINT_RBV`` (K),
``HEATER``/``HEATER_RBV`` (Off/Low/Medium/High), ``RAMP_RATE`` (K/min), ``HEATER_OUT``
(%), and the device health PVs. With no ``--serial``/``--host`` the built-in simulator
(devices.temperature_controller) runs in-process on a pseudo-terminal.

Run: ``python -m iocs.temperature_controller --list-pvs`` or
``python -m iocs.temperature_controller --serial /dev/ttyUSB0 --baudrate 57600``.
"""

from __future__ import annotations

import enum

from devices.temperature_controller import TemperatureControllerSimulator
from iocgate import DeviceConfig, DeviceGroup, Simulation, pvproperty, run_ioc

#: the Model 336's fixed serial rate
BAUDRATE = 57600
#: the Model 336's Ethernet command port
TCP_PORT = 7777


class HeaterRange(enum.IntEnum):
    Off = 0
    Low = 1
    Medium = 2
    High = 3


def start_simulator() -> Simulation:
    """Start the simulated controller on a pseudo-terminal (a serial port)."""
    simulator = TemperatureControllerSimulator()
    path = simulator.start_pty()
    return Simulation(options={"serial": path, "baudrate": BAUDRATE}, handle=simulator,
                      stop=simulator.stop)


def _ramp_rate(reply: str) -> float:
    """``RAMP? 1`` answers ``<on>,<rate>``; the rate is the second field (K/min)."""
    return float(reply.split(",")[1])


class TemperatureControllerIOC(DeviceGroup):
    """Temperature controller (Lakeshore-336-like, serial): one input, one heater loop."""

    default_prefix = "TC:"
    scan_period = 1.0
    device_config = DeviceConfig(
        bridge=lambda link: link.lines(write_termination="\r\n", read_termination="\r\n"),
        transports=("serial", "tcp"), default_port=TCP_PORT, default_baudrate=BAUDRATE,
        timeout=2.0, simulator=start_simulator)

    temp_rbv = pvproperty(name="TEMP_RBV", node={"get": "KRDG? A"}, value=0.0, units="K",
                          precision=3, read_only=True, doc="Temperature of input A")
    setpoint = pvproperty(name="SETPOINT", node={"get": "SETP? 1", "set": "SETP 1,{value}"},
                          readback=True, value=0.0, units="K", precision=3,
                          limits=(0.0, 500.0), autosave=True, doc="Loop 1 temperature setpoint",
                          readback_doc="Loop 1 setpoint reported by the controller")
    heater = pvproperty(name="HEATER", node={"get": "RANGE? 1", "set": "RANGE 1,{value}"},
                        readback=True, dtype=HeaterRange, doc="Heater range Off/Low/Medium/High",
                        readback_doc="Heater range reported by the controller")
    ramp_rate = pvproperty(name="RAMP_RATE",
                           node={"get": "RAMP? 1", "set": "RAMP 1,1,{value}",
                                 "parse": _ramp_rate},
                           value=0.0, units="K/min", precision=2, limits=(0.1, 100.0),
                           autosave=True, doc="Setpoint ramp rate; a put also switches ramping on")
    heater_out = pvproperty(name="HEATER_OUT", node={"get": "HTR? 1"}, value=0.0, units="%",
                            precision=1, read_only=True, doc="Heater output, percent of range")


def main() -> None:
    run_ioc(TemperatureControllerIOC)


if __name__ == "__main__":
    main()
