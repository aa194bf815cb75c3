"""Every DBR type and element count a client may ask for, checked on the wire."""

from __future__ import annotations

import numpy as np
import pytest
import rawca
from rawca import Cmd

STS, TIME, GR, CTRL = range(7, 14), range(14, 21), range(21, 28), range(28, 35)
NUMERIC = (1, 2, 3, 4, 5, 6)  # native types other than STRING


def family(offset):
    return [base + offset for base in (0, 7, 14, 21, 28)]


def number(field) -> int:
    """A ctypes limit field as a number (CHAR limits decode as one-byte ``bytes``)."""
    return field[0] if isinstance(field, bytes) else field


def read_ok(circuit, chan, data_type, count):
    """A successful READ_NOTIFY reply, checked for header consistency."""
    message = circuit.read(chan, data_type, count)
    assert message.command == Cmd.READ_NOTIFY, message
    assert message.p1 == rawca.ECA_NORMAL, message
    assert (message.data_type, message.count) == (data_type, count), message
    assert len(message.payload) % 8 == 0
    assert len(message.payload) >= rawca.payload_size(data_type, count), message
    return rawca.decode(data_type, count, message.payload)


@pytest.fixture
def double(circuit, server):
    chan = circuit.create_channel(server.pv("DOUBLE"))
    assert circuit.write(chan, [3.25]).p1 == rawca.ECA_NORMAL
    return chan


@pytest.mark.parametrize("offset", NUMERIC)
def test_numeric_request_types_of_a_double(circuit, double, offset):
    for data_type in family(offset):
        meta, values = read_ok(circuit, double, data_type, 1)
        assert values[0] == (3.25 if offset in (2, 6) else 3), data_type
        if data_type in STS:
            assert (meta.status, meta.severity) == (0, 0)
        if data_type in TIME:
            assert meta.stamp.secondsSinceEpoch > 1_000_000_000  # EPICS epoch: after 2021
        if data_type in GR or data_type in CTRL:
            if offset == 3:  # a double read as ENUM has no strings
                continue
            assert meta.units == b"mm"
            assert [number(meta.upper_disp_limit), number(meta.upper_alarm_limit),
                    number(meta.upper_warning_limit)] == [10, 8, 5], data_type
            if offset != 4:  # CHAR limits are unsigned bytes
                assert (meta.lower_disp_limit, meta.lower_alarm_limit,
                        meta.lower_warning_limit) == (-10, -8, -5), data_type
            if offset in (2, 6):
                assert meta.precision == 3
        if data_type in CTRL and offset != 3:
            assert number(meta.upper_ctrl_limit) == 10


def test_string_request_types_of_a_double(circuit, double):
    for data_type in (0, 7, 14, 21):  # 28 (CTRL_STRING): see the layout test below
        _, values = read_ok(circuit, double, data_type, 1)
        assert float(values[0]) == 3.25, data_type


@pytest.mark.servers(caproto_xfail="answers DBR_CTRL_STRING with the DBR_TIME_STRING layout")
def test_gr_and_ctrl_string_use_the_sts_layout(circuit, double):
    """db_access.h: dbr_gr_string and dbr_ctrl_string are dbr_sts_string (4 bytes of meta)."""
    for data_type in (21, 28):
        message = circuit.read(double, data_type, 1)
        assert len(message.payload) == 48, (data_type, message)
        assert float(message.payload[4:44].split(b"\0")[0]) == 3.25


@pytest.mark.servers(caproto_xfail="DBR_STSACK_STRING carries an empty value")
def test_stsack_string(circuit, double):
    meta, values = read_ok(circuit, double, 37, 1)
    assert float(values[0]) == 3.25
    message = circuit.read(double, 37, 1)
    ackt, acks = np.frombuffer(message.payload[4:8], ">u2")
    assert acks in range(4) and ackt in (0, 1)


def test_class_name(circuit, double):
    _, values = read_ok(circuit, double, 38, 1)
    assert values[0] == "ai"


def test_put_ackt_and_acks_are_accepted(circuit, double, check_serving, server):
    for data_type in (35, 36):
        reply = circuit.write(double, [0], data_type)
        assert reply.command == Cmd.WRITE_NOTIFY and reply.p1 == rawca.ECA_NORMAL, reply
    check_serving(server)


def test_enum_types_and_strings(circuit, server):
    chan = circuit.create_channel(server.pv("ENUM"))
    assert circuit.write(chan, ["On"], 0).p1 == rawca.ECA_NORMAL
    for data_type in (24, 31):
        meta, values = read_ok(circuit, chan, data_type, 1)
        assert values[0] == 1
        strings = [bytes(s.value if hasattr(s, "value") else s).split(b"\0")[0]
                   for s in meta.strs[:meta.no_str]]
        assert strings == [b"Off", b"On", b"Fault"]
    assert read_ok(circuit, chan, 0, 1)[1] == ["On"]
    assert read_ok(circuit, chan, 6, 1)[1][0] == 1.0
    assert circuit.write(chan, [2], 3).p1 == rawca.ECA_NORMAL
    assert read_ok(circuit, chan, 14, 1)[1] == ["Fault"]


def test_long_and_string(circuit, server):
    long_chan = circuit.create_channel(server.pv("LONG"))
    assert circuit.write(long_chan, [-123456]).p1 == rawca.ECA_NORMAL
    for data_type in (5, 12, 19, 26, 33):
        assert read_ok(circuit, long_chan, data_type, 1)[1][0] == -123456
    assert read_ok(circuit, long_chan, 0, 1)[1] == ["-123456"]
    string = circuit.create_channel(server.pv("STRING"))
    assert circuit.write(string, ["x" * 39]).p1 == rawca.ECA_NORMAL
    for data_type in (0, 7, 14):
        assert read_ok(circuit, string, data_type, 1)[1] == ["x" * 39]
    assert circuit.write(string, ["hello"]).p1 == rawca.ECA_NORMAL


def test_char_waveform(circuit, server):
    chan = circuit.create_channel(server.pv("CHARWF"))
    assert circuit.write(chan, list(b"hello")).p1 == rawca.ECA_NORMAL
    _, values = read_ok(circuit, chan, 4, 5)
    assert bytes(values) == b"hello"
    _, values = read_ok(circuit, chan, 32, 5)
    assert bytes(values) == b"hello"


@pytest.mark.parametrize("data_type", NUMERIC)
def test_waveform_counts(circuit, server, data_type):
    chan = circuit.create_channel(server.pv("WF10"))
    for count in (1, 5, 10):
        _, values = read_ok(circuit, chan, data_type, count)
        assert list(values) == list(range(count))
    _, values = read_ok(circuit, chan, data_type + 14, 10)
    assert list(values) == list(range(10))


def test_count_zero_means_current_length(circuit, server):
    dyn = circuit.create_channel(server.pv("DYN"))
    assert circuit.write(dyn, [1.0, 2.0, 3.0]).p1 == rawca.ECA_NORMAL
    message = circuit.read(dyn, 6, 0)
    assert message.p1 == rawca.ECA_NORMAL and message.count == 3, message
    assert list(rawca.decode(6, 3, message.payload)[1]) == [1.0, 2.0, 3.0]
    assert circuit.read(dyn, 20, 0).count == 3
    assert circuit.write(dyn, [5.0] * 7).p1 == rawca.ECA_NORMAL
    assert circuit.read(dyn, 6, 0).count == 7
    assert circuit.write(dyn, [1.0, 2.0, 3.0]).p1 == rawca.ECA_NORMAL
    scalar = circuit.create_channel(server.pv("DOUBLE"))
    assert circuit.read(scalar, 6, 0).count == 1
    assert circuit.read(circuit.create_channel(server.pv("WF10")), 6, 0).count == 10


@pytest.mark.servers(caproto_xfail="oversized count: header count disagrees with the payload")
@pytest.mark.parametrize("command", [Cmd.READ_NOTIFY, Cmd.EVENT_ADD])
def test_oversized_count(circuit, server, command):
    """Either ECA_BADCOUNT, or (rsrv) the requested count, zero-filled past the native ones."""
    chan = circuit.create_channel(server.pv("WF10"))
    if command == Cmd.READ_NOTIFY:
        reply = circuit.read(chan, 6, 20)
    else:
        circuit.subscribe(chan, data_type=6, count=20)
        reply = circuit.expect(Cmd.EVENT_ADD, Cmd.ERROR)
    if reply.command == Cmd.ERROR or reply.p1 == rawca.ECA_BADCOUNT:
        assert rawca.ECA_BADCOUNT in (reply.p1, reply.p2), reply
    else:
        assert reply.count == 20 and reply.p1 == rawca.ECA_NORMAL, reply
        assert len(reply.payload) >= 160, reply
        values = rawca.decode(6, 20, reply.payload)[1]
        assert list(values) == list(range(10)) + [0] * 10
    circuit.echo()


def test_long_string_via_dollar_suffix(circuit, server):
    from ioc_under_test import LONG_STRING

    chan = circuit.create_channel(server.pv("LSTRING.$"))
    assert chan.native_type == 4 and chan.native_count >= len(LONG_STRING) + 1, chan
    for name, expected in (("LSTRING.$", LONG_STRING), ("STRING.$", "hello")):
        chan = circuit.create_channel(server.pv(name))
        assert chan.native_type == 4
        message = circuit.read(chan, 4, 0)
        assert message.p1 == rawca.ECA_NORMAL and message.count >= len(expected), message
        values = rawca.decode(4, message.count, message.payload)[1]
        assert bytes(values).split(b"\0")[0] == expected.encode()
    plain = circuit.create_channel(server.pv("LSTRING"))
    assert plain.native_type == 0
    assert LONG_STRING.startswith(read_ok(circuit, plain, 0, 1)[1][0][:39])


def test_million_element_array_with_extended_headers(circuit, server):
    chan = circuit.create_channel(server.pv("WF1M"))
    data = np.arange(1_000_000, dtype=float)[::-1].copy()
    reply = circuit.write(chan, data)
    assert reply.command == Cmd.WRITE_NOTIFY and reply.p1 == rawca.ECA_NORMAL, reply
    for count in (1_000_000, 0):
        message = circuit.read(chan, 6, count)
        assert message.p1 == rawca.ECA_NORMAL and message.count == 1_000_000, message
        values = rawca.decode(6, 1_000_000, message.payload)[1]
        assert np.array_equal(values, data)
    _, head = read_ok(circuit, chan, 20, 70_000)  # extended request, under the native count
    assert np.array_equal(head, data[:70_000])
    assert circuit.write(chan, np.arange(1_000_000, dtype=float)).p1 == rawca.ECA_NORMAL


@pytest.mark.servers(caproto_xfail="replies with fewer elements than requested")
def test_reply_count_equals_requested_count(circuit, server):
    chan = circuit.create_channel(server.pv("LSTRING.$"))
    read_ok(circuit, chan, 4, chan.native_count)
