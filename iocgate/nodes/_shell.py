"""Shell-command nodes: ``shell(*cmd)``; ``get()`` runs it, ``set(v)`` runs it with ``v``."""

from __future__ import annotations

import subprocess
from typing import Any, Callable, Sequence

from .._errors import DeviceDisconnected, DeviceRejected, DeviceTimeout
from ..protocol import format_value
from ..transports import DEFAULT_REPLY_TIMEOUT, Endpoint
from ._base import ControlNode
from ._value import ConvertNode


class ShellNode(ControlNode):
    """A program and its arguments (no shell is involved: arguments are passed as is).

    Calls to one program are serialised by its endpoint; async callers run it on the
    endpoint's worker thread, so their loop never blocks.

    Args:
        argv: program and arguments.
        timeout: seconds the program may run; it is killed after that.

    Raises (from ``get``/``set``):
        DeviceTimeout: the program ran longer than ``timeout`` (it was killed).
        DeviceRejected: non-zero exit status (stderr in the message).
        DeviceDisconnected: the program cannot be started (not found, not executable).
    """

    def __init__(self, parent: ControlNode | None, endpoint: Endpoint, argv: Sequence[str],
                 timeout: float | None = DEFAULT_REPLY_TIMEOUT):
        super().__init__(parent, " ".join(argv))
        self._endpoint = endpoint
        self.argv = [str(arg) for arg in argv]
        self.timeout = timeout

    @property
    def path(self) -> str:
        return f"shell://{self.name}"

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    def arg(self, *args: Any) -> ShellNode:
        """A node running this command with ``args`` appended."""
        return ShellNode(self.parent, self._endpoint, self.argv + [str(a) for a in args],
                         self.timeout)

    def get(self) -> str:
        """Run the command; return its standard output without the trailing newline."""
        return self._endpoint.run(self._execute, self.argv)

    def set(self, value: Any) -> str:
        """Run the command with ``value`` as last argument; return its output."""
        return self._endpoint.run(self._execute, self.argv + [format_value(value)])

    def value(self, type: Any = str, parse: Callable[[str], Any] | None = None
              ) -> ConvertNode:
        """The output converted to ``type`` (or by ``parse``)."""
        return ConvertNode(self, type, parse)

    def _execute(self, argv: list) -> str:
        command = " ".join(argv)
        try:
            done = subprocess.run(argv, capture_output=True, timeout=self.timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DeviceTimeout("command still running", timeout=self.timeout,
                                endpoint=self.path, command=command) from exc
        except OSError as exc:
            raise DeviceDisconnected(f"cannot start: {exc}", endpoint=self.path,
                                     command=command) from exc
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip()
            raise DeviceRejected(f"exit status {done.returncode}: {err}", endpoint=self.path,
                                 command=command)
        return done.stdout.decode(errors="replace").rstrip("\r\n")


__all__ = ["ShellNode"]
