"""Workarounds for caproto 1.3's clients (threading and asyncio), kept in one place.

:func:`patch_circuit` wraps a circuit's ``recv`` for two of them (:func:`patch_context`
does it for every circuit a threading context opens):

* caproto servers answer a put whose handler raised with an ``ErrorResponse``
  (ECA_PUTFAIL) instead of a ``WriteNotifyResponse``; caproto's clients drop it, so a
  waiting put would only time out. Such a reply becomes a failed ``WriteNotifyResponse`` for
  the pending request, so the server's status reaches the caller.
* caproto's parser copies the unparsed rest of its buffer after every command, so one large
  read holding thousands of small replies costs quadratic time (seconds for 10,000 replies).
  Received bytes are fed to it in slices of :data:`PARSE_CHUNK` bytes.

The threading client's sockets are non-blocking (its selector thread reads them), yet it
sends with ``sendall``: a request larger than the free socket buffer (a big waveform put)
raised ``BlockingIOError`` after a partial send and left the circuit's byte stream corrupt.
:func:`patch_context` makes each circuit manager send everything, waiting for the socket to
drain, one request at a time.

:class:`BatchReads` issues many reads without a thread hand-off per reply (``caget_many``).
"""

from __future__ import annotations

import select
import socket
import threading
import time
import weakref
from collections import defaultdict
from typing import Any, Dict, List, Optional

import caproto as ca

_MARK = "_iocgate_patched"
#: Bytes handed to caproto's parser at once (bounds its per-command copy).
PARSE_CHUNK = 16384


def patch_circuit(circuit_manager: Any) -> None:
    """Install the ``recv`` workarounds on ``circuit_manager``'s circuit (once per circuit)."""
    circuit = circuit_manager.circuit
    if getattr(circuit, _MARK, False):
        return
    recv = circuit.recv

    def recv_patched(*buffers: Any) -> Any:
        data = b"".join(buffers)  # empty still means "disconnected" to caproto
        if len(data) <= PARSE_CHUNK:
            commands, needed = recv(data)
        else:
            commands = []
            for start in range(0, len(data), PARSE_CHUNK):
                parsed, needed = recv(data[start:start + PARSE_CHUNK])
                commands.extend(parsed)
        return [_translate(circuit_manager, c) for c in commands], needed

    circuit.recv = recv_patched
    setattr(circuit, _MARK, True)


def patch_context(context: Any) -> None:
    """Make a caproto threading ``Context`` patch every circuit it opens, before the replies
    to its channel creations arrive (once per context)."""
    if getattr(context, _MARK, False):
        return
    get_circuit_manager = context.get_circuit_manager

    def get_patched(address: Any, priority: Any) -> Any:
        circuit_manager = get_circuit_manager(address, priority)
        patch_circuit(circuit_manager)
        _patch_send(circuit_manager)
        return circuit_manager

    context.get_circuit_manager = get_patched
    setattr(context, _MARK, True)


class _DrainingSocket(socket.socket):
    """A non-blocking client socket whose ``sendall`` waits for room instead of raising
    ``BlockingIOError`` mid-request; concurrent senders take turns (one lock per socket)."""

    __slots__ = ()

    def sendall(self, data: Any, flags: int = 0) -> None:
        view = memoryview(data).cast("B")
        with _send_locks.setdefault(self, threading.Lock()):
            while view:
                try:
                    view = view[self.send(view, flags):]
                except BlockingIOError:
                    if self.fileno() < 0:  # closed by the circuit's teardown
                        raise OSError("circuit closed while sending") from None
                    select.select([], [self], [], 1.0)


_send_locks: weakref.WeakKeyDictionary[socket.socket, threading.Lock] = (
    weakref.WeakKeyDictionary())


def _patch_send(circuit_manager: Any) -> None:
    """Give a threading circuit manager's socket the draining ``sendall`` (same object, so
    caproto's selector still knows it)."""
    sock = circuit_manager.socket
    if sock is not None and type(sock) is socket.socket:
        sock.__class__ = _DrainingSocket


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


class BatchReads:
    """Reads of many channels, sent in one buffer per circuit, replies kept in place.

    caproto's ``Batch`` hands every reply to its callback executor (a Future, a queue and a
    thread switch per reply, which dominated ``caget_many``). Registering this object as the
    reply ``event`` instead, as a waiting ``PV.read`` does with a ``threading.Event``, makes
    the circuit's thread store each reply in its ``ioid_info`` and just count it here.

    Use: :meth:`read` per channel (:meth:`flush` to send what is queued so far), then
    :meth:`close` and :meth:`wait`; each info dict holds ``"response"`` once answered. A dead
    circuit releases its pending reads (no ``"response"``), so :meth:`wait` never hangs on it.

    Args:
        timeout: seconds, from :meth:`close`, after which replies are ignored (``None`` = no
            limit).
    """

    def __init__(self, timeout: Optional[float]):
        self._timeout = timeout
        self._infos: List[Dict[str, Any]] = []
        self._queued: Dict[Any, List[Any]] = defaultdict(list)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._issued = 0
        self._answered = 0
        self._closed = False

    def read(self, chan: Any, data_type: Any) -> Dict[str, Any]:
        """Queue a ReadNotify of ``chan`` (a connected caproto threading ``PV``); its info."""
        manager = chan.circuit_manager
        ioid = manager._ioid_counter()
        command = chan.channel.read(ioid=ioid, data_type=data_type, notify=True)
        info = dict(event=self, pv=chan, request=command, deadline=None)
        manager.ioids[ioid] = info
        self._queued[manager].append(command)
        self._infos.append(info)
        with self._lock:
            self._issued += 1
        return info

    def flush(self) -> None:
        """Send the queued reads (one buffer per circuit); a failed send leaves them
        unanswered."""
        queued, self._queued = self._queued, defaultdict(list)
        for manager, commands in queued.items():
            try:
                manager.send(*commands)
            except (ca.CaprotoError, OSError):
                pass

    def close(self) -> None:
        """Send what is queued and start the reply deadline; after this, :meth:`wait` returns
        once all reads are settled."""
        if self._timeout is not None:
            deadline = time.monotonic() + self._timeout
            for info in self._infos:
                info["deadline"] = deadline
        self.flush()
        with self._lock:
            self._closed = True
            if self._answered >= self._issued:
                self._done.set()

    def set(self) -> None:
        """Called by caproto's circuit thread per reply (or per pending read of a dead
        circuit)."""
        with self._lock:
            self._answered += 1
            if self._closed and self._answered >= self._issued:
                self._done.set()

    def wait(self, timeout: Optional[float]) -> bool:
        """Block until every read is answered (or its circuit died); ``False`` on timeout."""
        return self._done.wait(timeout)
