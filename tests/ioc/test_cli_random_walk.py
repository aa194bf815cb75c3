"""``python -m iocs.random_walk`` (no device) on asyncio, curio and trio, driven by the EPICS
C tools and pyepics; one IOC process per async library."""

from __future__ import annotations

import pytest

from iocs.random_walk import RandomWalkIOC

from ._cli_process import (
    ASYNC_LIBS,
    SIMULATOR_NOTICE,
    assert_logged_pv_list,
    ioc_processes,
    monitored_values,
)


@pytest.fixture(scope="module", params=ASYNC_LIBS)
def rw(request, tmp_path_factory):
    yield from ioc_processes("iocs.random_walk", "RW:X", request.param, tmp_path_factory)


def test_x_walks(rw):
    assert rw.caput("RW:DT", "0.05").returncode == 0
    lines = rw.monitor(["RW:X"], done=lambda lines: len(set(monitored_values(lines))) >= 3)
    assert len(set(monitored_values(lines))) >= 3
    assert SIMULATOR_NOTICE not in rw.log()  # no device, no simulator
    assert_logged_pv_list(rw, RandomWalkIOC)


@pytest.mark.parametrize("value", ["0", "0.001", "3600.5", "-1"])
def test_step_period_outside_its_limits_is_refused(rw, value):
    old = rw.caget("RW:DT")
    result = rw.caput("RW:DT", value)
    assert result.returncode == 1 and "write request failed" in result.stderr
    assert rw.caget("RW:DT") == old


def test_x_is_read_only(rw):
    result = rw.caput("RW:X", "5")
    assert result.returncode == 1
    info = rw.tool("cainfo", "RW:X").stdout
    assert "Access:           read, no write" in info


def test_pyepics_agrees_with_caget(rw):
    seen = rw.pyepics(
        "dt = epics.PV('RW:DT'); assert dt.wait_for_connection(10)\n"
        "ctrl = dt.get_ctrlvars(timeout=10)\n"
        "print(json.dumps(dict(\n"
        "    put=epics.caput('RW:STEP', 0.5, wait=True, timeout=10),\n"
        "    step=epics.caget('RW:STEP', timeout=10, use_monitor=False),\n"
        "    dt_before=epics.caget('RW:DT', as_string=True, timeout=10, use_monitor=False),\n"
        "    refused=epics.caput('RW:DT', 0, wait=True, timeout=10),\n"
        "    dt_text=epics.caget('RW:DT', as_string=True, timeout=10, use_monitor=False),\n"
        "    units=ctrl['units'], precision=ctrl['precision'],\n"
        "    limits=[ctrl['lower_ctrl_limit'], ctrl['upper_ctrl_limit']])))\n")
    assert seen["put"] == 1 and seen["step"] == 0.5, seen
    assert seen["dt_text"] == seen["dt_before"]  # pyepics' caput returns 1 even so
    assert float(rw.caget("RW:STEP")) == 0.5
    ctrl = rw.ctrl("RW:DT")
    assert seen["units"] == ctrl["Units"] == "s"
    assert seen["precision"] == int(ctrl["Precision"]) == 3
    assert seen["limits"] == [0.01, 3600.0]
    assert float(seen["dt_text"]) == float(rw.caget("RW:DT")), seen
    assert len(seen["dt_text"].split(".")[1]) == 3
