"""The IOC on its simulator, served in-process on a free loopback port: the contract every
instrument IOC passes, plus what this instrument adds."""

import pytest
from iocgate.testing import contract_tests

from {{ cookiecutter.package_name }}.ioc import HIGH, LOW, {{ cookiecutter.class_name }}


class Test{{ cookiecutter.class_name }}(contract_tests({{ cookiecutter.class_name }})):
    def test_measured_level_follows_the_setpoint_while_the_output_is_on(self, ioc):
        middle = (LOW + HIGH) / 2
        ioc.put("LEVEL", [middle])
        ioc.put("OUTPUT", "On")
        self.wait(lambda: ioc.value("LEVEL_RBV") == pytest.approx(middle, abs=1e-3 * (HIGH - LOW)))
        ioc.put("OUTPUT", "Off")
        self.wait(lambda: ioc.value("LEVEL_RBV") == 0)
