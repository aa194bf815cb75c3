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
        model.temperature = 380.0
        self.wait(lambda: ioc.value("HIGH_ALARM") == "High")
        model.temperature = 20.0
        self.wait(lambda: ioc.value("HIGH_ALARM") == "OK")
