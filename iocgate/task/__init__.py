"""Tasks served as PVs: SlowTask-style scripts and QMI-style loop tasks.

* ``python -m iocgate.task script.py --prefix X: --param key=value`` serves a script: its
  ``_export()`` nodes as ``X:<name>``, its public functions as command PVs ``X:<func>``
  (with ``_RESULT`` and ``_STATUS``), and the task PVs ``X:STATE``, ``START``, ``STOP``,
  ``LOOP_COUNT``, ``LAST_ERROR``, ``HEARTBEAT``.
* :class:`LoopTask` runs ``loop_iteration()`` every ``loop_period`` s with a missed-loop
  policy (:class:`~iocgate.MissedScans`); :func:`loop_task_ioc` serves its settings and
  status; :func:`serve_groups` / :func:`run_task_ioc` serve several tasks (and
  DeviceGroups) in one IOC.

Example::

    from dataclasses import dataclass
    from iocgate.task import LoopTask, loop_task_ioc, serve_groups

    @dataclass
    class Gain:
        gain: float = 2.0

    class Doubler(LoopTask):
        loop_period = 0.5
        def loop_iteration(self):
            print(self.settings.gain * self.loop_count)

    serve_groups([loop_task_ioc(Doubler(settings=Gain()), "DBL:")])
"""

from ..ioc._scanner import MissedScans
from ._core import OnError, TaskState
from ._exports import CommandStatus, ScriptPVs, loop_task_ioc, parse_arguments, script_ioc
from ._loop import LoopTask
from ._pvs import LoopTaskPVs, TaskPVs
from ._run import main, open_device, run_task_ioc, serve_groups
from ._schedule import Schedule
from ._script import ScriptTask, load_script

__all__ = ["CommandStatus", "LoopTask", "LoopTaskPVs", "MissedScans", "OnError", "Schedule",
           "ScriptPVs", "ScriptTask", "TaskPVs", "TaskState", "load_script", "loop_task_ioc",
           "main", "open_device", "parse_arguments", "run_task_ioc", "script_ioc", "serve_groups"]
