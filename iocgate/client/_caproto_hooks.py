"""A workaround for caproto's clients (threading and asyncio), kept in one place.

caproto servers answer a put whose handler raised with an ``ErrorResponse`` (ECA_PUTFAIL)
instead of a ``WriteNotifyResponse``; caproto 1.3's clients drop it, so a waiting put would
only time out. :func:`watch_error_responses` turns such a reply into a failed
``WriteNotifyResponse`` for the pending request, so the server's status reaches the caller.
"""

from __future__ import annotations

from typing import Any

import caproto as ca

_MARK = "_iocgate_error_hook"


def watch_error_responses(circuit_manager: Any) -> None:
    """Install the translation on ``circuit_manager``'s circuit (once per circuit)."""
    circuit = circuit_manager.circuit
    if getattr(circuit, _MARK, False):
        return
    recv = circuit.recv

    def recv_translating(*buffers: Any) -> Any:
        commands, needed = recv(*buffers)
        return [_translate(circuit_manager, c) for c in commands], needed

    circuit.recv = recv_translating
    setattr(circuit, _MARK, True)


def _translate(circuit_manager: Any, command: Any) -> Any:
    if not isinstance(command, ca.ErrorResponse):
        return command
    request = command.original_request
    ioid = request.parameter2
    info = circuit_manager.ioids.get(ioid)
    if info is None or not isinstance(info.get("request"), ca.WriteNotifyRequest):
        return command
    original = info["request"]
    return ca.WriteNotifyResponse(data_type=original.data_type, data_count=original.data_count,
                                  status=command.status, ioid=ioid)
