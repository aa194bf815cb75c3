"""Layer rules, checked on the source: the protocol layer does no I/O, a lower layer never
imports a higher one, and only the async shim imports an event-loop library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import iocgate

PACKAGE = Path(iocgate.__file__).parent
IO_LIBRARIES = {"socket", "select", "selectors", "serial", "pyvisa", "threading", "subprocess",
                "urllib", "http", "asyncio", "trio", "curio", "concurrent"}
LOOP_LIBRARIES = {"asyncio", "trio", "curio"}


def imported(package: str) -> dict:
    """{module file: set of imported top-level names / relative targets} for a subpackage."""
    found = {}
    for file in sorted((PACKAGE / package).glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    names.add("." * node.level + (node.module or ""))
                else:
                    names.add(node.module.split(".")[0])
        found[file.name] = names
    assert found, package
    return found


def test_protocol_imports_no_io_library():
    for file, names in imported("protocol").items():
        assert not names & IO_LIBRARIES, (file, names & IO_LIBRARIES)
        assert all(not n.startswith("..") for n in names), (file, names)


@pytest.mark.parametrize("package, higher", [
    ("transports", ("..nodes",)), ("_compat", ("..nodes", "..transports", "..protocol")),
])
def test_lower_layers_do_not_import_higher_ones(package, higher):
    for file, names in imported(package).items():
        assert not any(n.startswith(h) for n in names for h in higher), (file, names)


@pytest.mark.parametrize("package", ["protocol", "transports", "nodes"])
def test_only_the_shim_imports_event_loop_libraries(package):
    for file, names in imported(package).items():
        assert not names & LOOP_LIBRARIES, (file, names & LOOP_LIBRARIES)
