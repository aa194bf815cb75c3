"""End to end with real clients: the EPICS C tools and pyepics (in a child process)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

from iocgate.testing import epics_tool


def tool(server, name, *args, timeout=10.0):
    """Run an EPICS C tool against ``server``; returns stdout, asserting exit code 0."""
    done = subprocess.run([str(epics_tool(name)), *args], env=server.env, timeout=timeout,
                          capture_output=True, text=True)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def test_caget_ctrl_double(server):
    tool(server, "caput", "-c", "-w", "2", server.pv("DOUBLE"), "2.5")
    out = tool(server, "caget", "-d", "DBR_CTRL_DOUBLE", server.pv("DOUBLE"))
    fields = dict(line.strip().split(":", 1) for line in out.splitlines()[1:] if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert float(fields["Value"]) == 2.5
    assert fields["Units"] == "mm" and fields["Precision"] == "3"
    assert float(fields["Hi ctrl limit"]) == 10 and float(fields["Lo alarm limit"]) == -8


def test_caput_callback_and_caget_terse(server):
    out = tool(server, "caput", "-c", "-w", "2", "-t", server.pv("LONG"), "77")
    assert out.strip().endswith("77")
    assert tool(server, "caget", "-t", server.pv("LONG")).strip() == "77"
    tool(server, "caput", "-c", "-w", "2", server.pv("ENUM"), "Fault")
    assert tool(server, "caget", "-t", server.pv("ENUM")).strip() == "Fault"
    assert tool(server, "caget", "-t", "-n", server.pv("ENUM")).strip() == "2"
    tool(server, "caput", "-c", "-w", "2", "-a", server.pv("DYN"), "3", "7", "8", "9")
    assert tool(server, "caget", "-t", "-#", "3", server.pv("DYN")).split() == \
        ["3", "7", "8", "9"]


@pytest.mark.servers("iocgate", "caproto")
def test_caput_rejected_by_putter(server):
    done = subprocess.run([str(epics_tool("caput")), "-c", "-w", "2", server.pv("REJECT"),
                           "-5"], env=server.env, timeout=10, capture_output=True, text=True)
    assert done.returncode != 0 or "rror" in done.stdout + done.stderr
    assert float(tool(server, "caget", "-t", server.pv("REJECT")).strip()) == 0.0


def test_cainfo(server):
    out = tool(server, "cainfo", server.pv("WF10"))
    assert re.search(r"Native data type: +DBF_DOUBLE", out), out
    assert re.search(r"Element count: +10\n", out), out
    assert re.search(r"Access: +read, write", out), out


def test_camonitor_sees_puts(server):
    monitor = subprocess.Popen([str(epics_tool("camonitor")), "-t", "n", server.pv("LONG")],
                               env=server.env, stdout=subprocess.PIPE, text=True)
    try:
        first = monitor.stdout.readline()
        assert server.pv("LONG") in first
        for value in (101, 102, 103):
            tool(server, "caput", "-c", "-w", "2", server.pv("LONG"), str(value))
        lines = [monitor.stdout.readline().split()[-1] for _ in range(3)]
        assert lines == ["101", "102", "103"]
    finally:
        monitor.kill()
        monitor.wait(5)
        monitor.stdout.close()


def test_caget_many_names(server):
    names = [server.pv(s) for s in ("DOUBLE", "LONG", "ENUM", "STRING", "WF10", "DYN")] * 50
    out = tool(server, "caget", "-t", "-#", "1", *names)
    assert len(out.splitlines()) == len(names)


PYEPICS_SCRIPT = textwrap.dedent("""
    import sys, threading, epics
    prefix = sys.argv[1]
    pv = epics.PV(prefix + "DOUBLE", form="ctrl")
    assert pv.wait_for_connection(5), "no connection"
    assert pv.put(1.0, wait=True, timeout=5)
    seen = threading.Event()
    pv.add_callback(lambda value, **kw: value == 4.5 and seen.set())
    assert pv.put(4.5, wait=True, timeout=5)
    assert epics.caget(prefix + "DOUBLE", timeout=5) == 4.5
    ctrl = pv.get_ctrlvars(timeout=5)
    assert ctrl["units"] == "mm" and ctrl["precision"] == 3, ctrl
    assert seen.wait(5), "no monitor update for the put"
    wf = epics.caget(prefix + "WF10", timeout=5)
    assert list(wf) == list(range(10)), wf
    assert epics.caget(prefix + "ENUM", as_string=True, timeout=5) in ("Off", "On", "Fault")
    big = epics.caget(prefix + "WF1M", count=1000000, timeout=10)
    assert len(big) == 1000000, len(big)
    print("OK")
""")


def test_pyepics_in_a_child_process(server):
    done = subprocess.run([sys.executable, "-c", PYEPICS_SCRIPT, server.prefix], env=server.env,
                          timeout=60, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), done.stderr[-2000:]
