"""PV objects: metadata on connection, get/put conversions, callbacks, errors."""

from __future__ import annotations

import socket
import subprocess
import threading

import numpy as np
import pytest

from iocgate._errors import IocgateError
from iocgate.client import PV, CAPutError, CATimeoutError, caget, caput, settings
from iocgate.client._core import Context
from iocgate.testing import epics_tool


def c_caput(servers, name: str, value: str) -> None:
    """Write with the EPICS C ``caput`` tool (a real, independent client)."""
    subprocess.run([str(epics_tool("caput")), "-c", "-w", "5", name, value],
                   env=servers.child_env(), check=True, capture_output=True, timeout=20)


def c_caget(servers, *args: str) -> str:
    proc = subprocess.run([str(epics_tool("caget")), "-w", "5", "-t", *args],
                          env=servers.child_env(), check=True, capture_output=True, text=True,
                          timeout=20)
    return proc.stdout.strip()


def test_metadata_complete_after_wait_for_connection(servers):
    pv = PV(servers.p + "alarmed")
    assert pv.wait_for_connection(timeout=10) is True
    # no get() call: everything below came with the connection
    assert (pv.units, pv.precision) == ("degC", 2)
    assert (pv.upper_alarm_limit, pv.upper_warning_limit) == (8.0, 6.0)
    assert (pv.lower_warning_limit, pv.lower_alarm_limit) == (-6.0, -8.0)
    assert (pv.status, pv.severity) == (4, 1)  # HIGH, MINOR
    assert pv.timestamp > 1e9 and pv.char_value == "7.00"
    assert (pv.count, pv.nelm, pv.type) == (1, 1, "time_double")
    assert pv.access == "read/write" and pv.read_access and pv.write_access
    assert pv.host.endswith(f":{servers.env['EPICS_CA_SERVER_PORT']}")
    enum = PV(servers.p + "mode")
    enum.wait_for_connection(timeout=10)
    assert enum.enum_strs == ("Off", "Slow", "Fast")


def test_enum_put_by_name_and_index(servers):
    pv = PV(servers.p + "mode_w")
    pv.wait_for_connection(timeout=10)
    assert pv.put("Fast", wait=True) == 1
    assert pv.get(use_monitor=False) == 2 and pv.get(as_string=True, use_monitor=False) == "Fast"
    pv.put(1, wait=True)
    assert c_caget(servers, pv.pvname) == "Slow"
    with pytest.raises(CAPutError, match="not one of"):
        pv.put("Turbo", wait=True)


def test_char_waveform_round_trip_and_waveform_arrays(servers):
    text = PV(servers.p + "text_w")
    text.wait_for_connection(timeout=10)
    message = "a string longer than forty characters, stored in a CHAR waveform"
    text.put(message, wait=True)
    assert text.get(as_string=True, use_monitor=False) == message
    assert c_caget(servers, "-S", text.pvname) == message
    wave = PV(servers.p + "wave_w")
    wave.put(np.linspace(0, 1, 5), wait=True)
    value = wave.get(use_monitor=False)
    assert isinstance(value, np.ndarray) and value.dtype == np.float64
    np.testing.assert_allclose(value, np.linspace(0, 1, 5))
    assert wave.get(count=2, use_monitor=False).tolist() == [0.0, 0.25]
    assert wave.get(as_numpy=False, use_monitor=False) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_megabyte_waveform_put_and_get(servers):
    # regression: caproto's sendall on its non-blocking socket raised BlockingIOError once the
    # socket buffer filled, after a partial send that corrupted the circuit
    big = np.random.default_rng(1).random(1_000_000)
    context = Context()
    try:
        pv = PV(servers.p + "bigwave", context=context)
        pv.wait_for_connection(timeout=10)
        sock = pv._channel.circuit.sock  # a small send buffer: partial sends certain
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        assert pv.put(big, wait=True, timeout=20) == 1
        np.testing.assert_array_equal(pv.get(timeout=20, use_monitor=False), big)
        other = PV(servers.p + "long", context=context)
        assert other.get(timeout=10) == 42  # the circuit still works
    finally:
        context.close()


def test_string_channels_take_numbers_and_refuse_long_text(servers):
    # regression: a float to a stringout raised a bare TypeError inside caproto; a 45-character
    # string was cut to 39 without a word
    name = servers.p + "str_w"
    assert caput(name, 5.5, wait=True) == 1
    assert caget(name) == "5.5"
    with pytest.raises(CAPutError, match="longer than 39"):
        caput(name, "x" * 45, wait=True)
    assert caget(name) == "5.5"


def test_value_callback_gets_pyepics_keywords(servers):
    pv = PV(servers.p + "ao_w")
    pv.wait_for_connection(timeout=10)
    seen = []
    arrived = threading.Event()

    def on_change(pvname=None, value=None, char_value=None, **kws):
        seen.append((pvname, value, char_value, kws))
        if value == 4.5:
            arrived.set()

    index = pv.add_callback(on_change, tag="mine")
    c_caput(servers, pv.pvname, "4.5")
    assert arrived.wait(10)
    pvname, value, char_value, kws = seen[-1]
    assert (pvname, value, char_value) == (pv.pvname, 4.5, "4.50")
    assert kws["tag"] == "mine" and kws["cb_info"] == (index, pv)
    for key in ("status", "severity", "timestamp", "units", "precision", "type", "count",
                "host", "ftype", "nelm"):
        assert key in kws
    assert kws["units"] == "A" and kws["precision"] == 2
    pv.remove_callback(index)
    assert index not in pv.callbacks


def test_put_callback_and_use_complete(servers):
    pv = PV(servers.p + "ao_w")
    done = threading.Event()
    calls = []
    pv.put(2.0, callback=lambda **kw: (calls.append(kw), done.set()), callback_data="x")
    assert done.wait(10)
    assert calls == [{"pvname": pv.pvname, "data": "x"}]
    assert pv.put_complete is True
    assert pv.get(use_monitor=False) == 2.0


def test_connection_callback_and_value_setter(servers):
    states = []
    connected = threading.Event()

    def on_connect(pvname=None, conn=None, pv=None):
        states.append((pvname, conn, pv))
        connected.set()

    pv = PV(servers.p + "str_w", connection_callback=on_connect)
    assert connected.wait(10)
    assert states[0][:2] == (servers.p + "str_w", True) and states[0][2] is pv
    pv.value = "set via attribute"
    assert pv.wait_for(lambda v: v == "set via attribute", timeout=10)


def test_a_second_pv_of_the_name_does_not_replay_the_first_ones_connection(servers):
    # regression: caproto replays the last connection state to every PV of a name when one
    # more is created, so connection callbacks ran again (and metadata was re-read)
    states = []
    first = PV(servers.p + "switch", connection_callback=lambda conn=None, **_: states.append(conn))
    first.wait_for_connection(timeout=10)
    PV(servers.p + "switch").wait_for_connection(timeout=10)  # its replay is queued before
    assert caget(servers.p + "switch") == 0  # ... and so is a third, from the cache
    assert states == [True]


def test_timeout_names_pv_and_seconds():
    pv = PV("ICT:no:such:pv")
    with pytest.raises(CATimeoutError) as info:
        pv.wait_for_connection(timeout=0.2)
    error = info.value
    assert isinstance(error, TimeoutError) and isinstance(error, IocgateError)
    assert error.pvname == "ICT:no:such:pv" and error.timeout == 0.2
    assert "ICT:no:such:pv" in str(error) and "0.2 s" in str(error)
    with pytest.raises(CATimeoutError, match="ICT:no:such:pv.*0.2 s"):
        caget("ICT:no:such:pv", connection_timeout=0.2)


def test_return_none_opt_in():
    assert caget("ICT:no:such:pv", connection_timeout=0.1, raise_on_error=False) is None
    assert PV("ICT:no:such:pv").wait_for_connection(0.1, raise_on_error=False) is False
    settings.raise_on_error = False
    try:
        assert caget("ICT:no:such:pv", connection_timeout=0.1) is None
    finally:
        settings.raise_on_error = True


def test_refused_put_carries_server_status(servers):
    pv = PV(servers.p + "disabled")  # DISP=1: the IOC refuses CA puts
    with pytest.raises(CAPutError) as info:
        pv.put(1.0, wait=True, timeout=5)
    assert info.value.status == 160 and info.value.status_name == "ECA_PUTFAIL"
    assert servers.p + "disabled" in str(info.value)
    caproto_pv = PV(servers.s + "guarded")  # the caproto putter raises
    with pytest.raises(CAPutError) as info:
        caproto_pv.put(1, wait=True, timeout=5)
    assert info.value.status_name == "ECA_PUTFAIL"


def test_waiting_put_is_not_failed_by_an_earlier_refused_put(servers):
    # regression: the refusal of a put sent without wait arrives while the next put waits;
    # the waiting put used to raise that stale refusal although its own reply succeeded
    pv = PV(servers.s + "picky")
    pv.wait_for_connection(timeout=10)
    for value in (1.0, 2.0, 3.0):
        pv.put(-1.0)  # refused by the server, reported later (logged, last_put_error)
        assert pv.put(value, wait=True, timeout=5) == 1
        assert pv.get(use_monitor=False) == value


def test_no_write_access_is_refused_before_sending(servers):
    pv = PV(servers.p + "readonly")  # access security group RO
    pv.wait_for_connection(timeout=10)
    assert pv.access == "read-only" and not pv.write_access
    with pytest.raises(CAPutError, match="ECA_NOWTACCESS"):
        pv.put(5)
    assert pv.put(5, raise_on_error=False) is None
    assert pv.get(use_monitor=False) == 3.0


def test_repr_and_get_with_metadata(servers):
    pv = PV(servers.p + "wave")
    pv.wait_for_connection(timeout=10)
    assert repr(pv) == f"<PV '{servers.p}wave', count=3/16, type=time_double, access=read/write>"
    md = pv.get_with_metadata(as_string=True)
    assert md["value"] == "<array size=3, type=time_double>" and md["units"] == "mm"


def test_pvs_of_the_same_name_share_the_channel_not_the_callbacks(servers):
    first, second = PV(servers.p + "counter"), PV(servers.p + "counter")
    first.wait_for_connection(timeout=10)
    second.wait_for_connection(timeout=10)
    assert first._channel is second._channel
    first.disconnect()
    start = second.get(use_monitor=False)
    assert second.wait_for(lambda v: v >= start + 2, timeout=10)  # still monitored
    assert second._monitor_seen and not first.callbacks


@pytest.mark.parametrize("server, name", [("p", "ao_w"), ("s", "setpoint")])
def test_get_right_after_a_waiting_put_returns_the_new_value(servers, server, name):
    # Regression: a server may confirm a put before sending its monitor event; get() then
    # returned the monitored old value.
    pv = PV(getattr(servers, server) + name)
    pv.wait_for_connection(10)
    for step in range(20):
        value = 0.5 + step * 0.25  # within the setpoint's 0..10 V limits
        pv.put(value, wait=True, timeout=10)
        assert pv.get() == value
