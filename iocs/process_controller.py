"""Process (temperature) controller over Modbus TCP: setpoint and output limit in holding
registers (float32 in CDAB word order, uint16 tenths), temperature and output in input
registers, run coil, alarm input. No ``--host``: its simulator runs.
Run: ``python -m iocs.process_controller --list-pvs`` or ``... --host 10.0.0.9 --port 502``."""

from __future__ import annotations

from devices.process_controller import ProcessControllerSimulator
from iocgate import DeviceConfig, DeviceGroup, Simulation, reading, run_ioc, setting


def start_simulator() -> Simulation:
    """Start the simulated controller on a free loopback port."""
    simulator = ProcessControllerSimulator()
    return Simulation(options={"host": "127.0.0.1", "port": simulator.start_tcp()},
                      handle=simulator, stop=simulator.stop)


class ProcessControllerIOC(DeviceGroup):
    """Process controller (Modbus TCP): one heater loop, degC."""

    default_prefix = "PC:"
    device_config = DeviceConfig(bridge=lambda modbus: modbus, transports=("modbus",),
                                 default_port=502, simulator=start_simulator)

    setpoint = setting(lambda mb: mb.holding(0, "float32", word_order="little"), value=25.0,
                       limits=(0.0, 400.0), units="degC", precision=2, doc="Loop setpoint")
    output_limit = setting(lambda mb: mb.holding(2, "uint16", scale=0.1), value=100.0,
                           limits=(0.0, 100.0), units="%", precision=1,
                           doc="Highest heater output the loop may use")
    run = setting(lambda mb: mb.coil(0), states=("Off", "On"), doc="Loop running")
    temperature = reading(lambda mb: mb.input(0, "float32", word_order="little"),
                          units="degC", precision=2, doc="Process temperature")
    output = reading(lambda mb: mb.input(2, "uint16", scale=0.1), units="%", precision=1,
                     doc="Heater output")
    high_alarm = reading(lambda mb: mb.discrete(0), states=("OK", "High"),
                         doc="High-temperature alarm input")


if __name__ == "__main__":
    run_ioc(ProcessControllerIOC)
