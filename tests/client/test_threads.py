"""Threads: CA calls made from inside callbacks, and process exit with live monitors."""

from __future__ import annotations

import subprocess
import sys
import threading

from iocgate.client import PV


def test_callback_can_read_and_write_pvs_it_never_used(servers):
    # regression: a PV created inside a value callback never connected: its connection and
    # metadata callbacks were queued on caproto's callback thread, behind the running callback
    results = []
    done = threading.Event()

    def on_count(value=None, cb_info=None, **_):
        index, counter = cb_info
        counter.remove_callback(index)
        try:
            reader = PV(servers.p + "long", connection_timeout=3.0)
            writer = PV(servers.p + "ao_w", connection_timeout=3.0)
            results.append((reader.get(), reader.units, reader.timestamp is not None,
                            writer.put(0.5, wait=True, timeout=3.0), writer.get()))
        except Exception as exc:  # reported by the assertion below
            results.append(exc)
        done.set()

    counter = PV(servers.p + "counter")
    counter.add_callback(on_count)
    assert done.wait(15)
    assert results == [(42, "counts", True, 1, 0.5)]


EXIT_SCRIPT = """
from iocgate.client import PV, caget, camonitor
import threading, sys
seen = threading.Event()
camonitor(sys.argv[1], writer=lambda line: seen.set())
pv = PV(sys.argv[2], callback=lambda **kw: None)
pv.wait_for_connection(10)
assert caget(sys.argv[3], connection_timeout=0.2, raise_on_error=False) is None
assert seen.wait(10)
print("leaving with live monitors", flush=True)
"""


def test_exit_with_live_monitors_prints_no_traceback(servers):
    # regression: caproto's weak references to the PVs' methods (here of a PV that never
    # connected) fired during interpreter shutdown ("Exception ignored ... '_alive'")
    args = [servers.p + "counter", servers.p + "ao", servers.p + "no_such_pv"]
    proc = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, *args], env=servers.child_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "leaving with live monitors" in proc.stdout
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
