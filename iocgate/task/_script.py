"""SlowTask-style scripts: load a Python file, run its ``_initialize``/``_run``/``_loop``/
``_halt``/``_finalize`` in one dedicated thread, and list its exports and commands."""

from __future__ import annotations

import importlib.util
import inspect
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List, Mapping, Optional

from ._calls import ThreadCaller, call_once, takes_arguments
from ._core import TaskCore

#: seconds a script's ``_loop`` waits after raising before it is called again (CONTINUE)
ERROR_PAUSE = 1.0
_HOOKS = ("_initialize", "_run", "_loop", "_halt", "_finalize")


@dataclass
class Export:
    """One item of ``_export()``: a node served as a PV.

    Attributes:
        name: the PV name after the prefix.
        node: the control node (``get``/``set``).
        options: from a third tuple item: ``dtype``, ``units``, ``precision``, ``limits``,
            ``doc``, ``period`` (seconds between polls; ``0``: never polled, only
            ``deliver()`` updates it).
    """

    name: str
    node: Any
    options: Dict[str, Any] = field(default_factory=dict)


def load_script(path: str) -> ModuleType:
    """Import the file at ``path`` as a module named after it (its directory goes on
    ``sys.path`` first, so it can import its neighbours).

    Raises:
        FileNotFoundError: no such file. Whatever the module raises at import.
    """
    file = Path(path).resolve()
    if not file.is_file():
        raise FileNotFoundError(f"no script {path!r}")
    name = file.stem.replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.parent))
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def exports_of(module: ModuleType) -> List[Export]:
    """What the module's ``_export()`` returns, as :class:`Export` items: a list of
    ``(name, node)`` or ``(name, node, options)`` tuples, or a ``{name: node}`` mapping.

    Raises:
        TypeError: an item of another shape or not a node, or a name used twice.
    """
    export = getattr(module, "_export", None)
    if export is None:
        return []
    items = call_once(export)
    if isinstance(items, Mapping):
        items = list(items.items())
    result: List[Export] = []
    for item in items or ():
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise TypeError(f"_export() item {item!r} is not (name, node[, options])")
        if not (callable(getattr(item[1], "get", None)) or callable(getattr(item[1], "set", None))):
            raise TypeError(f"_export() item {item[0]!r}: {item[1]!r} is not a node "
                            "(no get() or set())")
        result.append(Export(str(item[0]), item[1], dict(item[2]) if len(item) == 3 else {}))
    names = [item.name for item in result]
    if len(set(names)) != len(names):
        raise TypeError(f"_export() names a PV twice: {names}")
    return result


def commands_of(module: ModuleType) -> Dict[str, Callable[..., Any]]:
    """The module's public functions defined in the module itself (not imported ones):
    ``{name: function}``."""
    return {name: fn for name, fn in vars(module).items()
            if not name.startswith("_") and inspect.isfunction(fn)
            and fn.__module__ == module.__name__}


class ScriptTask(TaskCore):
    """The routine part of a script, in one dedicated thread: ``_initialize(params)``, then
    ``_run()`` (once) and/or ``_loop()`` (repeatedly, until stopped), then ``_finalize()``.
    A stop request calls ``_halt()`` (from another thread, as ``_run`` is still running).

    Every start repeats that sequence; ``params`` are passed each time.

    Args:
        module: the loaded script.
        params: for ``_initialize(params)``.
        on_error: :class:`~iocgate.task.OnError` for exceptions from ``_loop``.
    """

    def __init__(self, module: ModuleType, params: Optional[Mapping[str, Any]] = None,
                 on_error: Any = "continue", name: Optional[str] = None):
        super().__init__(name or module.__name__, on_error)
        self.module = module
        self.params = dict(params or {})
        self.hooks = {hook: getattr(module, hook) for hook in _HOOKS
                      if callable(getattr(module, hook, None))}

    @property
    def has_routine(self) -> bool:
        """Whether the script has anything to run (``_run`` or ``_loop``)."""
        return "_run" in self.hooks or "_loop" in self.hooks

    def _main(self) -> None:
        caller = ThreadCaller()
        try:
            self._sequence(caller)
        finally:
            caller.close()

    def _sequence(self, caller: ThreadCaller) -> None:
        hooks = self.hooks
        initialize = hooks.get("_initialize")
        if initialize is not None:
            args = (self.params,) if takes_arguments(initialize, 1) else ()
            if not self._guarded("_initialize", lambda: caller.call(initialize, *args)):
                return self._finalize(caller)
        run, loop = hooks.get("_run"), hooks.get("_loop")
        if run is not None and not self.is_stop_requested():
            if not self._guarded("_run", lambda: caller.call(run)):
                return self._finalize(caller)
        while loop is not None and not self.is_stop_requested():
            try:
                caller.call(loop)
            except Exception as exc:
                if not self._failed("_loop", exc, repeated=True):
                    break
                self.sleep(ERROR_PAUSE)
            else:
                self._count_loop()
        self._finalize(caller)

    def _finalize(self, caller: ThreadCaller) -> None:
        finalize = self.hooks.get("_finalize")
        if finalize is not None:
            self._guarded("_finalize", lambda: caller.call(finalize))

    def _on_stop_request(self) -> None:
        halt = self.hooks.get("_halt")
        if halt is None:
            return

        threading.Thread(target=self._guarded, args=("_halt", lambda: call_once(halt)),
                         name=f"halt {self.name}", daemon=True).start()

