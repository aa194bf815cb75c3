"""A network power switch (PDU) with eight switched, metered outlets and a JSON web API, as
rack PDUs offer.

API (JSON bodies; errors answer ``{"error": "..."}`` with the status given)::

    GET  /api/device           {"name", "model", "serial", "firmware", "outlets": 8}
    GET  /api/power            {"voltage": V, "power": W, "current": A}, totals of the unit
    GET  /api/outlets          [outlet, ...]
    GET  /api/outlets/<n>      {"outlet": n, "name", "state": "on"|"off", "power": W,
                                "current": A}
    PUT  /api/outlets/<n>      {"state": "on"|"off"} (POST too): switches it, answers the
                               outlet; another state or a body that is not JSON: 400
    any other path: 404 (an outlet outside 1..8 too), another method: 405

Physics (:class:`PowerSwitchModel`): an outlet that is on draws its load (W) at the mains
voltage with a power factor of one; readings carry a little noise and the resolution of a
PDU's meter (0.1 W, 0.001 A, 0.1 V).
Run: ``python -m devices.power_switch [--port N] [--control-port N]``.
"""

from __future__ import annotations

import random
import re
import threading
from typing import Any, Dict, List, Optional

from iocgate.sim import (
    HttpRequest,
    HttpResponse,
    HttpSimulator,
    convert_like,
    error_response,
    json_response,
)

__all__ = ["OUTLETS", "PowerSwitchModel", "PowerSwitchSimulator", "PowerSwitchState"]

#: number of outlets
OUTLETS = 8
_OUTLET_PATH = re.compile(r"/api/outlets/([0-9]+)/?")
_STATES = {"on": True, "off": False}


class PowerSwitchModel:
    """The unit's state. ``on[n]`` and ``load[n]`` (W) are outlet ``n`` = 1..8."""

    def __init__(self, voltage: float = 230.0, noise: float = 0.002):
        self.name, self.model = "PDU-LAB-1", "iocgate SIM-PDU8"
        self.serial, self.firmware = "SIM0008", "2.4.1-sim"
        self.voltage, self.noise = voltage, noise
        self.on: Dict[int, bool] = {n: False for n in range(1, OUTLETS + 1)}
        self.load: Dict[int, float] = {n: 10.0 * n for n in range(1, OUTLETS + 1)}
        self._lock = threading.Lock()

    def measured_voltage(self) -> float:
        """The mains voltage now, V (noisy)."""
        return self.voltage * (1.0 + random.gauss(0.0, self.noise))

    def power(self, outlet: int) -> float:
        """Real power drawn by ``outlet`` now, W (0 when off or without mains)."""
        if not self.on[outlet] or self.voltage <= 0:
            return 0.0
        return max(0.0, self.load[outlet] * (1.0 + random.gauss(0.0, self.noise)))

    def outlet(self, n: int) -> Dict[str, Any]:
        """The JSON document of outlet ``n``."""
        with self._lock:
            volts, watts = self.measured_voltage(), self.power(n)
            return {"outlet": n, "name": f"Outlet {n}", "state": "on" if self.on[n] else "off",
                    "power": round(watts, 1), "current": _amps(watts, volts)}

    def totals(self) -> Dict[str, float]:
        """The JSON document of the unit's totals."""
        with self._lock:
            volts = self.measured_voltage()
            watts = sum(self.power(n) for n in self.on)
            return {"voltage": round(volts, 1), "power": round(watts, 1),
                    "current": _amps(watts, volts)}

    def device(self) -> Dict[str, Any]:
        return {"name": self.name, "model": self.model, "serial": self.serial,
                "firmware": self.firmware, "outlets": OUTLETS}

    def switch(self, n: int, state: str) -> None:
        """Switch outlet ``n`` ``"on"`` or ``"off"``.

        Raises:
            ValueError: another state.
        """
        if state not in _STATES:
            raise ValueError(f"state must be 'on' or 'off', not {state!r}")
        with self._lock:
            self.on[n] = _STATES[state]


def _amps(watts: float, volts: float) -> float:
    """Current at a power factor of one, A to the meter's resolution (0 without mains)."""
    return round(watts / volts, 3) if volts > 0 else 0.0


class PowerSwitchState:
    """The backdoor's view of the model (:class:`~iocgate.sim.SimState`): ``outlet_<n>``
    (ON/OFF), ``load_<n>`` (W), ``voltage`` (V), ``noise`` (relative), ``name``."""

    def __init__(self, model: PowerSwitchModel):
        self.model = model

    def names(self) -> List[str]:
        outlets = range(1, OUTLETS + 1)
        return ([f"outlet_{n}" for n in outlets] + [f"load_{n}" for n in outlets]
                + ["voltage", "noise", "name"])

    def _split(self, name: str) -> tuple:
        if name not in self.names():
            raise KeyError(name)
        kind, _, n = name.partition("_")
        return kind, int(n) if n.isdigit() else None

    def get(self, name: str) -> Any:
        kind, n = self._split(name)
        if kind == "outlet":
            return self.model.on[n]
        if kind == "load":
            return self.model.load[n]
        return getattr(self.model, name)

    def set(self, name: str, value: Any) -> None:
        kind, n = self._split(name)
        value = convert_like(self.get(name), value)
        if kind in ("load", "voltage", "noise") and not 0 <= value < 1e6:
            raise ValueError(f"{name} must be from 0 to below 1e6, not {value:g}")
        if kind == "outlet":
            self.model.switch(n, "on" if value else "off")
        elif kind == "load":
            self.model.load[n] = float(value)
        else:
            setattr(self.model, name, value)


class PowerSwitchSimulator(HttpSimulator):
    """The PDU's web API; ``model`` and ``state`` are the backdoor's."""

    def __init__(self, **model_kwargs: Any):
        self.model = PowerSwitchModel(**model_kwargs)
        self.state = PowerSwitchState(self.model)
        super().__init__(self.respond, name="power-switch")

    def respond(self, request: HttpRequest) -> HttpResponse:
        """Answer one API request (see the module docstring)."""
        routes = {"/api/device": self.model.device, "/api/power": self.model.totals,
                  "/api/outlets": lambda: [self.model.outlet(n) for n in self.model.on]}
        path = request.path.rstrip("/") or "/"
        if path in routes:
            if request.method != "GET":
                return error_response(405, f"{request.method} not allowed on {path}")
            return json_response(routes[path]())
        match = _OUTLET_PATH.fullmatch(request.path)
        if match is None or int(match.group(1)) not in self.model.on:
            return error_response(404, f"no resource {request.path}")
        n = int(match.group(1))
        if request.method in ("PUT", "POST"):
            try:
                body = request.json()
                self.model.switch(n, body["state"] if isinstance(body, dict) else None)
            except (ValueError, KeyError, TypeError) as exc:
                return error_response(400, f"expected {{\"state\": \"on\"|\"off\"}}: {exc}")
        elif request.method != "GET":
            return error_response(405, f"{request.method} not allowed on {path}")
        return json_response(self.model.outlet(n))


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m devices.power_switch [--port N] [--control-port N]``."""
    from iocgate.sim import run_standalone

    return run_standalone("Simulated network power switch (JSON web API)",
                          PowerSwitchSimulator, argv)


if __name__ == "__main__":
    raise SystemExit(main())
