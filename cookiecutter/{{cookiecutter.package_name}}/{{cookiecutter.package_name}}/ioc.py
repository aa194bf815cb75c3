"""The {{ cookiecutter.instrument_name }} IOC: its SCPI commands, declared once.

The same declaration makes the simulator (``simulator.py``) that runs when no address is
given: ``python -m {{ cookiecutter.package_name }} --list-pvs``, or on the instrument
``python -m {{ cookiecutter.package_name }} --host <address>``.
"""

from __future__ import annotations

from iocgate import DeviceConfig, DeviceGroup, Dynamics, reading, setting

from .simulator import {{ cookiecutter.__simulator }}

LOW, HIGH = {{ cookiecutter.low_limit }}, {{ cookiecutter.high_limit }}  # {{ cookiecutter.units }}


class {{ cookiecutter.class_name }}(DeviceGroup):
    """{{ cookiecutter.instrument_name }} (SCPI over TCP or VISA)."""

    default_prefix = "{{ cookiecutter.pv_prefix }}"
    device_config = DeviceConfig(bridge=lambda link: link.scpi(check_errors=True),
                                 transports=("tcp", "visa"), default_port={{ cookiecutter.tcp_port }},
                                 simulator={{ cookiecutter.__simulator }})

    level = setting("SOURce:LEVel", readback="MEASure",
                    follow=Dynamics(lag=0.2, noise=1e-5 * (HIGH - LOW)), value=float(LOW),
                    limits=(LOW, HIGH), units="{{ cookiecutter.units }}", precision=3,
                    doc="Output level setpoint", readback_doc="Measured output level")
    output = setting("OUTPut", states=("Off", "On"), doc="Output on or off")
    idn = reading("*IDN", dtype=str, period=10.0, doc="Identification (*IDN?)")
