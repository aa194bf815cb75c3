"""A SlowTask-style script served as an IOC: the seed's examples on the power-supply simulator.

Run: ``python -m iocgate.task iocs/slowtask_demo.py --prefix DEMO: --param ramping=2.0``.

PVs: ``DEMO:V0`` (V, ramped output voltage, 0-30), ``DEMO:I0`` (A, measured current),
``DEMO:fx`` (a free value), ``DEMO:x`` (measured voltage, pushed by ``deliver()`` every
0.5 s), ``DEMO:Status`` (JSON table), the commands ``DEMO:set_V0`` (``caput DEMO:set_V0 "12
2.5"``: volts and V/s) and ``DEMO:stop_ramping``, and the task PVs (``DEMO:STATE`` ...).

The simulator starts when the script loads; for a real supply put its address in the
``device = ...`` line.
"""

import asyncio
import atexit

from devices.power_supply import PowerSupplySimulator
from iocgate.nodes import ControlNode, ControlSystem, ValueNode

_simulator = PowerSupplySimulator(port=0)
atexit.register(_simulator.stop)

ctrl = ControlSystem()
device = ctrl.ethernet(host="127.0.0.1", port=_simulator.start()).scpi()

V0 = device.command("VOLT", type=float).setpoint(limits=(0, 30)).ramping(change_per_sec=1.0)
I0 = device.command("MEAS:CURR", type=float).readonly()
fx = ValueNode(initial_value=0.0)
x = ValueNode(initial_value=0.0)


class StatusNode(ControlNode):
    """A table of the channels, made on every read."""

    def get(self):
        return {
            "columns": ["Channel", "Value", "Ramping"],
            "table": [["V0", x.get(), "Yes" if V0.status().get() else "No"]],
        }


def _export():
    return [
        ("V0", V0),
        ("I0", I0, {"units": "A", "precision": 3}),
        ("fx", fx),
        ("x", x, {"units": "V", "precision": 3, "period": 0}),
        ("Status", StatusNode()),
    ]


def _initialize(params):
    V0.change_per_sec = float(params.get("ramping", 1.0))
    device.command("OUTP").set("ON")


async def _loop():
    x.set(device.command("MEAS:VOLT", type=float).get())
    await x.deliver()
    await asyncio.sleep(0.5)


def _finalize():
    V0.status().set(0)


def set_V0(voltage: float, ramping: float = 1.0):
    """Ramp V0 to ``voltage`` (V) at ``ramping`` (V/s)."""
    V0.change_per_sec = ramping
    V0.set(voltage)
    return f"ramping to {voltage:g} V"


def stop_ramping():
    """Stop the ramp where it is."""
    V0.status().set(0)
