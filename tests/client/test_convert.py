"""The shared no-I/O core: value, string and put conversions (no server needed)."""

from __future__ import annotations

import numpy as np
import pytest

from iocgate.client import CAPutError
from iocgate.client._convert import (
    char_value,
    primitive_string,
    put_payload,
    python_value,
    raw_value,
)
from iocgate.protocol._ca_dbr import DBR as T, decode_values


@pytest.mark.parametrize("value,precision,expected", [
    (1.25, 3, "1.250"), (-0.5, 0, "-0"), (123456.789, 3, "1.23e+05"), (1e-7, 2, "1e-07"),
    (0.0, 4, "0"),  # pyepics switches to %g for 0.0 too (log10 of ~1e-9); kept for parity
])
def test_float_char_value_uses_precision(value, precision, expected):
    assert char_value(np.array([value]), T.DOUBLE, 1, 20, precision, None) == expected


def test_char_value_of_enums_chars_and_arrays():
    assert char_value(np.array([2]), T.ENUM, 1, 17, None, ("a", "b", "c")) == "c"
    assert char_value(np.array([7]), T.ENUM, 1, 17, None, ("a",)) == "7"
    text = np.frombuffer(b"hi there\x00junk", dtype=np.uint8)
    assert char_value(text, T.CHAR, 64, 18, None, None) == "hi there"
    assert char_value(np.zeros(4), T.DOUBLE, 8, 20, 2, None) == \
        "<array size=4, type=time_double>"
    assert primitive_string(np.zeros(4), T.DOUBLE, 8, 20, None) == \
        "<array count=8, type=6>"
    assert char_value(None, T.DOUBLE, 1, T.DOUBLE, 2, None) == "None"


def test_values_are_native_python_and_numpy():
    wire = np.array([1.5, 2.5], dtype=">f8").tobytes()
    raw = raw_value(decode_values(T.DOUBLE, 2, wire), T.DOUBLE)
    assert raw.dtype == np.float64 and raw.dtype.isnative
    three = python_value(raw_value(decode_values(T.LONG, 1, b"\0\0\0\3"), T.LONG), T.LONG, 1)
    assert three == 3 and type(three) is int
    assert raw_value(["abc"], T.STRING) == "abc"
    assert python_value(raw, T.DOUBLE, 2, count=1).tolist() == [1.5]
    assert python_value(raw, T.DOUBLE, 2, as_numpy=False) == [1.5, 2.5]


def test_put_payloads():
    assert put_payload("x", "Fast", T.ENUM, 1, ("Off", "Fast")) == [1]
    assert put_payload("x", "1", T.ENUM, 1, ("Off", "Fast")) == [1]
    with pytest.raises(CAPutError, match="'Turbo' is not one of"):
        put_payload("x", "Turbo", T.ENUM, 1, ("Off", "Fast"))
    chars = put_payload("x", "hey", T.CHAR, 128, None)
    assert chars.tolist() == [104, 101, 121, 0]
    assert put_payload("x", "abcdef", T.CHAR, 3, None).tolist() == [97, 98, 99]
    assert put_payload("x", 2.5, T.DOUBLE, 1, None) == [2.5]
    assert put_payload("x", (1, 2), T.DOUBLE, 4, None) == [1, 2]


def test_string_waveforms_are_arrays_and_text_lists():
    # regression: STRING waveforms came back as lists (and one element in use as a bare str)
    for raw, expected in ((["ab", "cd"], ["ab", "cd"]), ("one", ["one"])):
        value = python_value(raw, T.STRING, 4)
        assert isinstance(value, np.ndarray) and value.tolist() == expected
        assert python_value(raw, T.STRING, 4, as_numpy=False) == expected
        assert char_value(raw, T.STRING, 4, 14, None, None) == expected
    assert python_value("one", T.STRING, 1) == "one"
    assert primitive_string(["ab", "cd"], T.STRING, 4, 14, None) == (
        "<array count=4, type=0>")


def test_string_puts_convert_numbers_and_refuse_long_text():
    # regression: a number to a STRING channel failed inside caproto with a bare TypeError,
    # and text past 39 characters was cut silently
    assert put_payload("pv", 5.5, T.STRING, 1, None) == ["5.5"]
    assert put_payload("pv", np.array(["a", "b"]), T.STRING, 2, None) == ["a", "b"]
    assert put_payload("pv", "x" * 39, T.STRING, 1, None) == ["x" * 39]
    with pytest.raises(CAPutError, match="longer than 39"):
        put_payload("pv", "x" * 40, T.STRING, 1, None)


def test_short_type_names_follow_libca():
    # regression: caproto's TIME_INT/CTRL_INT spelled as pyepics' "time_short"/"ctrl_short"
    from iocgate.client._convert import type_name
    assert [type_name(t) for t in (T.SHORT, 15, 29)] == [
        "int", "time_short", "ctrl_short"]
    assert type_name(19) == "time_long"
