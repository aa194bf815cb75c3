"""Network power switch (PDU) over its JSON web API: eight outlets switched Off/On, power
and current per outlet and in total, mains voltage, the unit's name and model.
No ``--url``: its simulator runs.
Run: ``python -m iocs.power_switch --list-pvs`` or ``... --url http://10.0.0.9:8080``."""

from __future__ import annotations

from typing import Any, Callable, Tuple

from devices.power_switch import PowerSwitchSimulator
from iocgate import DeviceConfig, DeviceGroup, Simulation, reading, run_ioc, setting


def start_simulator() -> Simulation:
    """Start the simulated PDU's web API on a free loopback port."""
    simulator = PowerSwitchSimulator()
    return Simulation(options={"url": f"http://127.0.0.1:{simulator.start_tcp()}"},
                      handle=simulator, stop=simulator.stop)


def _member(path: str, key: str) -> Callable[[Any], Any]:
    """``doc[key]`` of the JSON document at ``path`` (a PUT of ``{key: value}`` sets it)."""
    return lambda http: http.path(path).json().value(key)


def _outlet(n: int) -> Tuple[Any, Any, Any]:
    """The switch (``OUTLET_<n>``, ``_RBV``), power and current PVs of outlet ``n``."""
    path = f"/api/outlets/{n}"
    return (setting(_member(path, "state"), states=("Off", "On"), codes=("off", "on"),
                    doc=f"Outlet {n} switched off or on"),
            reading(_member(path, "power"), units="W", precision=1,
                    doc=f"Real power drawn from outlet {n}"),
            reading(_member(path, "current"), units="A", precision=3,
                    doc=f"RMS current drawn from outlet {n}"))


class PowerSwitchIOC(DeviceGroup):
    """Network power switch (PDU, JSON over HTTP): 8 switched, metered outlets."""

    default_prefix = "PDU:"
    device_config = DeviceConfig(bridge=lambda http: http, transports=("http",),
                                 simulator=start_simulator)

    outlet_1, power_1, current_1 = _outlet(1)
    outlet_2, power_2, current_2 = _outlet(2)
    outlet_3, power_3, current_3 = _outlet(3)
    outlet_4, power_4, current_4 = _outlet(4)
    outlet_5, power_5, current_5 = _outlet(5)
    outlet_6, power_6, current_6 = _outlet(6)
    outlet_7, power_7, current_7 = _outlet(7)
    outlet_8, power_8, current_8 = _outlet(8)
    power = reading(_member("/api/power", "power"), units="W", precision=1,
                    doc="Real power of all outlets")
    current = reading(_member("/api/power", "current"), units="A", precision=3,
                      doc="RMS current of all outlets")
    voltage = reading(_member("/api/power", "voltage"), units="V", precision=1,
                      doc="Mains voltage (RMS)")
    device_name = reading(_member("/api/device", "name"), dtype=str, period=10.0,
                          doc="Name the unit was given")
    model = reading(_member("/api/device", "model"), dtype=str, period=10.0,
                    doc="Make and model of the unit")


if __name__ == "__main__":
    run_ioc(PowerSwitchIOC)
