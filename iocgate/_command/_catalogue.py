"""The IOCs of the ``iocs`` package, found by looking (no table to keep up to date)."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import sys
from dataclasses import dataclass
from typing import List, Optional

from caproto.server import PVGroup


@dataclass(frozen=True)
class Entry:
    """One IOC of the catalogue.

    Attributes:
        name: what ``iocgate run`` takes (``power_supply``; ``module:Class`` when a module
            holds several IOCs).
        ioc_class: the PVGroup class, or None when its module failed to import.
        description: the first line of the class docstring (or the import error).
        prefix: its default PV prefix.
    """

    name: str
    ioc_class: Optional[type]
    description: str
    prefix: str


def ioc_classes(module: object) -> List[type]:
    """The IOC classes a module defines: its own public PVGroups that no other of them uses
    as a SubGroup."""
    name = getattr(module, "__name__", "")
    groups = [value for key, value in vars(module).items()
              if inspect.isclass(value) and issubclass(value, PVGroup)
              and value.__module__ == name and not key.startswith("_")]
    parts = {sub.group_cls for group in groups
             for sub in getattr(group, "_subgroups_", {}).values()}
    return [group for group in groups if group not in parts]


def catalogue(package: str = "iocs") -> List[Entry]:
    """Every IOC in ``package``'s modules, by module name."""
    root = importlib.import_module(package)
    entries = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda info: info.name):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{package}.{info.name}")
        except Exception as exc:  # one broken IOC must not hide the others
            entries.append(Entry(info.name, None, f"(cannot import: {exc})", ""))
            continue
        classes = ioc_classes(module)
        for cls in classes:
            name = info.name if len(classes) == 1 else f"{package}.{info.name}:{cls.__name__}"
            doc = (inspect.getdoc(cls) or "").strip().splitlines()
            entries.append(Entry(name, cls, doc[0] if doc else "", cls.default_prefix))
    return entries


def resolve(target: str, package: str = "iocs") -> type:
    """The IOC class for ``power_supply``, ``iocs.power_supply`` or ``module:Class`` (whose
    module may also be in the current directory).

    Raises:
        LookupError: with a one-line reason (no such module or class, or several classes).
    """
    module_name, _, class_name = target.partition(":")
    if class_name:  # my_ioc:MyIOC from the current directory, as ``python -m`` finds it
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
    elif "." not in module_name:
        module_name = f"{package}.{module_name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise LookupError(f"no IOC {target!r}: no module {module_name} "
                              "(`iocgate list` shows the IOCs)") from None
        raise
    if class_name:
        cls = getattr(module, class_name, None)
        if not (inspect.isclass(cls) and issubclass(cls, PVGroup)):
            raise LookupError(f"{module_name} has no PVGroup class {class_name}")
        return cls
    classes = ioc_classes(module)
    if len(classes) != 1:
        names = ", ".join(f"{module_name}:{cls.__name__}" for cls in classes) or "none"
        raise LookupError(f"{module_name} holds {len(classes)} IOC classes; name one: {names}")
    return classes[0]
