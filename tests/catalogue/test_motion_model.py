"""The SMC100-like controller simulator without I/O: motion on a fake clock, line by line."""

from __future__ import annotations

import pytest

from devices.motor_controller import MotionModel, Smc100Protocol


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def smc(clock):
    return Smc100Protocol(MotionModel(velocity=2.0, acceleration=4.0, clock=clock)).handle


def test_trapezoidal_move(clock, smc):
    assert smc("1PA5") is None
    assert smc("1TS") == "1TS000028"
    clock.now = 0.5  # accelerating: 1/2 a t^2
    assert smc("1TP") == "1TP0.50000"
    clock.now = 1.5  # cruising at 2 mm/s after 0.5 s of ramp (0.5 mm)
    assert smc("1TP") == "1TP2.50000"
    clock.now = 3.0  # 5 mm take 5/2 + 2/4 = 3 s
    assert (smc("1TP"), smc("1TS")) == ("1TP5.00000", "1TS000033")


def test_a_short_move_is_triangular(clock, smc):
    smc("1PA0.25")
    clock.now = 0.25
    assert smc("1TP") == "1TP0.12500"
    clock.now = 0.5
    assert smc("1TP") == "1TP0.25000"


def test_end_of_run_switch(clock, smc):
    smc("1SR100")
    smc("1PA40")
    clock.now = 100
    assert (smc("1TP"), smc("1TS")) == ("1TP25.00000", "1TS020033")


@pytest.mark.parametrize("line, error", [
    ("1PA99", "C"), ("1VA0", "C"), ("1XX", "A"), ("1PAx", "C"), ("1SL5", "C"),
])
def test_refused_commands_leave_an_error_code(smc, line, error):
    assert smc(line) is None
    assert smc("1TE") == f"1TE{error}"
    assert smc("1TE") == "1TE@"
    assert smc("1TP") == "1TP0.00000"


def test_other_addresses_get_no_reply(smc):
    assert smc("2TP") is None and smc("garbage") is None


def test_not_referenced_until_homed(clock):
    model = MotionModel(referenced=False, clock=clock)
    model.position = 3.0
    smc = Smc100Protocol(model).handle
    assert smc("1TS") == "1TS00000A"
    smc("1PA1")
    assert smc("1TE") == "1TEH"
    smc("1OR")
    assert smc("1TS") == "1TS00001E"
    clock.now = 10
    assert smc("1TS") == "1TS000032"


def test_stop_holds_the_position(clock, smc):
    smc("1PA10")
    clock.now = 1.0
    smc("1ST")
    clock.now = 5.0
    assert smc("1TP") == "1TP1.50000" and smc("1TS") == "1TS000033"


def test_a_speed_change_keeps_the_position(clock, smc):
    smc("1PA1")
    clock.now = 10.0
    smc("1VA0.5")
    assert smc("1TP") == "1TP1.00000" and smc("1TS") == "1TS000033"
