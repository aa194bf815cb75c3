"""The {{ cookiecutter.instrument_name }} IOC: what the instrument exposes, declared once."""

from __future__ import annotations

from caproto import ChannelType
from iocgate import DeviceConfig, DeviceGroup, pvproperty

from .simulator import LIMITS, start_simulator


class {{ cookiecutter.class_name }}(DeviceGroup):
    """{{ cookiecutter.instrument_name }} (SCPI over TCP or VISA)."""

    default_prefix = "{{ cookiecutter.pv_prefix }}"
    scan_period = 1.0
    device_config = DeviceConfig(bridge=lambda link: link.scpi(check_errors=True),
                                 transports=("tcp", "visa"),
                                 default_port={{ cookiecutter.tcp_port }},
                                 simulator=start_simulator)

    setpoint = pvproperty(name="SETPOINT", node="SOUR:LEV", readback=True, value=0.0,
                          units="{{ cookiecutter.units }}", precision=3, limits=LIMITS,
                          doc="Output level setpoint")
    reading = pvproperty(name="READING", node="MEAS", value=0.0, read_only=True,
                         units="{{ cookiecutter.units }}", precision=3, doc="Measured level")
    idn = pvproperty(name="IDN", node="*IDN", dtype=ChannelType.STRING, read_only=True,
                     period=10.0, doc="Instrument identification")
