"""The temperature-controller IOC on its simulator (a pty): the instrument contract."""

from iocgate.testing import contract_tests
from iocs.temperature_controller import TemperatureControllerIOC

TestTemperatureController = contract_tests(TemperatureControllerIOC)
