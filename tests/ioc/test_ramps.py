"""Ramp declarations (no I/O), and a stepped ramp in-process on a value held in memory: a
newer put takes over from a ramp in progress, and both puts complete."""

from __future__ import annotations

import threading

import pytest

from iocgate import DeviceGroup, Ramp, pvproperty
from iocgate.nodes import ValueNode

from ._wait import wait_until


@pytest.mark.parametrize("make, message", [
    (lambda: Ramp.stepped(units="V/s", limits=(1.0, 0.5)), "0 <= low < high"),
    (lambda: Ramp.stepped(units="V/s", limits=(0.0, 5.0), rate=6.0), "outside the limits"),
    (lambda: Ramp.stepped(units="V/s", limits=(0.0, 5.0), interval=0), "must be > 0"),
    (lambda: Ramp(units="K/min", limits=(0.1, 1.0), rate_node="RAMP"), "both rate= and status="),
])
def test_bad_ramp_declarations(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_ramp_needs_a_writable_bound_property():
    ramp = Ramp.stepped(units="V/s", limits=(0.0, 5.0))
    with pytest.raises(TypeError, match="writable property bound to a node"):
        pvproperty(name="X", ramp=ramp)
    with pytest.raises(TypeError, match="writable property bound to a node"):
        pvproperty(name="X", node="X", read_only=True, ramp=ramp)


def test_generated_ramp_pvs_may_not_be_declared_twice():
    with pytest.raises(TypeError, match="volt_ramp_rate"):
        class Twice(DeviceGroup):
            volt = pvproperty(name="VOLT", node="VOLT",
                              ramp=Ramp.stepped(units="V/s", limits=(0.0, 5.0)), doc="V")
            volt_ramp_rate = pvproperty(name="VOLT_RAMP_RATE", value=1.0, doc="rate")


class Source(DeviceGroup):
    """A setpoint held in memory, ramped by iocgate."""

    volt = pvproperty(name="VOLT", node=lambda device: device, units="V", precision=3,
                      limits=(0.0, 30.0), doc="Output voltage",
                      ramp=Ramp.stepped(units="V/s", limits=(0.0, 30.0), rate=2.0,
                                        interval=0.05))


def test_a_newer_put_takes_over_from_a_ramp_in_progress(ioc_factory):
    node = ValueNode(0.0)
    ioc = ioc_factory(Source, device=node, scan_period=0.05)
    assert ioc.get("VOLT_RAMP_RATE", data_type="control").metadata.units == b"V/s"
    first = {}
    slow = threading.Thread(target=lambda: first.update(reply=ioc.put("VOLT", 20.0,
                                                                      timeout=30)))
    slow.start()  # 20 V at 2 V/s: 10 s
    try:
        wait_until(lambda: ioc.value("VOLT_RAMPING") == "Ramping" and node.get() > 0)
        ioc.put("VOLT", 0.5, timeout=30)  # takes over, ramps back down from where it was
        slow.join(30)
    finally:
        slow.join(30)
    assert not slow.is_alive() and first["reply"].status.name == "ECA_NORMAL"
    assert node.get() == 0.5 and ioc.value("VOLT") == 0.5
    assert ioc.value("VOLT_RAMPING") == "Idle"
