"""Temperature controller (Lakeshore-336-like ASCII protocol over serial).

PVs (default prefix ``TC:``): ``TEMP_RBV`` (K, with alarm limits), ``SETPOINT``/
``SETPOINT_RBV`` (K) with the controller's ramp (``SETPOINT_RAMP_RATE`` K/min,
``SETPOINT_RAMPING``, ``SETPOINT_RAMP_STOP``), ``HEATER``/``HEATER_RBV``
(Off/Low/Medium/High), ``HEATER_OUT`` (%), and the device health PVs. With no
``--serial``/``--host`` the built-in simulator (devices.temperature_controller) runs
in-process on a pseudo-terminal.

Run: ``python -m iocs.temperature_controller --list-pvs`` or
``python -m iocs.temperature_controller --serial /dev/ttyUSB0 --baudrate 57600``.
"""

from __future__ import annotations

import enum

from devices.temperature_controller import TemperatureControllerSimulator
from iocgate import DeviceConfig, DeviceGroup, Ramp, Simulation, pvproperty, run_ioc

#: the Model 336's fixed serial rate
BAUDRATE = 57600
#: the Model 336's Ethernet command port
TCP_PORT = 7777
#: TEMP_RBV alarm limits (lolo, low, high, hihi), K: MINOR near the ends of the setpoint
#: range (0-500 K), MAJOR just short of them
TEMP_ALARM_LIMITS = (1.5, 3.0, 470.0, 490.0)


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


#: the controller ramps its setpoint itself: RAMP sets the rate (and switches ramping on),
#: RAMPST? says whether it is still ramping
SETPOINT_RAMP = Ramp.by_device(
    rate={"get": "RAMP? 1", "set": "RAMP 1,1,{value}", "parse": _ramp_rate},
    status={"get": "RAMPST? 1"}, units="K/min", per=60.0, limits=(0.1, 100.0), precision=2)


class TemperatureControllerIOC(DeviceGroup):
    """Temperature controller (Lakeshore-336-like, serial): one input, one heater loop."""

    default_prefix = "TC:"
    scan_period = 1.0
    device_config = DeviceConfig(
        bridge=lambda link: link.lines(write_termination="\r\n", read_termination="\r\n"),
        transports=("serial", "tcp"), default_port=TCP_PORT, default_baudrate=BAUDRATE,
        timeout=2.0, simulator=start_simulator)

    temp_rbv = pvproperty(name="TEMP_RBV", node={"get": "KRDG? A"}, value=0.0, units="K",
                          precision=3, read_only=True, alarm_limits=TEMP_ALARM_LIMITS,
                          alarm_hysteresis=0.5,
                          doc="Temperature of input A (alarms: .LOLO .LOW .HIGH .HIHI)")
    setpoint = pvproperty(name="SETPOINT", node={"get": "SETP? 1", "set": "SETP 1,{value}"},
                          readback=True, value=0.0, units="K", precision=3,
                          limits=(0.0, 500.0), ramp=SETPOINT_RAMP, autosave=True,
                          doc="Loop 1 temperature setpoint",
                          readback_doc="Loop 1 setpoint reported by the controller "
                                       "(the present value while it ramps)")
    heater = pvproperty(name="HEATER", node={"get": "RANGE? 1", "set": "RANGE 1,{value}"},
                        readback=True, dtype=HeaterRange, doc="Heater range Off/Low/Medium/High",
                        readback_doc="Heater range reported by the controller")
    heater_out = pvproperty(name="HEATER_OUT", node={"get": "HTR? 1"}, value=0.0, units="%",
                            precision=1, read_only=True, doc="Heater output, percent of range")


def main() -> None:
    run_ioc(TemperatureControllerIOC)


if __name__ == "__main__":
    main()
