"""caproto behind one gate: the adapter's self-check, and the server on caproto's own paths
when the check fails."""

from __future__ import annotations

import ast
import struct
from pathlib import Path

from caproto import ChannelDouble

from iocgate._compat import _caproto
from iocgate.server import Circuit, ServerCore, _fastwrite, _wire

H = struct.Struct(">HHHHII")
PRIVATE = ("caproto._", "caproto.server.server", "caproto.server.common",
           "caproto.server.records")


def test_installed_caproto_passes_the_self_check():
    assert _caproto.PROBLEM is None and _caproto.FAST_PATHS


class _Deviating(ChannelDouble):
    """A ChannelData whose private state is not as the fast paths expect."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fill_at_next_write = None


def test_self_check_names_what_differs():
    assert "_fill_at_next_write" in _caproto.self_check(_Deviating)


def _put_then_read(pvdb) -> bytes:
    circuit = Circuit(ServerCore(pvdb), ("127.0.0.1", 5))
    reply = b"".join(circuit.receive(H.pack(18, 8, 0, 0, 1, 13) + b"D\0".ljust(8, b"\0")))
    sid = H.unpack_from(reply, 16)[5]
    return b"".join(circuit.receive(
        H.pack(19, 8, 6, 1, sid, 8) + struct.pack(">d", 7.5)
        + H.pack(19, 40, 0, 1, sid, 9) + b"2.25".ljust(40, b"\0")
        + H.pack(15, 0, 20, 1, sid, 10)))


def test_without_fast_paths_the_server_takes_caprotos_paths(monkeypatch):
    fast = _put_then_read({"D": ChannelDouble(value=1.0)})
    monkeypatch.setattr(_fastwrite, "FAST_PATHS", False)
    monkeypatch.setattr(_wire, "FAST_PATHS", False)
    data = ChannelDouble(value=1.0)
    assert _fastwrite.FastWriter.create(data, lambda flags: None) is None
    assert _wire.scalar_payload(data, 6) is None
    slow = _put_then_read({"D": data})
    # same replies, apart from the timestamp of the DBR_TIME_DOUBLE read
    assert slow[:32] == fast[:32] and slow[-8:] == fast[-8:] == struct.pack(">d", 2.25)
    assert len(slow) == len(fast)


def test_server_and_ioc_layers_import_no_caproto_internals():
    """Only ``iocgate._compat._caproto`` imports caproto's private modules."""
    root = Path(_caproto.__file__).parents[1]
    for source in sorted((root / "server").glob("*.py")) + sorted((root / "ioc").glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                assert not node.module.startswith(PRIVATE), (source.name, node.module)
