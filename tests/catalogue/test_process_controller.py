"""The Modbus TCP process controller IOC on its simulator: the contract, and the loop."""

from __future__ import annotations

import pytest

from iocgate.testing import contract_tests
from iocs.process_controller import ProcessControllerIOC


class TestProcessController(contract_tests(ProcessControllerIOC)):
    def test_the_loop_heats_to_the_setpoint(self, ioc):
        model = ioc.simulation.handle.model
        ioc.put("SETPOINT", [60.0])
        ioc.put("OUTPUT_LIMIT", [80.0])
        ioc.put("RUN", "On")
        try:
            assert model.setpoint == pytest.approx(60.0) and model.run
            self.wait(lambda: ioc.value("OUTPUT") > 0)
            model.temperature = 59.9  # the backdoor: skip the warm-up
            self.wait(lambda: abs(ioc.value("TEMPERATURE") - 60.0) < 0.5)
        finally:
            ioc.put("RUN", "Off")

    def test_the_alarm_input(self, ioc):
        model = ioc.simulation.handle.model
        model.setpoint, model.run, model.temperature = 390.0, True, 389.0  # held there
        try:
            self.wait(lambda: ioc.value("HIGH_ALARM") == "High")
        finally:
            model.setpoint, model.run, model.temperature = 25.0, False, 20.0
        self.wait(lambda: ioc.value("HIGH_ALARM") == "OK")


@pytest.fixture
def modbus():
    from devices.process_controller import ProcessControllerSimulator
    from iocgate.nodes import ControlSystem

    simulator = ProcessControllerSimulator()
    control = ControlSystem()
    yield simulator, control.modbus("127.0.0.1", simulator.start_tcp(), timeout=1.0)
    control.close()
    simulator.stop()


def test_nodes_read_and_write_registers_in_word_order(modbus):
    simulator, device = modbus
    device.holding(0, "float32", word_order="little").set(123.5)
    assert simulator.model.setpoint == 123.5
    assert device.holding(0, "float32", word_order="little").get() == 123.5
    assert device.holding(0, "float32").get() != 123.5  # the other word order: another value
    device.holding(2, "uint16", scale=0.1).set(42.3)
    assert simulator.model.output_limit == pytest.approx(42.3)
    device.coil(0).set(True)
    assert simulator.model.run and device.coil(0).get() == 1


def test_a_refused_write_and_a_bad_address_are_device_rejections(modbus):
    from iocgate import DeviceRejected, LimitError

    simulator, device = modbus
    with pytest.raises(DeviceRejected, match="Modbus exception 3"):
        device.holding(0, "float32", word_order="little").set(999.0)
    with pytest.raises(DeviceRejected, match="Modbus exception 2"):
        device.input(7).get()
    with pytest.raises(LimitError):
        device.holding(2, "uint16").set(70000)  # does not fit: nothing sent
    assert simulator.model.setpoint == 25.0
