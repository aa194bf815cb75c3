"""A SCPI simulator of the {{ cookiecutter.instrument_name }}: serves what ioc.py reads and writes."""

from __future__ import annotations

from iocgate.sim import ScpiAdapter, ScpiServer
from iocgate import Simulation
from iocgate.nodes import ValueNode

LIMITS = ({{ cookiecutter.low_limit }}, {{ cookiecutter.high_limit }})


def make_adapter() -> ScpiAdapter:
    """The instrument's SCPI commands: ``SOURce:LEVel`` (setpoint) and ``MEASure?``."""
    adapter = ScpiAdapter(idn="Example,{{ cookiecutter.class_name }},SIM0001,1.0")
    level = ValueNode(float(LIMITS[0]))
    setpoint = level.setpoint(limits=LIMITS)
    setpoint.set(float(LIMITS[0]))  # the power-on setpoint: "SOUR:LEV?" has an answer
    adapter.bind_nodes([
        ("SOURce:LEVel", setpoint),
        ("MEASure", level.readonly()),
    ])
    return adapter


def start_simulator() -> Simulation:
    """Start the simulator on a free loopback port."""
    server = ScpiServer(make_adapter(), port=0)
    port = server.start()
    return Simulation(options={"host": "127.0.0.1", "port": port}, handle=server,
                      stop=server.stop)
