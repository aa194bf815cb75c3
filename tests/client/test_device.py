"""Device, Motor (against the emulated motor record set in client_test.db), Alarm, and
device_from_group (client proxies built from the caproto IOC's own PVGroup class)."""

from __future__ import annotations

import importlib
import importlib.util
import io
import threading
from pathlib import Path

import pytest

from iocgate import LimitError
from iocgate.client import Alarm, Device, caput, device_from_group, group_pvnames

_spec = importlib.util.spec_from_file_location("client_ioc", Path(__file__).parent /
                                               "client_ioc.py")
client_ioc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(client_ioc)


def test_device_fields_aliases_and_state(servers):
    dev = Device(servers.p, attrs=("ao_w", "str_w", "mode_w"), aliases={"current": "ao_w"},
                 timeout=10)
    dev.ao_w = 0.25
    dev.put("str_w", "device", wait=True)
    dev.put("mode_w", "Fast", wait=True)
    assert dev.get("ao_w", use_monitor=False) == 0.25
    assert dev.PV("current") is dev.PV("ao_w")
    assert dev.get("mode_w", as_string=True, use_monitor=False) == "Fast"
    state = dev.save_state()
    assert state == {"ao_w": 0.25, "str_w": "device", "mode_w": 2}
    dev.put("ao_w", 9.0, wait=True)
    dev.put("mode_w", 0, wait=True)
    dev.restore_state(state, wait=True)
    assert dev.get("ao_w", use_monitor=False) == 0.25
    assert dev.get("mode_w", use_monitor=False) == 2
    with pytest.raises(AttributeError):
        dev.not_a_field  # noqa: B018


def test_device_write_state_and_callbacks(servers):
    dev = Device(servers.p, attrs=("long", "str"), timeout=10)
    out = io.StringIO()
    dev.write_state(out)
    assert out.getvalue() == f"{servers.p}long  42\n{servers.p}str  'hello'\n"
    index = dev.add_callback("long", lambda **kw: None)
    assert index in dev.PV("long").callbacks
    dev.remove_callbacks("long", index)
    assert index not in dev.PV("long").callbacks


def test_immutable_device_refuses_unknown_attributes(servers):
    dev = Device(servers.p, attrs=("long",), mutable=False)
    assert dev.long == 42
    with pytest.raises(AttributeError):
        dev.lnog = 3


def test_device_from_group_follows_pvproperty_names(servers):
    names = group_pvnames(client_ioc.PowerSupplyIOC, prefix=servers.s)
    assert names["readback"] == servers.s + "RBV"
    assert names["ch1.volts"] == servers.s + "out1:u1:V"
    assert names["ch2.enabled"] == servers.s + "ch2:on"
    assert sorted(names.values()) == sorted(client_ioc.PowerSupplyIOC(prefix=servers.s).pvdb)
    psu = device_from_group(client_ioc.PowerSupplyIOC, prefix=servers.s, timeout=10)
    psu.put("setpoint", 2.5, wait=True)
    assert psu.get("readback", use_monitor=False) == 2.5
    assert psu.get("mode", as_string=True) in ("Local", "Remote")
    assert psu.label == "psu-1"
    psu.ch1.put("volts", 1.25, wait=True)
    assert psu.ch1.get("volts", use_monitor=False) == 1.25
    assert psu.ch1.PV("volts").units == "V"
    with pytest.raises(TypeError):
        group_pvnames(object)


@pytest.mark.parametrize("module,cls", [("iocs.power_supply", "PowerSupplyIOC"),
                                        ("iocs.temperature_controller",
                                         "TemperatureControllerIOC"),
                                        ("iocs.random_walk", "RandomWalkIOC")])
def test_group_pvnames_of_iocgate_iocs_match_their_pvdb(module, cls):
    """iocgate DeviceGroups (readback PVs, health PVs) name PVs as their IOC serves them."""
    group = getattr(importlib.import_module(module), cls)
    names = group_pvnames(group, prefix="GRP:")
    assert sorted(names.values()) == sorted(group(prefix="GRP:").pvdb)
    if cls == "PowerSupplyIOC":
        assert names["volt"] == "GRP:VOLT" and names["volt_rbv"] == "GRP:VOLT_RBV"


def test_motor_move_wait_and_relative(motor):
    assert motor.move(1.0, wait=True, timeout=20) == 0
    assert motor.get_position() == pytest.approx(1.0)
    assert motor.done_moving == 1
    motor.move(-0.5, relative=True, wait=True, timeout=20)
    assert motor.get_position() == pytest.approx(0.5)
    motor.tweak("reverse", wait=True, timeout=20)  # TWV = 0.5
    assert motor.get_position() == pytest.approx(0.0)
    assert motor.description == "emulated motor"


def test_motor_limits(motor):
    assert motor.within_limits(9.9) and not motor.within_limits(10.5)
    with pytest.raises(LimitError, match="outside limits"):
        motor.move(11.0)
    assert motor.move(11.0, raise_on_error=False) == -12
    assert motor.get_position(readback=False) == 0.0


def test_motor_move_returns_pyepics_codes_without_wait_and_on_timeout(motor):
    try:
        assert motor.move(8.0, confirm_move=True) == 1  # started: MOVN is 1
        assert motor.move(8.0, wait=True, timeout=0.2, raise_on_error=False) == -8  # moving
    finally:
        motor.stop()
        assert motor.PV("DMOV").wait_for(lambda v: v == 1, timeout=10)
    here = motor.get_position()
    assert motor.move(here, confirm_move=True) == 0  # nothing to move: MOVN stays 0


def test_motor_stop(motor):
    motor.move(8.0)  # 0.5 per 0.1 s: takes 1.6 s
    assert motor.PV("RBV").wait_for(lambda v: v >= 1.0, timeout=10)
    motor.stop()
    assert motor.PV("DMOV").wait_for(lambda v: v == 1, timeout=10)
    stopped = motor.get_position()
    assert 1.0 <= stopped < 8.0
    assert motor.get_position(readback=False) == pytest.approx(stopped, abs=0.5)


def test_alarm_trips_on_transition_once_per_delay(servers):
    name = servers.p + "ao_w"
    caput(name, 0.0, wait=True)
    tripped = []
    fired = threading.Event()

    def alert(pvname=None, value=None, trip_point=None, comparison=None, **kw):
        tripped.append((pvname, value, trip_point, comparison))
        fired.set()

    alarm = Alarm(name, comparison=">", trip_point=5.0, callback=alert, alert_delay=60)
    try:
        caput(name, 6.0, wait=True)
        assert fired.wait(10)
        assert tripped == [(name, 6.0, 5.0, ">")]
        caput(name, 0.0, wait=True)
        caput(name, 7.0, wait=True)  # trips again, but within alert_delay: no new alert
        assert alarm.pv.wait_for(lambda v: v == 7.0, timeout=10)
        assert len(tripped) == 1
    finally:
        alarm.clear()
    with pytest.raises(ValueError):
        Alarm(name, comparison="~", trip_point=1)
