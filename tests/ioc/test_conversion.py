"""EPICS put conversions, as pure functions."""

import math

import pytest

from iocgate.ioc import parse_number, resolve_enum_state

NUMBERS = [
    # text, integer target, expected
    ("2.500000", True, 2),
    ("2.500000", False, 2.5),
    ("-2.9", True, -2),
    ("  17 ", True, 17),
    ("17", False, 17.0),
    ("1e3", True, 1000),
    ("", True, 0),
    ("   ", False, 0.0),
    (b"3.25\x00\x00garbage", False, 3.25),
    ("0x10", False, None),
]


@pytest.mark.parametrize("text, integer, expected", NUMBERS)
def test_parse_number(text, integer, expected):
    if expected is None:
        with pytest.raises(ValueError, match="not a number"):
            parse_number(text, integer=integer)
        return
    value = parse_number(text, integer=integer)
    assert value == expected
    assert type(value) is (int if integer else float)


@pytest.mark.parametrize("text", ["abc", "1.2.3", "nan-ish", "--1", "1_000", "1_0.5"])
@pytest.mark.parametrize("integer", [True, False])
def test_parse_number_rejects_garbage(text, integer):
    """Python's digit separators are no EPICS number (softIoc reads "1_000" as 1)."""
    with pytest.raises(ValueError, match=repr(text)):
        parse_number(text, integer=integer)


def test_parse_number_infinite_into_integer_is_refused():
    assert math.isinf(parse_number("inf", integer=False))
    with pytest.raises(ValueError, match="does not fit"):
        parse_number("inf", integer=True)


STATES = ("Off", "Low", "Medium", "High")


@pytest.mark.parametrize("value, expected", [
    ("Medium", "Medium"), (" High ", "High"), (2, "Medium"), ("3", "High"), (b"Low\x00", "Low"),
    (0, "Off"),
])
def test_enum_state(value, expected):
    assert resolve_enum_state(value, STATES) == expected


@pytest.mark.parametrize("value", ["medium", "Max", 4, -1, "7", 1.5, None])
def test_enum_state_refused(value):
    with pytest.raises(ValueError):
        resolve_enum_state(value, STATES)
