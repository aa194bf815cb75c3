"""pyepics semantics scripts rely on, against the session softIoc: implicit waits, counts that
reach the server, metadata forms, access and put callbacks, disconnect/reconnect, motors that
complete early, scans that keep their rows, and a replaced ``socket.socket``."""

from __future__ import annotations

import csv
import subprocess
import sys
import threading

import numpy as np
import pytest

from iocgate import LimitError
from iocgate.client import (
    PV,
    CAError,
    Device,
    caget,
    camonitor,
    camonitor_clear,
    caput,
    default_context,
    get_pv,
    poll,
)
from iocgate.client.scan import ascan


def test_fresh_pv_attributes_wait_for_connection_and_metadata(servers):
    # regression: PV("X").units was None until the connection happened to arrive
    assert PV(servers.p + "ao").units == "V"
    assert PV(servers.p + "ao").precision == 3
    assert PV(servers.p + "mode").enum_strs == ("Off", "Slow", "Fast")
    assert PV(servers.p + "wave").count == 3  # NORD, while nelm is 16
    pv = PV(servers.p + "alarmed")
    assert (pv.char_status, pv.char_severity) == ("HIGH", "MINOR")


def test_counts_reach_the_server(servers):
    # regression: get(count=1) and PV(count=...) returned 0 elements of a shorter waveform
    name = servers.p + "wave"
    assert caget(name, count=1).tolist() == [1.5]
    assert PV(name).get(count=2, use_monitor=False).tolist() == [1.5, 2.5]
    assert PV(name, count=32, auto_monitor=False).get().tolist() == [1.5, 2.5, 3.5]
    # monitored: asks for min(count, NELM) elements, zero-filled past NORD, as pyepics
    assert PV(name, count=32).get().tolist() == [1.5, 2.5, 3.5] + [0.0] * 13
    seen = []
    got = threading.Event()
    limited = PV(name, count=2, callback=lambda value=None, **_: (seen.append(value),
                                                                  got.set()))
    assert limited.get().tolist() == [1.5, 2.5]
    assert got.wait(10) and seen[0].tolist() == [1.5, 2.5]  # the monitor asks for 2 too


def test_get_with_metadata_forms_and_namespace(servers):
    pv = PV(servers.p + "ao", auto_monitor=False)
    ctrl = pv.get_with_metadata(form="ctrl")
    assert ctrl["units"] == "V" and ctrl["upper_ctrl_limit"] == 9.0 and "timestamp" not in ctrl
    timed = pv.get_with_metadata(form="time", as_namespace=True)
    assert timed.value == 1.25 and timed.severity == 0 and timed.timestamp > 0
    assert not hasattr(timed, "units")
    assert pv.get(with_ctrlvars=True) == 1.25


def test_access_callback_and_put_callback_data(servers):
    rights = []
    got = threading.Event()
    readonly = PV(servers.p + "readonly",
                  access_callback=lambda read, write, pv=None: (rights.append((read, write)),
                                                                 got.set()))
    assert got.wait(10) and rights[0] == (True, False) and readonly.write_access is False
    done = []
    finished = threading.Event()
    pv = PV(servers.p + "ao_w")
    pv.put(0.75, callback=lambda pvname=None, **kw: (done.append((pvname, kw)),
                                                     finished.set()),
           callback_data={"step": 3})
    assert finished.wait(10)
    assert done == [(servers.p + "ao_w", {"step": 3})]  # dict expanded into keywords


def test_disconnect_forgets_the_pv_and_a_new_monitor_still_fires(servers):
    name = servers.p + "counter"
    pv = get_pv(name, connect=True)
    pv.disconnect()
    assert not pv.connected
    with pytest.raises(CAError, match="reconnect"):
        pv.get()
    assert pv.get(raise_on_error=False) is None
    assert get_pv(name) is not pv  # no longer in the cache
    lines = []
    fired = threading.Event()
    camonitor(name, writer=lambda line: (lines.append(line), fired.set()))
    try:
        assert fired.wait(10)
    finally:
        camonitor_clear(name)
    assert pv.reconnect() and pv.get(use_monitor=False) >= 1


def test_last_pv_of_a_name_clears_its_channel(servers):
    name = servers.p + "shortwave"
    pv = PV(name)
    pv.wait_for_connection(10)
    assert name in default_context().channels
    pv.disconnect()
    assert name not in default_context().channels  # RSS stays bounded over such loops


def test_info_poll_and_force_connect(servers):
    pv = PV(servers.p + "long")
    assert "counts" in pv.info and pv.info.startswith(f"== {servers.p}long")
    poll()
    pv.force_connect()
    assert pv.wait_for_connection(10) and pv.get() == 42


def test_device_write_state_to_a_file_name(servers, tmp_path):
    dev = Device(servers.p, attrs=("long",), timeout=10)
    path = tmp_path / "state.txt"
    dev.write_state(str(path))
    assert path.read_text() == f"{servers.p}long  42\n"


def test_motor_move_waits_for_the_move_not_the_early_put_callback(motor):
    # regression: move(wait=True) returned at once on this motor (its put callback completes
    # before it moves) and ascan recorded [4, 4, 4] for 3/3.5/4
    assert motor.move(3.0, wait=True, timeout=30) == 0
    assert motor.get_position(readback=True) == pytest.approx(3.0, abs=1e-3)
    assert motor.done_moving == 1 and motor.drive == 3.0
    result = ascan(motor, 3.0, 4.0, 3, progress=False)
    np.testing.assert_allclose(result[motor.prefix], [3.0, 3.5, 4.0], atol=1e-3)


def test_scan_rows_are_on_disk_before_a_failing_point(servers, motor, tmp_path):
    path = tmp_path / "scan.csv"
    caput(servers.p + "m1:HLM", 0.6, wait=True)
    try:
        with pytest.raises(LimitError):
            ascan(motor, 0.0, 1.0, 3, progress=False, filename=str(path))
    finally:
        caput(servers.p + "m1:HLM", 10.0, wait=True)
    rows = list(csv.reader(path.open()))
    assert rows[0] == [motor.prefix] and [float(r[0]) for r in rows[1:]] == pytest.approx(
        [0.0, 0.5], abs=1e-3)


SUBCLASS_SCRIPT = """
import socket, sys
class Patched(socket.socket):  # as test tools and green-thread libraries do
    pass
socket.socket = Patched
from iocgate.client import caget
print(caget(sys.argv[1], connection_timeout=10))
"""


def test_a_replaced_socket_class_still_connects(servers):
    proc = subprocess.run([sys.executable, "-c", SUBCLASS_SCRIPT, servers.p + "long"],
                          env=servers.child_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "42" and proc.stderr == ""
