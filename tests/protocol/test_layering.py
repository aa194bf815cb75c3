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


# Rank of every subpackage (and top-level module): a module may import only from strictly
# lower ranks, never sideways or upwards. A new subpackage must be placed here.
RANKS = {
    "_errors": 0,
    "_compat": 1, "protocol": 1,
    "transports": 2, "security": 2, "sim": 2,
    "nodes": 3, "server": 3, "client": 3,
    "ioc": 4,
    "task": 5, "testing": 5,
    "_command": 6,
}


def _layer_of(module_file: Path) -> str:
    parts = module_file.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else module_file.stem


def _imported_layers(module_file: Path) -> set:
    """The iocgate layers (first component under iocgate) that ``module_file`` imports."""
    layer = _layer_of(module_file)
    package_depth = len(module_file.relative_to(PACKAGE).parts) - 1
    found = set()
    for node in ast.walk(ast.parse(module_file.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            up = node.level - 1  # 1 dot: this package
            if up < package_depth:
                continue  # inside the same layer
            target = (node.module or "").split(".")[0]
            found.add(target or layer)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""]
            found.update(n.split(".")[1] for n in names
                         if n.startswith("iocgate.") and n.count(".") >= 1)
    found.discard(layer)
    return found


def test_every_layer_has_a_rank():
    layers = {_layer_of(f) for f in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert layers <= set(RANKS), f"place {sorted(layers - set(RANKS))} in RANKS"


def test_layers_import_only_lower_ranks():
    wrong = []
    for module_file in sorted(PACKAGE.rglob("*.py")):
        layer = _layer_of(module_file)
        if layer not in RANKS:
            continue
        for target in _imported_layers(module_file):
            if target in RANKS and RANKS[target] >= RANKS[layer]:
                wrong.append(f"{module_file.relative_to(PACKAGE)} imports {target}")
    assert not wrong, wrong


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
