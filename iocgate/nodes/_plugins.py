"""Control modules (plugins) that add branches to a node.

A control module is a Python module named ``control_<name>.py`` found on a search path, or an
entry point named ``<name>`` in the group ``iocgate.control_modules``. It defines::

    def export() -> dict:   # {method name: factory(parent_node, *args, **kwargs) -> ControlNode}

After ``node.load_control_module(name)``, ``node.<method name>(...)`` returns the branch.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
import types
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from ._base import ControlNode

ENTRY_POINT_GROUP = "iocgate.control_modules"
#: SlowPy's names of branches that are built in here (``load_control_module("Ethernet")``).
_BUILT_IN = {"ethernet", "tcp", "serial", "visa", "http", "shell"}
#: Environment variable with extra search directories (``os.pathsep``-separated).
PATH_VARIABLE = "IOCGATE_CONTROL_PATH"


def _search_dirs(extra: Iterable[str] | None) -> list:
    dirs = list(extra or [])
    dirs += [d for d in os.environ.get(PATH_VARIABLE, "").split(os.pathsep) if d]
    dirs.append(os.getcwd())
    return [Path(d) for d in dirs]


def _entry_point(name: str) -> ModuleType | None:
    try:
        found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except TypeError:  # Python 3.9: entry_points() takes no arguments
        found = importlib.metadata.entry_points().get(ENTRY_POINT_GROUP, [])
    for entry in found:
        if entry.name == name:
            loaded = entry.load()
            return loaded if isinstance(loaded, ModuleType) else sys.modules[loaded.__module__]
    return None


def find_control_module(name: str, search_path: Iterable[str] | None = None) -> ModuleType:
    """Import the control module ``name``: first ``control_<name>.py`` in ``search_path``,
    ``$IOCGATE_CONTROL_PATH`` and the current directory, then the entry point.

    Raises:
        ModuleNotFoundError: found nowhere.
    """
    key = f"iocgate.control_modules.{name}"
    for directory in _search_dirs(search_path):
        file = directory / f"control_{name}.py"
        if file.is_file():
            spec = importlib.util.spec_from_file_location(key, file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module  # as an import does: dataclasses, typing look it up
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[key]
                raise
            return module
    module = _entry_point(name)
    if module is None:
        raise ModuleNotFoundError(f"no control module {name!r}: no control_{name}.py in "
                                  f"{[str(d) for d in _search_dirs(search_path)]} and no entry "
                                  f"point in {ENTRY_POINT_GROUP!r}")
    return module


def load_control_module(node: ControlNode, name: str,
                        search_path: Iterable[str] | None = None) -> ControlNode:
    """Add the branches exported by control module ``name`` to ``node`` (this instance only).

    SlowPy's built-in modules (``"Ethernet"``, ``"Serial"``, ``"VISA"``, ``"HTTP"``,
    ``"Shell"``) are accepted as no-ops on a node that already has that branch, unless a
    control module of that name is found.

    Returns:
        ``node``, so loads can be chained.

    Raises:
        ModuleNotFoundError: no such module.
        TypeError: the module has no ``export()`` returning a mapping of callables.
    """
    try:
        module = find_control_module(name, search_path)
    except ModuleNotFoundError:
        if name.lower() in _BUILT_IN and callable(getattr(node, name.lower(), None)):
            return node  # SlowPy scripts load the built-in branches explicitly: a no-op
        raise
    export = getattr(module, "export", None)
    if not callable(export):
        raise TypeError(f"control module {name!r} defines no export()")
    for method, factory in dict(export()).items():
        if not callable(factory):
            raise TypeError(f"control module {name!r}: export()[{method!r}] is not callable")
        setattr(node, method, types.MethodType(factory, node))
    return node


__all__ = ["ENTRY_POINT_GROUP", "PATH_VARIABLE", "find_control_module", "load_control_module"]
