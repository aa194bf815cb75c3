"""Binding conversions between PV values and device values (pure, no I/O)."""

import enum

import pytest

from iocgate.ioc import Binding


class Heater(enum.IntEnum):
    Off = 0
    Low = 1
    High = 2


class FakeDevice:
    """Records how ``Binding.make_node`` asks the device for nodes."""

    def command(self, *args, **kwargs):
        return ("command", args, kwargs)


def test_enum_default_codes_are_member_values():
    binding = Binding(node="RANGE", enum_type=Heater, device_type=int)
    assert binding.to_device("High") == 2
    assert binding.to_pv(1) == "Low"
    assert binding.to_pv(" 2 ") == "High"  # replies arrive as text too
    assert binding.to_pv(Heater.Off) == "Off"


def test_enum_custom_codes():
    binding = Binding(node="MODE", enum_type=Heater, device_type=str,
                      codes={Heater.Off: "OFF", Heater.Low: "LO", Heater.High: "HI"})
    assert binding.to_device("Low") == "LO"
    assert binding.to_pv("hi") == "High"
    with pytest.raises(ValueError, match="names no state"):
        binding.to_pv("MAX")


def test_numbers_pass_through_with_device_type():
    binding = Binding(node="VOLT", device_type=float)
    assert binding.to_device([2]) == 2.0 and isinstance(binding.to_device([2]), float)
    assert binding.to_pv(3.5) == 3.5


@pytest.mark.parametrize("spec, expected", [
    ("MEAS:VOLT", ("command", ("MEAS:VOLT",), {"type": float})),
    ({"get": "KRDG? A"}, ("command", (), {"get": "KRDG? A", "type": float})),
    ({"get": "X?", "type": int}, ("command", (), {"get": "X?", "type": int})),
])
def test_make_node_from_spec(spec, expected):
    assert Binding(node=spec).make_node(FakeDevice(), spec) == expected


def test_make_node_from_callable():
    binding = Binding(node=lambda device: ("custom", device))
    device = FakeDevice()
    assert binding.make_node(device, binding.node) == ("custom", device)
