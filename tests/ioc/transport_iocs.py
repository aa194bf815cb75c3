"""Two small IOCs for the transport fault tests: a meter behind a web API (``--url``) and one
behind a command-line program (``--command``).

Run: ``python -m tests.ioc.transport_iocs web --url http://127.0.0.1:8080`` or
``python -m tests.ioc.transport_iocs shell --command "/path/meter"``.
"""

from __future__ import annotations

import sys

from iocgate import DeviceConfig, DeviceGroup, pvproperty, run_ioc


class WebMeterIOC(DeviceGroup):
    """A voltage source with a web API: ``GET/POST /volt``, ``GET /volt_rbv`` (text, V)."""

    default_prefix = "WEB:"
    scan_period = 0.2
    device_config = DeviceConfig(bridge=lambda web: web, transports=("http",), timeout=0.5)

    volt = pvproperty(name="VOLT", node=lambda web: web.path("/volt").value(float),
                      readback=lambda web: web.path("/volt_rbv").value(float), units="V",
                      precision=3, limits=(0.0, 30.0), doc="Output voltage setpoint",
                      readback_doc="Measured output voltage")


class ShellMeterIOC(DeviceGroup):
    """A voltage source driven by a program: ``meter`` prints the setpoint (V), ``meter V``
    sets it."""

    default_prefix = "SH:"
    scan_period = 0.2
    device_config = DeviceConfig(bridge=lambda program: program, transports=("shell",),
                                 timeout=0.5)

    volt = pvproperty(name="VOLT", node=lambda program: program.value(float), readback=True,
                      units="V", precision=3, limits=(0.0, 30.0),
                      doc="Output voltage setpoint",
                      readback_doc="Output voltage setpoint reported by the program")


IOCS = {"web": WebMeterIOC, "shell": ShellMeterIOC}

if __name__ == "__main__":
    argv = sys.argv[1:]
    name = next(arg for arg in argv if arg in IOCS)  # "web" or "shell", anywhere
    argv.remove(name)
    run_ioc(IOCS[name], argv)
