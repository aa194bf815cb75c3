"""Values in log lines as a user would type them after ``caput PV``."""

from __future__ import annotations

import enum

import numpy
import pytest

from iocgate.protocol import display_value


class Relay(enum.IntEnum):
    Off = 0
    On = 1


@pytest.mark.parametrize("value, text", [
    (b"abc", "abc"),
    (b"abc\0\0junk", "abc"),
    (bytearray(b"\xb5A"), "\xb5A"),           # not UTF-8: Latin-1, as EPICS strings are
    ("On", "On"),
    ("", '""'),
    ("two words", '"two words"'),
    ('say "hi"', '"say \\"hi\\""'),
    (numpy.uint16(2), "2"),
    (numpy.float64(2.5), "2.5"),
    (numpy.float32(0.1), "0.1"),
    (numpy.float64(0.1), "0.1"),
    (12.5, "12.5"),
    (3, "3"),
    (True, "True"),
    (Relay.On, "On"),
    ([1.0, 2.0], "1.0 2.0"),
    (numpy.array([7], dtype=numpy.int32), "7"),
    (numpy.arange(12), "0 1 2 3 4 5 6 7 8 9 … (12 values)"),
    ([b"a", b"b c"], 'a "b c"'),
])
def test_display_value(value, text):
    assert display_value(value) == text
