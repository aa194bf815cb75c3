"""Temperature controller (Lakeshore-336-like ASCII protocol over serial); no address: its
simulator runs on a pseudo-terminal.

PVs (default prefix ``TC:``): ``TEMP_RBV`` (K, with alarm limits), ``SETPOINT``/
``SETPOINT_RBV`` (K) with the controller's ramp (``SETPOINT_RAMP_RATE`` K/min,
``SETPOINT_RAMPING``, ``SETPOINT_RAMP_STOP``), ``HEATER``/``HEATER_RBV``
(Off/Low/Medium/High), ``HEATER_OUT`` (%), and the device health PVs.
Run: ``python -m iocs.temperature_controller --list-pvs`` or
``... --serial /dev/ttyUSB0 --baudrate 57600``.
"""

from devices.temperature_controller import TemperatureControllerSimulator
from iocgate import DeviceConfig, DeviceGroup, Ramp, reading, run_ioc, setting


class TemperatureControllerIOC(DeviceGroup):
    """Temperature controller (Lakeshore-336-like, serial): one input, one heater loop."""

    default_prefix = "TC:"
    scan_period = 1.0
    device_config = DeviceConfig(
        bridge=lambda link: link.lines(write_termination="\r\n", read_termination="\r\n"),
        transports=("serial", "tcp"), default_port=7777, default_baudrate=57600,
        timeout=2.0, simulator=TemperatureControllerSimulator)

    temp_rbv = reading({"get": "KRDG? A"}, value=0.0, units="K", precision=3,
                       reply_format="+.3f", alarm_limits=(1.5, 3.0, 470.0, 490.0),
                       alarm_hysteresis=0.5,  # MINOR, MAJOR near the ends of 0-500 K
                       doc="Temperature of input A (alarms: .LOLO .LOW .HIGH .HIHI)")
    setpoint = setting(
        {"get": "SETP? 1", "set": "SETP 1,{value}"}, value=0.0, units="K", precision=3,
        limits=(0.0, 500.0), autosave=True, reply_format="+.3f",
        # the controller ramps itself: RAMP sets the rate (ramping on), RAMPST? reports;
        # RAMP? answers "<on>,<rate>"
        ramp=Ramp.by_device(rate={"get": "RAMP? 1", "set": "RAMP 1,1,{value}",
                                  "parse": lambda reply: float(reply.split(",")[1])},
                            status={"get": "RAMPST? 1"}, units="K/min", per=60.0,
                            limits=(0.1, 100.0), precision=2),
        doc="Loop 1 temperature setpoint",
        readback_doc="Loop 1 setpoint reported by the controller (the present value while "
                     "it ramps)")
    heater = setting({"get": "RANGE? 1", "set": "RANGE 1,{value}"},
                     states=("Off", "Low", "Medium", "High"),
                     doc="Heater range Off/Low/Medium/High",
                     readback_doc="Heater range reported by the controller")
    heater_out = reading({"get": "HTR? 1"}, value=0.0, units="%", precision=1,
                         reply_format="+.1f", doc="Heater output, percent of range")


if __name__ == "__main__":
    run_ioc(TemperatureControllerIOC)
