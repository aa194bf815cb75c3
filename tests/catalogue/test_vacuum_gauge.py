"""The vacuum gauge IOC on its simulator (a pty, ENQ handshake): contract, status, unit."""

from __future__ import annotations

import pytest

from devices.vacuum_gauge import VacuumGaugeSimulator
from iocgate import DeviceRejected
from iocgate.nodes import ControlSystem, EnqNode
from iocgate.testing import contract_tests
from iocs.vacuum_gauge import VacuumGaugeIOC


class TestVacuumGauge(contract_tests(VacuumGaugeIOC)):
    def test_pressures_and_sensor_status(self, ioc):
        model = ioc.simulation.handle.model
        model.pressure_1, model.status_2 = 2.5e-7, 5
        try:
            self.wait(lambda: ioc.value("PRESSURE_1") == pytest.approx(2.5e-7, rel=0.1))
            self.wait(lambda: ioc.value("STATUS_2") == "No sensor")
        finally:
            model.pressure_1, model.status_2 = 1.0e-6, 0

    def test_the_unit_is_the_pressures_egu(self, ioc):
        ioc.put("UNIT", "Pa")
        try:
            self.wait(lambda: ioc.get("PRESSURE_2", data_type="control").metadata.units == b"Pa")
            self.wait(lambda: ioc.value("PRESSURE_2") == pytest.approx(101300, rel=0.1))
        finally:
            ioc.put("UNIT", "mbar")


@pytest.fixture
def gauge():
    simulator = VacuumGaugeSimulator()
    control = ControlSystem()
    yield simulator, EnqNode(control.serial(simulator.start_pty(), timeout=1.0))
    control.close()
    simulator.stop()


def test_handshake_and_nak(gauge):
    simulator, enq = gauge
    assert enq.query("TID") == "PKR,TPR"
    assert simulator.received == ["TID", "\x05"]
    with pytest.raises(DeviceRejected, match="NAK"):
        enq.query("UNI,9")
    assert enq.command(get="UNI", type=int).get() == 0
