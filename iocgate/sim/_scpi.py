"""A small SCPI interpreter (:class:`ScpiAdapter`) and its line server (:class:`ScpiServer`).

The adapter is sans-I/O: :meth:`ScpiAdapter.handle_line` takes one program message (a line)
and returns the response message or ``None``. It implements the IEEE 488.2 common commands a
driver needs, the SCPI error queue, short/long mnemonic matching, ``;``-chained commands with
SCPI's relative header paths, and binding of duck-typed nodes (anything with ``get()`` and/or
``set(value)``) to headers.

Error codes pushed to the queue (SCPI-99 standard numbers):
-102 syntax error, -104 data type error, -108 parameter not allowed, -109 missing parameter,
-113 undefined header, -200 execution error, -222 data out of range, -224 illegal parameter
value, -350 queue overflow.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from typing import Any, Callable, Deque, List, Optional, Sequence, Tuple

from ..protocol._scpi import header_nodes
from ._lines import LineSimulator

__all__ = ["ScpiAdapter", "ScpiServer", "header_matches", "split_message"]

_QUEUE_SIZE = 20
_HEADER = re.compile(r"^:?\*?[A-Za-z][A-Za-z0-9_]*(:[A-Za-z][A-Za-z0-9_]*)*\??$")
_MESSAGES = {
    -102: "Syntax error", -104: "Data type error", -108: "Parameter not allowed",
    -109: "Missing parameter", -113: "Undefined header", -200: "Execution error",
    -222: "Data out of range", -224: "Illegal parameter value", -350: "Queue overflow",
}


def split_message(line: str, sep: str) -> List[str]:
    """Split ``line`` on ``sep`` outside single or double quotes; parts are stripped."""
    parts, current, quote = [], [], ""
    for char in line:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == sep:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def header_matches(path: Sequence[str], pattern: str) -> bool:
    """Whether a parsed header ``path`` (e.g. ``["MEAS", "VOLT?"]``) matches ``pattern``.

    ``pattern`` uses SCPI notation: upper-case letters are the short form, the whole word the
    long form (``"MEASure:VOLTage?"``), ``[...]`` marks optional nodes. Matching is
    case-insensitive; a query matches only a pattern ending in ``?`` and vice versa.
    """
    if not path or path[-1].endswith("?") != pattern.endswith("?"):
        return False
    words = [w.upper().rstrip("?") for w in path]
    nodes = header_nodes(pattern)

    def match(i: int, j: int) -> bool:
        if j == len(nodes):
            return i == len(words)
        short, long, optional = nodes[j]
        if i < len(words) and words[i] in (short, long) and match(i + 1, j + 1):
            return True
        return optional and match(i, j + 1)

    return match(0, 0)


class ScpiAdapter:
    """SCPI interpreter; subclass and override :meth:`do_command` (and :meth:`reset`).

    Args:
        idn: the ``*IDN?`` reply, e.g. ``"maker,model,serial,firmware"``.

    Built in: ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``*OPC``, ``*WAI``, ``*ESR?``,
    ``*STB?``, ``SYSTem:ERRor[:NEXT]?`` and the headers given to :meth:`bind_nodes`.
    """

    def __init__(self, idn: str):
        self.idn = idn
        self._errors: Deque[Tuple[int, str]] = deque()
        self._bindings: List[Tuple[str, Any, Callable[[str], Any]]] = []
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- to override
    def do_command(self, cmd_path: List[str], params: List[str]) -> Optional[str]:
        """Execute a device-specific command.

        Args:
            cmd_path: the header split at ``:`` as sent (case kept, last element ends in
                ``?`` for a query), e.g. ``["MEAS", "VOLT?"]``. Use :func:`header_matches`.
            params: the parameters split at ``,``, stripped, quotes kept.

        Returns:
            The reply text (``""`` for a command with nothing to say), or ``None`` if the
            header is not recognised (the adapter then pushes -113). Push errors for bad
            parameters with :meth:`push_error` and return ``""``.
        """
        return None

    def reset(self) -> None:
        """Called by ``*RST``: put the device in its power-on state (default: nothing)."""

    # ----------------------------------------------------------------- public API
    def push_error(self, code: int, text: str = "") -> None:
        """Append ``code, "text"`` to the error queue (oldest first, 20 deep; on overflow the
        newest entry becomes -350). ``text`` defaults to the standard message for ``code``."""
        text = text or _MESSAGES.get(code, "Device-specific error")
        with self._lock:
            if len(self._errors) >= _QUEUE_SIZE:
                self._errors[-1] = (-350, _MESSAGES[-350])
            else:
                self._errors.append((code, text))

    def pop_error(self) -> Tuple[int, str]:
        """Remove and return the oldest error, ``(0, "No error")`` if the queue is empty."""
        with self._lock:
            return self._errors.popleft() if self._errors else (0, "No error")

    @property
    def errors(self) -> List[Tuple[int, str]]:
        """A snapshot of the error queue, oldest first (not emptied)."""
        with self._lock:
            return list(self._errors)

    def bind_nodes(self, bindings: Sequence[Tuple[Any, ...]]) -> None:
        """Serve headers from node objects.

        Args:
            bindings: ``(scpi_name, node)`` or ``(scpi_name, node, convert)`` entries.
                ``scpi_name`` is in SCPI notation without ``?`` (``"MEASure:V0"``). A query
                ``NAME?`` replies ``str(node.get())``; ``NAME value`` calls
                ``node.set(convert(value))`` with surrounding quotes removed from ``value``.
                ``convert`` defaults to int, else float, else the string. A missing
                ``get``/``set`` makes that form an undefined header (-113); a ``ValueError``
                from the node gives -222, a ``TypeError`` -104, any other exception -200.
        """
        with self._lock:
            for name, node, *convert in bindings:
                self._bindings.append((name, node, convert[0] if convert else _auto_value))

    def handle_line(self, line: str) -> Optional[Any]:
        """Execute one program message; return the response message or ``None``.

        A command may reply with ``bytes`` (an IEEE 488.2 block); the message is then bytes.

        Commands separated by ``;`` run in order. A header without a leading ``:`` or ``*``
        after the first is relative to the previous header's parent node (SCPI rule); if it is
        unknown there it is tried from the root. Non-empty replies are joined with ``;``; a
        query that failed (error queued) contributes nothing, like a real instrument.
        """
        replies: List[Any] = []
        parent: List[str] = []
        with self._lock:
            for unit in split_message(line, ";"):
                if not unit:
                    continue
                reply, parent = self._execute_unit(unit, parent)
                if reply is not None:
                    replies.append(reply)
        if not replies:
            return None
        if any(isinstance(reply, bytes) for reply in replies):  # a binary block among them
            return b";".join(r if isinstance(r, bytes) else r.encode("ascii") for r in replies)
        return ";".join(replies)

    # ----------------------------------------------------------------- internals
    def _execute_unit(self, unit: str, parent: List[str]) -> Tuple[Optional[str], List[str]]:
        header, *more = unit.split(None, 1)
        rest = more[0] if more else ""
        if not _HEADER.match(header):
            self.push_error(-102, f"Syntax error; {header}")
            return None, parent
        params = split_message(rest, ",") if rest.strip() else []
        absolute = header.startswith((":", "*"))
        path = header.lstrip(":").split(":")
        candidates = [path] if absolute or not parent else [parent + path, path]
        for candidate in candidates:
            reply = self._dispatch(candidate, params)
            if reply is not None:  # common (*) commands leave the path where it was
                return (reply or None), parent if header.startswith("*") else candidate[:-1]
        self.push_error(-113, f"Undefined header; {header}")
        return None, parent

    def _dispatch(self, path: List[str], params: List[str]) -> Optional[str]:
        builtin = self._builtin(path, params)
        if builtin is not None:
            return builtin
        bound = self._bound(path, params)
        if bound is not None:
            return bound
        return self.do_command(path, params)

    def _builtin(self, path: List[str], params: List[str]) -> Optional[str]:
        head = path[0].upper() if len(path) == 1 else ""
        if head in ("*IDN?", "*OPC?", "*ESR?", "*STB?"):
            return {"*IDN?": self.idn, "*OPC?": "1"}.get(head, "0")
        if head in ("*OPC", "*WAI"):
            return ""
        if head == "*CLS":
            with self._lock:
                self._errors.clear()
            return ""
        if head == "*RST":
            self.reset()
            return ""
        if header_matches(path, "SYSTem:ERRor[:NEXT]?"):
            code, text = self.pop_error()
            return f'{code},"{text}"'
        return None

    def _bound(self, path: List[str], params: List[str]) -> Optional[str]:
        query = path[-1].endswith("?")
        found = next((b for b in self._bindings
                      if header_matches(path, b[0] + ("?" if query else ""))), None)
        if found is None:
            return None
        _, node, convert = found
        method = getattr(node, "get" if query else "set", None)
        if method is None:
            return None
        if len(params) != (0 if query else 1):
            self.push_error(-109 if not params else -108)
            return ""
        if query:
            return self._guarded(lambda: str(method()))

        def write() -> str:
            method(convert(_unquote(params[0])))
            return ""

        return self._guarded(write)

    def _guarded(self, action: Callable[[], str]) -> str:
        try:
            return action()
        except ValueError as exc:
            self.push_error(-222, f"Data out of range; {exc}")
        except TypeError as exc:
            self.push_error(-104, f"Data type error; {exc}")
        except Exception as exc:  # a node failure must not kill the server
            self.push_error(-200, f"Execution error; {exc}")
        return ""


def _auto_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


class ScpiServer(LineSimulator):
    """An :class:`ScpiAdapter` served by a :class:`~iocgate.sim.LineSimulator`.

    Args:
        adapter: the interpreter.
        port: TCP port for :meth:`start` (0 = ephemeral).
        host: address to bind.
        terminator: line terminator (SCPI over raw sockets uses ``"\\n"``).
        name: for thread names and logs.

    Everything of :class:`LineSimulator` is available: :attr:`faults`, :attr:`received`,
    :meth:`start_pty`, :meth:`restart`, use as a context manager.
    """

    def __init__(self, adapter: ScpiAdapter, port: int = 0, host: str = "127.0.0.1",
                 terminator: str = "\n", name: str = "scpi"):
        super().__init__(adapter.handle_line, terminator=terminator, name=name)
        self.adapter = adapter
        self._want = (host, port)

    def start(self) -> int:
        """Serve TCP on the configured host and port; return the bound port."""
        return self.start_tcp(self._want[1], self._want[0])
