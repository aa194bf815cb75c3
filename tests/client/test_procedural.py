"""Procedural helpers: caput/caget round trips, the channel cache, cainfo, camonitor."""

from __future__ import annotations

import re
import threading

import pytest

from iocgate.client import (
    CATimeoutError,
    caget,
    caget_many,
    cainfo,
    camonitor,
    camonitor_clear,
    caput,
    caput_many,
    default_context,
    get_pv,
)


def test_caput_wait_then_caget(servers):
    assert caput(servers.p + "ao_w", 1.5, wait=True) == 1
    assert caget(servers.p + "ao_w") == 1.5
    assert caget(servers.p + "ao_w", as_string=True) == "1.50"
    caput(servers.s + "setpoint", 4.25, wait=True)  # the caproto putter copies it to RBV
    assert caget(servers.s + "RBV") == 4.25


def test_global_cache_reuses_channels(servers):
    name = servers.p + "long"
    caget(name)
    context = default_context()
    channels_before = len(context.channels)
    pv = get_pv(name)
    for _ in range(5):
        assert caget(name) == 42
    assert get_pv(name) is pv
    assert len(context.channels) == channels_before


def test_cainfo_reports_metadata(servers, capsys):
    text = cainfo(servers.p + "alarmed", print_out=False)
    assert capsys.readouterr().out == ""
    for fragment in (servers.p + "alarmed", "char_value = '7.00'", "units      = degC",
                     "precision  = 2", "severity   = 1", "upper_alarm_limit = 8.0",
                     "access     = read/write"):
        assert fragment in text

def test_cainfo_prints_and_returns_none_like_pyepics(servers, capsys):
    # regression: cainfo(print_out=True) also returned the text, shown twice at a prompt
    assert cainfo(servers.p + "mode") is None
    assert "('Off', 'Slow', 'Fast')" in capsys.readouterr().out


def test_camonitor_writer_and_clear(servers):
    lines = []
    three = threading.Event()

    def writer(line):
        lines.append(line)
        if len(lines) >= 3:
            three.set()

    name = servers.p + "counter"  # a calc record counting up at 10 Hz
    camonitor(name, writer=writer)
    assert three.wait(10)
    camonitor_clear(name)
    count = len(lines)
    assert re.fullmatch(rf"{name} \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{5}} \d+", lines[0])
    values = [int(line.split()[-1]) for line in lines[:3]]
    assert values == sorted(values) and len(set(values)) == 3
    # after clearing, nothing more arrives through this callback
    assert not get_pv(name).wait_for(lambda v: len(lines) > count, timeout=0.3)


def test_camonitor_with_callback(servers):
    seen = threading.Event()
    got = {}

    def callback(pvname=None, value=None, **kw):
        got.update(pvname=pvname, value=value)
        seen.set()

    camonitor(servers.p + "mode", callback=callback)
    try:
        assert seen.wait(10)
        assert got == {"pvname": servers.p + "mode", "value": 1}
    finally:
        camonitor_clear(servers.p + "mode")


def test_caget_many_and_caput_many(servers):
    names = [servers.p + "ao_w", servers.p + "str_w", servers.p + "mode_w"]
    assert caput_many(names, [0.5, "many", "Slow"], wait="all") == [1, 1, 1]
    assert caget_many(names) == [0.5, "many", 1]
    assert caput_many(names, [0.75, "each", 2], wait="each") == [1, 1, 1]
    assert caget_many(names, as_string=True) == ["0.75", "each", "Fast"]


def test_caget_many_reports_every_missing_pv(servers):
    names = [servers.p + "long", "ICT:missing:1", "ICT:missing:2"]
    with pytest.raises(CATimeoutError) as info:
        caget_many(names, connection_timeout=0.3, timeout=0.3)
    assert set(info.value.failed) == {"ICT:missing:1", "ICT:missing:2"}
    assert "ICT:missing:1" in str(info.value)
    assert caget_many(names, connection_timeout=0.1, raise_on_error=False) == [42, None, None]


def test_caget_many_connect_timeout_names_the_connection_seconds(servers):
    # regression: a connection failure was reported with the read timeout's seconds
    with pytest.raises(CATimeoutError, match=r"did not connect within 0\.2 s") as info:
        caget_many([servers.p + "long", "ICT:missing:3"], connection_timeout=0.2, timeout=7)
    assert info.value.timeout == 0.2


def test_caget_many_of_thousands_of_reads_in_one_call(servers):
    # regression (speed rewrite): replies are collected in place, many per received buffer
    names = [servers.p + n for n in ("ao", "long", "str", "mode")] * 750
    values = caget_many(names, timeout=30)
    assert values == [1.25, 42, "hello", 1] * 750
    assert [type(v) for v in values[:4]] == [float, int, str, int]


def test_caget_many_positional_arguments_follow_pyepics(servers):
    # regression: pyepics' order is (pvlist, as_string, as_numpy, count); as_numpy=False was
    # taken as count=False and cut every waveform to nothing
    wave = caget_many([servers.p + "wave"], False, False)[0]
    assert wave == [1.5, 2.5, 3.5]
    assert list(caget_many([servers.p + "wave"], False, True, 2)[0]) == [1.5, 2.5]


def test_camonitor_monitor_delta_skips_small_changes(servers):
    values = []
    three = threading.Event()

    def callback(value=None, **kw):
        values.append(value)
        if len(values) >= 3:
            three.set()

    name = servers.p + "counter"  # counts up by one at 10 Hz
    camonitor(name, callback=callback, monitor_delta=3)
    try:
        assert three.wait(10)
    finally:
        camonitor_clear(name)
    steps = [b - a for a, b in zip(values, values[1:3])]
    assert all(step >= 3 for step in steps), values
    # the shared PV itself still reports every change to other callbacks
    assert get_pv(name).monitor_delta is None


def test_camonitor_names_a_pv_that_never_connects(servers):
    with pytest.raises(CATimeoutError, match="ICT:absent") as info:
        camonitor("ICT:absent", connection_timeout=0.3)
    assert info.value.timeout == 0.3
    assert camonitor("ICT:absent", connection_timeout=0.1, raise_on_error=False) is None


#: The keyword arguments pyepics 3.5 passes to every value callback (``PV._fields``).
PYEPICS_CALLBACK_KEYS = {
    "pvname", "value", "char_value", "status", "ftype", "chid", "host", "count", "access",
    "write_access", "read_access", "severity", "timestamp", "posixseconds", "nanoseconds",
    "precision", "units", "enum_strs", "monitor_delta", "upper_disp_limit", "lower_disp_limit",
    "upper_alarm_limit", "lower_alarm_limit", "lower_warning_limit", "upper_warning_limit",
    "upper_ctrl_limit", "lower_ctrl_limit", "cb_info"}


def test_value_callbacks_get_every_pyepics_keyword(servers):
    got = {}
    seen = threading.Event()

    def callback(**kw):
        got.update(kw)
        seen.set()

    name = servers.p + "alarmed"
    camonitor(name, callback=callback)
    try:
        assert seen.wait(10)
    finally:
        camonitor_clear(name)
    assert PYEPICS_CALLBACK_KEYS <= set(got)
    assert isinstance(got["chid"], int) and got["chid"] == get_pv(name).chid
    assert got["units"] == "degC" and got["precision"] == 2
