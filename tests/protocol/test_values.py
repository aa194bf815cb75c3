"""Value conversion and SCPI text: one table drives the parser and the formatter."""

from __future__ import annotations

import enum
import math
from typing import List

import numpy
import pytest
from hypothesis import given, strategies as st

from iocgate.protocol import (
    completes_with_opc,
    compound_query,
    fill_template,
    format_set,
    format_value,
    has_query,
    parse_error,
    parse_value,
    query_text,
    split_compound_reply,
)


class Range(enum.Enum):
    OFF = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


class Mode(enum.Enum):
    CV = "CV"
    CC = "CC"


class Output(enum.IntEnum):  # member names as in the README, not in capitals
    Off = 0
    On = 1


# (type, reply text, value); every row must parse, and the formatter must give back a text
# that parses to the same value.
ROUNDTRIP = [
    (float, "2.5", 2.5), (float, "+2.500E+00", 2.5), (float, "-0.001", -0.001),
    (int, "42", 42), (int, "+5.000E+00", 5), (int, "0x1F", 31), (int, "-3", -3),
    (bool, "1", True), (bool, "0", False), (bool, "ON", True), (bool, "off", False),
    (bool, "TRUE", True), (bool, "False", False), (bool, "1.000E+00", True),
    (str, "  iocgate,PSU-3005  ", "iocgate,PSU-3005"),
    (Range, "2", Range.MEDIUM), (Range, "+2", Range.MEDIUM), (Range, "HIGH", Range.HIGH),
    (Mode, "CC", Mode.CC),
    # regression: names and string codes matched only in capitals ("ON" -> Output.On failed)
    (Output, "ON", Output.On), (Output, "off", Output.Off), (Output, "1", Output.On),
    (Mode, "cv", Mode.CV),
    (List[float], "1,2.5,-3", [1.0, 2.5, -3.0]), (list[float], "", []),
    (List[int], "1, 2 ,3", [1, 2, 3]),
]

UNPARSABLE = [
    (float, "\x15#!?garbage"), (float, ""), (int, "2.5"), (bool, "2"), (bool, "maybe"),
    (Range, "7"), (Mode, "XX"), (List[float], "1,x,3"), (numpy.ndarray, "1,,2"),
]


@pytest.mark.parametrize("kind, text, value", ROUNDTRIP)
def test_parse_and_format_roundtrip(kind, text, value):
    assert parse_value(text, kind) == value
    assert parse_value(format_value(value), kind) == value


def test_numpy_array():
    array = parse_value("1,2,3.5", numpy.ndarray)
    assert isinstance(array, numpy.ndarray)
    assert array.tolist() == [1.0, 2.0, 3.5]
    assert format_value(array) == "1.0,2.0,3.5"
    assert format_value(numpy.float64(0.25)) == "0.25"


@pytest.mark.parametrize("kind, text", UNPARSABLE)
def test_unparsable_replies_raise_value_error(kind, text):
    with pytest.raises(ValueError):
        parse_value(text, kind)


def test_callable_type_and_unsupported_type():
    assert parse_value("1,5.0", lambda s: float(s.split(",")[1])) == 5.0
    with pytest.raises(TypeError):
        parse_value("1", 3)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_float_survives_format_and_parse(x):
    assert parse_value(format_value(x), float) == x


def test_nan_reply():
    assert math.isnan(parse_value("NaN", float))


@pytest.mark.parametrize("command, value, set_format, opc, text", [
    ("VOLT", 2.5, None, False, "VOLT 2.5"),
    ("VOLT", 2.5, "VOLT {:.3f}", False, "VOLT 2.500"),
    ("VOLT", 2.5, "VOLT {:.3f}", True, "VOLT 2.500;*OPC?"),
    ("SETP", 300, "SETP 1,{value}", False, "SETP 1,300"),
    ("OUTP", True, None, False, "OUTP 1"),
    ("RANG", Range.HIGH, None, False, "RANG 3"),
    ("RANG", Range.LOW, "RANGE 1,{}", False, "RANGE 1,1"),
    ("*RST", None, None, False, "*RST"),
    ("LIST", [1, 2.5], None, True, "LIST 1,2.5;*OPC?"),
    ("OUTP", True, "OUTP {}", False, "OUTP 1"),  # regression: was "OUTP True"
    ("RANG", Range.HIGH, "RANGE 1,{value:d}", False, "RANGE 1,3"),
])
def test_format_set(command, value, set_format, opc, text):
    assert format_set(command, value, set_format, opc) == text


@pytest.mark.parametrize("text, query, opc", [
    ("VOLT 2", False, False),
    ("VOLT 2;*OPC?", True, True),
    ("V0 1;MEAS:V0?", True, False),
    ("VOLT?", True, False),
    ("*RST", False, False),
    ("OUTP ON; ", False, False),
    ("VOLT 2;*opc?", True, True),
])
def test_set_text_expecting_a_reply(text, query, opc):
    assert has_query(text) is query and completes_with_opc(text) is opc


@pytest.mark.parametrize("template, value, text", [
    ("SETP 1,{value}", 300, "SETP 1,300"),
    ("SETP 1,{value:.2f}", 301.234, "SETP 1,301.23"),  # regression: ValueError on a str
    ("V {:+.1f}", 2, "V +2.0"),
    ("ON {}", False, "ON 0"),
    ("R {value}", Range.LOW, "R 1"),
    ("L {}", [1, 2], "L 1,2"),
])
def test_fill_template(template, value, text):
    assert fill_template(template, value) == text


@pytest.mark.parametrize("command, query", [("VOLT", "VOLT?"), ("*IDN?", "*IDN?"),
                                            ("MEAS:VOLT", "MEAS:VOLT?")])
def test_query_text(command, query):
    assert query_text(command) == query


#: (queries, one program message, its reply, the replies it holds)
COMPOUND = [
    (["MEAS:VOLT?", "MEAS:CURR?"], "MEAS:VOLT?;:MEAS:CURR?", "1.5;0.25", ["1.5", "0.25"]),
    (["*IDN?", "VOLT?"], "*IDN?;:VOLT?", "ACME,PS,1,2.0 ; 3", ["ACME,PS,1,2.0", "3"]),
    (["MODE?", ":SYST:ERR?", "*OPC?"], "MODE?;:SYST:ERR?;*OPC?", 'CV;-113,"a;b";1',
     ["CV", '-113,"a;b"', "1"]),
    (["LABEL?"], "LABEL?", "'x;y'", ["'x;y'"]),
]


@pytest.mark.parametrize("queries, message, reply, parts", COMPOUND)
def test_compound_query_and_its_reply(queries, message, reply, parts):
    assert compound_query(queries) == message
    assert split_compound_reply(reply, len(queries)) == parts


@pytest.mark.parametrize("reply, count", [("1.5", 2), ("1;2;3", 2), ('1;"2;3"', 3)])
def test_a_compound_reply_with_another_count_is_refused(reply, count):
    with pytest.raises(ValueError, match=f"expected {count} replies"):
        split_compound_reply(reply, count)


@pytest.mark.parametrize("reply, parsed", [
    ('0,"No error"', (0, "No error")), ('-222,"Data out of range"', (-222, "Data out of range")),
    ("+0, \"No error\"", (0, "No error")), ("-113", (-113, "")),
    ('-224,"Illegal parameter value; x"', (-224, "Illegal parameter value; x")),
])
def test_parse_error(reply, parsed):
    assert parse_error(reply) == parsed


@pytest.mark.parametrize("reply", ["", "No error", "\x15#!?garbage", "1.5,x"])
def test_parse_error_rejects_non_error_replies(reply):
    with pytest.raises(ValueError):
        parse_error(reply)
