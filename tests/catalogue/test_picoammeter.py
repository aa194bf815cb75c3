"""The picoammeter IOC on its simulator (serial, a pseudo-terminal): contract, zero check,
ranging."""

from __future__ import annotations

import pytest

from iocgate.testing import contract_tests
from iocs.picoammeter import PicoammeterIOC


class TestPicoammeter(contract_tests(PicoammeterIOC)):
    def test_zero_check_shorts_the_input(self, ioc):
        ioc.put("AUTO_RANGE", "On")
        ioc.put("ZERO_CHECK", "Off")
        self.wait(lambda: ioc.value("CURRENT") == pytest.approx(1.234e-9, rel=1e-3))
        ioc.put("ZERO_CHECK", "On")
        try:
            self.wait(lambda: abs(ioc.value("CURRENT")) < 1e-13)
        finally:
            ioc.put("ZERO_CHECK", "Off")

    def test_ranges_are_decades_and_overflow_shows(self, ioc):
        ioc.put("AUTO_RANGE", "Off")
        ioc.put("RANGE", [5e-9])
        self.wait(lambda: ioc.value("RANGE_RBV") == pytest.approx(2e-8))
        ioc.simulation.handle.state.set("input_current", 3e-8)
        try:
            self.wait(lambda: ioc.value("CURRENT") > 1e37)
        finally:
            ioc.simulation.handle.state.set("input_current", 1.234e-9)
