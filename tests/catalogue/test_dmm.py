"""The bench DMM IOC on its simulator: the instrument contract, plus what a DMM adds."""

from __future__ import annotations

import pytest

from iocgate.testing import contract_tests
from iocs.dmm import DmmIOC


class TestDmm(contract_tests(DmmIOC)):
    def test_identification_is_a_long_string(self, ioc):
        idn = bytes(ioc.pv("IDN").read().data).split(b"\0", 1)[0].decode()
        assert idn == "Keysight Technologies,34461A,SIM0001,A.03.01-sim"

    def test_range_picks_the_next_decade_up(self, ioc):
        ioc.put("RANGE", [3.0])
        assert ioc.value("RANGE") == pytest.approx(3.0)
        ioc.put("FUNCTION", "DC volts")  # the readbacks of both come from the meter
        self.wait(lambda: ioc.value("RANGE_RBV") == pytest.approx(10.0))

    def test_reading_follows_the_input_and_overloads(self, ioc):
        state = ioc.simulation.handle.state
        ioc.put("RANGE", [1.0])
        state.set("input_dc", 0.5)
        self.wait(lambda: ioc.value("READING") == pytest.approx(0.5, abs=1e-3))
        state.set("input_dc", 5.0)
        self.wait(lambda: ioc.value("READING") > 9e37)
        state.set("input_dc", 1.234567)
        ioc.put("RANGE", [10.0])
