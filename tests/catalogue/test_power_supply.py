"""The power-supply IOC on its simulator: the instrument contract."""

from iocgate.testing import contract_tests
from iocs.power_supply import PowerSupplyIOC

TestPowerSupply = contract_tests(PowerSupplyIOC)
