"""In-memory nodes, derived nodes (read/write-only, setpoint, ramping), waiting, threads,
stop requests and control-module plugins."""

from __future__ import annotations

import threading
import time

import pytest

from iocgate import LimitError, NodeAccessError
from iocgate.nodes import ControlNode, ControlSystem, ControlThreadNode, ValueNode


def test_value_node_access_and_conversions():
    node = ValueNode(3)
    assert node.get() == 3 and node() == 3 and float(node) == 3.0 and str(node) == "3"
    node(7.9)
    assert int(node) == 7 and node.has_data()
    assert not ValueNode().has_data()
    assert node.endpoint is None


def test_bare_node_is_neither_readable_nor_writable():
    with pytest.raises(NodeAccessError):
        ControlNode().get()
    with pytest.raises(NodeAccessError):
        ControlNode().set(1)


def test_readonly_and_writeonly_views():
    node = ValueNode(1)
    assert node.readonly().get() == 1
    with pytest.raises(NodeAccessError):
        node.readonly().set(2)
    node.writeonly().set(5)
    assert node.get() == 5
    with pytest.raises(NodeAccessError):
        node.writeonly().get()


def test_setpoint_limits_refuse_before_the_device_sees_it(ctrl, psu):
    volt = ctrl.tcp("127.0.0.1", psu.port).scpi().command("VOLT", type=float)
    setpoint = volt.setpoint(limits=(0, 10))
    assert setpoint.get() is None and not setpoint.has_data()
    setpoint.set(4)
    assert setpoint.get() == 4 and volt.get() == 4.0
    sent = len(psu.received)
    with pytest.raises(LimitError):
        setpoint.set(10.5)
    with pytest.raises(LimitError):
        setpoint.set(-1)
    assert len(psu.received) == sent and setpoint.get() == 4


def test_ramping_reaches_target_and_reports_status():
    node = ValueNode(0.0)
    ramp = node.ramping(change_per_sec=20.0, interval=0.01)
    ramp.set(1.0)
    status = ramp.status()
    assert status.get() is True
    assert node.wait(lambda: not status.get(), polling_interval=0.01, timeout=2.0) is True
    assert node.get() == 1.0 and ramp.get() == 1.0
    ramp.set(-1.0)
    time.sleep(0.03)
    status.set(0)  # stop where it is
    assert status.get() is False
    assert -1.0 < node.get() < 1.0


def test_ramping_through_a_setpoint_checks_limits_first():
    node = ValueNode(0.0)
    ramp = node.setpoint(limits=(0, 5)).ramping(100.0, interval=0.01)
    with pytest.raises(LimitError):
        ramp.set(6)
    ramp.set(2)
    assert ramp.wait(lambda: not ramp.status().get(), 0.01, 2.0)
    assert node.get() == 2.0


def test_ramping_a_device(ctrl, psu):
    volt = ctrl.tcp("127.0.0.1", psu.port).scpi().command("VOLT", type=float)
    ramp = volt.ramping(50.0, interval=0.02)
    ramp.set(2.0)
    assert ramp.wait(lambda: not ramp.status().get(), 0.01, 3.0)
    assert volt.get() == 2.0
    sent = [line for line in psu.received if line.startswith("VOLT ")]
    assert 2 <= len(sent) and sent[-1] == "VOLT 2.0"


def test_wait_results_and_sleep(ctrl):
    node = ValueNode()
    threading.Timer(0.05, node.set, args=(1,)).start()
    assert node.wait(polling_interval=0.01, timeout=2.0) is True
    assert ValueNode().wait(polling_interval=0.01, timeout=0.05) is None
    assert node.sleep(0.01) is True
    threading.Timer(0.05, ControlSystem.stop).start()
    start = time.monotonic()
    assert ValueNode().wait(polling_interval=0.01) is False  # stop request ends the wait
    assert node.sleep(5) is False and time.monotonic() - start < 2.0
    ctrl.clear_stop()
    assert node.sleep(0.01) is True



def test_slowpy_wait_condition_gets_the_value_and_stop_is_asked_on_the_class(ctrl):
    # regression: wait() called its condition without the node's value, so SlowPy's
    # ``node.wait(lambda x: x > 100)`` raised TypeError; and ``ControlSystem.is_stop_requested()``
    # (the reference's loop condition, called on the class) raised TypeError
    node = ValueNode()
    seen = []
    threading.Timer(0.05, node.set, args=(7,)).start()
    assert node.wait(lambda x: seen.append(x) or x > 5, polling_interval=0.01, timeout=2.0)
    assert seen == [7]  # not polled while there was no data
    assert node.wait(lambda x: x > 100, polling_interval=0.01, timeout=0.05) is None
    flag = ValueNode(1)
    assert node.wait(flag, timeout=0.05) is True and flag.get() == 1  # a node is read, not set
    assert ControlSystem.is_stop_requested() is False
    ControlSystem.stop()
    assert ControlSystem.is_stop_requested() is True and ctrl.is_stop_requested() is True
    assert node.wait(lambda x: x > 100, polling_interval=0.01) is False
    ControlSystem.clear_stop()
    assert ControlSystem.is_stop_requested() is False

class Counter(ControlThreadNode):
    def __init__(self):
        super().__init__(None, "counter")
        self.ran = 0
        self.count = ValueNode(0)

    def run(self):
        self.ran += 1

    def loop(self):
        self.count.set(self.count.get() + 1)
        self.sleep(0.005)

    def get(self):
        return self.count.get()


def test_thread_node_start_stop_and_global_stop(ctrl):
    counter = Counter()
    counter.start()
    assert counter.wait(lambda: counter.get() >= 3, 0.005, 2.0)
    counter.stop()
    assert not counter.is_running() and counter.ran == 1
    frozen = counter.get()
    time.sleep(0.03)
    assert counter.get() == frozen
    counter.start()
    assert counter.wait(lambda: counter.ran == 2, 0.005, 2.0)
    ControlSystem.stop()  # global stop request ends every node thread
    counter._thread.join(2.0)
    assert not counter.is_running()


def test_thread_node_needs_run_or_loop():
    with pytest.raises(TypeError):
        ControlThreadNode().start()


PLUGIN = '''
from iocgate.nodes import ValueNode

def export():
    return {"dummy": lambda parent, value=0: ValueNode(value, parent, "dummy")}
'''


def test_control_module_from_search_path_and_env(ctrl, tmp_path, monkeypatch):
    (tmp_path / "control_Dummy.py").write_text(PLUGIN)
    assert ctrl.load_control_module("Dummy", search_path=[str(tmp_path)]) is ctrl
    node = ctrl.dummy(4)
    assert node.get() == 4 and node.path == "dummy"
    other = ValueNode(1)
    monkeypatch.setenv("IOCGATE_CONTROL_PATH", str(tmp_path))
    other.load_control_module("Dummy")
    assert other.dummy().path == "value dummy"
    assert not hasattr(ControlSystem(), "dummy")  # branches are per node, not global
    with pytest.raises(ModuleNotFoundError, match="control_Nope.py"):
        ctrl.load_control_module("Nope")


def test_control_module_from_entry_point(ctrl, tmp_path, monkeypatch):
    (tmp_path / "iocgate_test_plugin.py").write_text(PLUGIN)
    info = tmp_path / "iocgate_test_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: iocgate-test-plugin\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text("[iocgate.control_modules]\n"
                                           "Viaentry = iocgate_test_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    ctrl.load_control_module("Viaentry")
    assert ctrl.dummy(9).get() == 9


DATACLASS_PLUGIN = '''
from __future__ import annotations
import dataclasses
from iocgate.nodes import ValueNode

@dataclasses.dataclass
class Settings:
    gain: float = 2.0

def export():
    return {"gained": lambda parent: ValueNode(Settings().gain, parent, "gained")}
'''


def test_control_module_defining_a_dataclass(ctrl, tmp_path):
    # regression: the module was run without being in sys.modules, so a dataclass in it
    # (which looks its module up there) failed with AttributeError
    (tmp_path / "control_Dc.py").write_text(DATACLASS_PLUGIN)
    ctrl.load_control_module("Dc", search_path=[str(tmp_path)])
    assert ctrl.gained().get() == 2.0


def test_bad_control_module(ctrl, tmp_path):
    (tmp_path / "control_Bad.py").write_text("x = 1\n")
    with pytest.raises(TypeError, match="export"):
        ctrl.load_control_module("Bad", search_path=[str(tmp_path)])
    with pytest.raises(ModuleNotFoundError):
        ctrl.load_control_module("Nowhere", search_path=[str(tmp_path)])


def test_slowpy_built_in_modules_load_as_no_ops(ctrl, tmp_path, echo_sim):
    # Regression: SlowPy scripts start with ctrl.load_control_module('Ethernet'), which
    # raised ModuleNotFoundError although the branch is built in.
    for name in ("Ethernet", "Serial", "VISA", "HTTP", "Shell"):
        assert ctrl.load_control_module(name, search_path=[str(tmp_path)]) is ctrl
    node = ctrl.ethernet("127.0.0.1", echo_sim.port).lines().command(get="ECHO ok")
    assert node.get() == "ok"
    with pytest.raises(ModuleNotFoundError):  # only where that branch exists
        node.load_control_module("HTTP", search_path=[str(tmp_path)])
