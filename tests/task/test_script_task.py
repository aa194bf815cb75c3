"""Script tasks in-process: the call sequence, _run/_halt, failures in set-up, exports and
argument parsing."""

from __future__ import annotations

import textwrap

import pytest

from iocgate.task import ScriptTask, TaskState, load_script, parse_arguments, script_ioc
from iocgate.task._run import main


def write_script(tmp_path, body: str, name: str = "user_script"):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return load_script(str(path))


RUN_HALT = """
    import threading
    calls = []
    running = threading.Event()
    halted = threading.Event()

    def _initialize(params):
        calls.append(("initialize", params))

    async def _run():
        calls.append("run")
        running.set()
        halted.wait(30)

    def _halt():
        calls.append("halt")
        halted.set()

    def _finalize():
        calls.append("finalize")
"""


def test_run_is_ended_by_halt_then_finalize(tmp_path):
    module = write_script(tmp_path, RUN_HALT)
    task = ScriptTask(module, {"speed": 2})
    task.start()
    task.start()  # a second start while running changes nothing
    assert module.running.wait(10)
    assert task.stop(10)
    assert module.calls == [("initialize", {"speed": 2}), "run", "halt", "finalize"]
    assert task.state is TaskState.Stopped and task.last_error == ""
    module.halted.clear()
    module.running.clear()
    task.start()  # a restart runs the whole sequence again
    assert module.running.wait(10)
    assert task.stop(10)
    assert module.calls[4:] == [("initialize", {"speed": 2}), "run", "halt", "finalize"]


def test_a_failing_initialize_ends_in_error_and_still_finalizes(tmp_path):
    module = write_script(tmp_path, """
        calls = []
        def _initialize(params):
            raise KeyError("missing parameter")
        def _loop():
            calls.append("loop")
        def _finalize():
            calls.append("finalize")
    """)
    task = ScriptTask(module, on_error="continue")
    task.start()
    assert task.join(10)
    assert task.state is TaskState.Error and module.calls == ["finalize"]
    assert task.last_error == "_initialize: KeyError: 'missing parameter'"


def test_loop_error_with_stop_policy_ends_the_task(tmp_path):
    module = write_script(tmp_path, """
        def _loop():
            raise ZeroDivisionError("bad math")
    """)
    task = ScriptTask(module, on_error="stop")
    task.start()
    assert task.join(10)
    assert task.state is TaskState.Error and task.loop_count == 0
    assert "ZeroDivisionError: bad math" in task.last_error


def test_malformed_exports_and_name_clashes_are_named(tmp_path):
    module = write_script(tmp_path, """
        from iocgate.nodes import ValueNode
        def _export():
            return [("A", ValueNode(1)), ("A", ValueNode(2))]
    """, "twice")
    with pytest.raises(TypeError, match="twice"):
        script_ioc(module, "X:")
    module = write_script(tmp_path, """
        from iocgate.nodes import ValueNode
        def _export():
            return {"go": ValueNode(1)}
        def go():
            pass
    """, "clash")
    with pytest.raises(TypeError, match="both exported and functions"):
        script_ioc(module, "X:")
    module = write_script(tmp_path, """
        def _export():
            return [("N", 3)]
    """, "not_a_node")
    with pytest.raises(TypeError, match="'N': 3 is not a node"):
        script_ioc(module, "X:")


@pytest.mark.parametrize("body, expected", [
    ("def _initialize(params:\n", ["broken.py\", line 1", "SyntaxError"]),
    ("def _export():\n    raise KeyError('lost')\n",
     ["broken.py\", line 2, in _export", "KeyError: 'lost'"]),
])
def test_a_script_that_cannot_be_served_is_a_clear_error_in_its_own_lines(tmp_path, body,
                                                                          expected):
    script = tmp_path / "broken.py"
    script.write_text(body)
    with pytest.raises(SystemExit) as raised:
        main([str(script), "--prefix", "X:"])
    message = str(raised.value.code)
    assert message.startswith(f"error: cannot serve {script}")
    assert all(text in message for text in expected), message
    assert "iocgate" not in message  # the user's lines only
    with pytest.raises(SystemExit, match="no script"):
        main([str(tmp_path / "missing.py")])


def test_exports_take_type_units_limits_and_doc(tmp_path):
    module = write_script(tmp_path, """
        from iocgate.nodes import ValueNode
        from iocgate.nodes import ControlSystem
        flag = ValueNode(True)
        table = ValueNode({"a": [1, 2]})
        ro = ValueNode(3).readonly()
        sp = ValueNode(0.0).setpoint(limits=(-1, 1))
        def _export():
            return [("FLAG", flag), ("TABLE", table), ("RO", ro),
                    ("SP", sp, {"units": "mm", "doc": "A setpoint"})]
    """, "kinds")
    group = script_ioc(module, "K:", autostart=False)
    pvs = {channel.pvname: channel for channel in group.pvdb.values()}
    assert pvs["K:FLAG"].value == "On" and pvs["K:FLAG"].enum_strings == ("Off", "On")
    assert pvs["K:TABLE"].value == '{"a": [1, 2]}'
    assert pvs["K:RO"].value == 3 and type(group).export_2.pvspec.read_only
    assert pvs["K:SP"].units == "mm"
    assert (pvs["K:SP"].lower_ctrl_limit, pvs["K:SP"].upper_ctrl_limit) == (-1, 1)
    assert type(group).export_3.pvspec.doc == "A setpoint"


def test_arguments_are_parsed_by_the_signature():
    def move(x: float, y: float = 0.0, fast: bool = False, label: str = ""):
        pass

    assert parse_arguments(move, "1, 2") == ([1.0, 2.0], {})
    assert parse_arguments(move, "3 fast=on label='a b'") == ([3.0], {"fast": True,
                                                                       "label": "a b"})
    for bad in ("", "x", "1 2 3 4 5", "1 fast=maybe", "1 'unclosed"):
        with pytest.raises(ValueError, match="move()"):
            parse_arguments(move, bad)

    def untyped(a, b):
        pass

    assert parse_arguments(untyped, "7 seven") == ([7, "seven"], {})
    assert parse_arguments(lambda: None, "ignored") == ([], {})
