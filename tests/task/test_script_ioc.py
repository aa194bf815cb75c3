"""``python -m iocgate.task script.py`` as a real process, driven by the EPICS C tools: exported
nodes, deliver() monitors, command PVs, errors in user code, STOP/START."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ioc._cli_process import IocProcess, monitored_values

SCRIPT = Path(__file__).with_name("script_under_test.py")


def start_script_ioc(log_dir: Path, async_lib: str) -> IocProcess:
    return IocProcess("iocgate.task", "T:STATE", log_dir,
                      [str(SCRIPT), "--prefix", "T:", "--param", "n=3", "--param", "mode=fast",
                       "--poll-period", "0.1", "--async-lib", async_lib]).start()


@pytest.fixture(scope="module")
def ioc(tmp_path_factory):
    process = start_script_ioc(tmp_path_factory.mktemp("task"), "asyncio")
    try:
        yield process
    finally:
        process.stop()


def wait_for_value(ioc: IocProcess, pv: str, expected: str) -> None:
    """camonitor ``pv`` until it shows ``expected`` (first line included)."""
    ioc.monitor([pv], done=lambda lines: expected in monitored_values(lines))


def test_bad_put_to_an_exported_node_is_refused_and_keeps_the_value(ioc):
    assert ioc.caget("T:VOLT") == "1"
    result = ioc.caput("T:VOLT", "11")
    assert result.returncode != 0
    assert ioc.caget("T:VOLT") == "1"
    assert ioc.caput("T:GAIN", "abc").returncode != 0
    assert ioc.caget("T:GAIN") == "1.5"


def test_exported_nodes_are_read_write_pvs_typed_by_their_value(ioc):
    assert ioc.caget("T:PARAMS") == "mode=fast:str,n=3:int"
    assert ioc.caput("T:GAIN", "2.5").returncode == 0
    wait_for_value(ioc, "T:GAIN", "2.5")
    assert ioc.caput("T:LABEL", "busy").returncode == 0
    wait_for_value(ioc, "T:LABEL", "busy")
    assert ioc.tool("caget", "-d", "DBR_CTRL_LONG", "T:COUNT").returncode == 0
    ctrl = ioc.ctrl("T:VOLT")
    assert ctrl["Units"] == "V"
    assert (float(ctrl["Lo ctrl limit"]), float(ctrl["Hi ctrl limit"])) == (0.0, 10.0)
    assert ioc.caput("T:VOLT", "7.5").returncode == 0
    assert ioc.caget("T:VOLT") == "7.5"


def test_deliver_posts_a_monitor_at_once(ioc):
    # COUNT is never polled (period 0): only the script's deliver() updates it
    lines = ioc.monitor(["T:COUNT"], done=lambda lines: len(set(monitored_values(lines))) >= 4)
    values = [int(value) for value in monitored_values(lines)]
    assert values == sorted(values) and len(set(values)) >= 4


def test_a_command_put_calls_the_function_with_converted_arguments(ioc):
    assert ioc.caput("T:add", "2 3.5").returncode == 0  # completes when add() returned
    assert ioc.caget("T:add_RESULT") == "5.5"
    assert ioc.caget("T:add_STATUS") == "Done"
    assert ioc.caput("T:add", "b=4, 1").returncode == 0
    assert ioc.caget("T:add_RESULT") == "5.0"
    assert ioc.caput("T:greet", "world").returncode == 0
    assert ioc.caget("T:greet_RESULT") == "hello world"
    assert ioc.caput("T:accumulate", "3").returncode == 0
    assert ioc.caget("T:TOTAL") == "3"  # polled every 600 s, but read when accumulate() returned


def test_a_command_with_bad_arguments_is_refused_and_not_called(ioc):
    assert ioc.caput("T:add", "two").returncode != 0
    assert ioc.caput("T:add", "1 2 3").returncode != 0
    assert ioc.caget("T:add_STATUS") in ("Idle", "Done")


def test_a_raising_command_fails_the_put_and_leaves_the_ioc_up(ioc):
    result = ioc.caput("T:boom", "1")
    assert result.returncode != 0
    assert ioc.caget("T:boom_STATUS") == "Error"
    assert "ValueError: boom in a command" in ioc.caget("T:boom_RESULT")
    assert "boom in a command" in ioc.caget("T:LAST_ERROR", "-S")
    assert "Traceback" in ioc.log() and "boom in a command" in ioc.log()
    assert ioc.caget("T:STATE") == "Running"


def test_a_busy_command_refuses_a_second_call(ioc):
    first = ioc.caput("T:nap", "1.5", completion=False)
    assert first.returncode == 0
    wait_for_value(ioc, "T:nap_STATUS", "Running")
    assert ioc.caput("T:nap", "0").returncode != 0
    wait_for_value(ioc, "T:nap_STATUS", "Done")
    assert ioc.caget("T:nap_RESULT") == "rested"


def test_an_exception_in_loop_alarms_and_the_task_continues(ioc):
    assert ioc.caput("T:FAIL", "On").returncode == 0
    ioc.monitor(["T:STATE"], done=lambda lines: "MINOR" in lines[-1])
    state = ioc.tool("caget", "-a", "T:STATE").stdout
    assert "Running" in state and "STATE" in state and "MINOR" in state, state
    assert "_loop: RuntimeError: asked to fail" in ioc.caget("T:LAST_ERROR", "-S")
    assert ioc.caput("T:FAIL", "Off").returncode == 0
    ioc.monitor(["T:STATE"], done=lambda lines: "MINOR" not in lines[-1])
    assert "RuntimeError: asked to fail" in ioc.log()


def test_stop_and_start_from_pvs(ioc):
    assert ioc.caget("T:STATE") == "Running"
    assert ioc.caput("T:STOP", "1").returncode == 0  # completes once the task has ended
    assert ioc.caget("T:STATE") == "Stopped"
    count = int(ioc.caget("T:LOOP_COUNT"))
    assert int(ioc.caget("T:LOOP_COUNT")) == count  # not looping any more
    heartbeat = int(ioc.caget("T:HEARTBEAT"))
    ioc.monitor(["T:HEARTBEAT"], done=lambda lines: int(lines[-1].split()[-1]) > heartbeat)
    assert ioc.caput("T:START", "1").returncode == 0
    assert ioc.caget("T:STATE") == "Running"
    ioc.monitor(["T:LOOP_COUNT"], done=lambda lines: len(lines) >= 3)


def test_pyepics_sees_units_states_and_calls_commands(ioc):
    found = ioc.pyepics(
        "volt = epics.PV('T:VOLT'); fail = epics.PV('T:FAIL')\n"
        "ok = epics.caput('T:add', '20 22', wait=True, timeout=10)\n"
        "print(json.dumps([volt.units, volt.upper_ctrl_limit, fail.enum_strs,\n"
        "                  epics.caget('T:STATE', as_string=True), ok,\n"
        "                  epics.caget('T:add_RESULT')]))")
    assert found == ["V", 10.0, ["Off", "On"], "Running", 1, "42.0"]
