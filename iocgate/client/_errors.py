"""Exceptions raised by :mod:`iocgate.client`, and the opt-in for pyepics' return-``None`` style.

::

    IocgateError
    └── CAError                      a Channel Access operation failed; carries ``pvname``
        ├── CATimeoutError           (also TimeoutError) no connection or no answer in time
        └── CAPutError               the server refused a put; carries the ECA ``status`` code
"""

from __future__ import annotations

from typing import Optional

from .._errors import IocgateError


class CAError(IocgateError):
    """A Channel Access operation on ``pvname`` failed."""

    def __init__(self, message: str, *, pvname: str = ""):
        self.pvname = pvname
        super().__init__(f"{pvname}: {message}" if pvname else message)


class CATimeoutError(CAError, TimeoutError):
    """``pvname`` did not connect, or did not answer a request, within ``timeout`` seconds."""

    def __init__(self, pvname: str, timeout: Optional[float], what: str = "connect"):
        self.timeout = timeout
        self.what = what
        super().__init__(f"did not {what} {limit_text(timeout)}", pvname=pvname)


def limit_text(timeout: Optional[float]) -> str:
    """``'within 2 s'``, or ``'without a limit'`` for ``None``."""
    return "without a limit" if timeout is None else f"within {timeout:g} s"


class CAPutError(CAError):
    """The server refused a put to ``pvname``.

    Attributes:
        status: the ECA status code (e.g. 160 for ECA_PUTFAIL), or ``None`` when the refusal was
            decided by the client (no write access, value not valid for the channel).
        status_name: the ECA name, e.g. ``"ECA_PUTFAIL"`` or ``"ECA_NOWTACCESS"``.
    """

    def __init__(self, pvname: str, message: str, *, status: Optional[int] = None,
                 status_name: str = ""):
        self.status = status
        self.status_name = status_name
        code = f" [{status_name} ({status})]" if status is not None else (
            f" [{status_name}]" if status_name else "")
        super().__init__(f"put refused: {message}{code}", pvname=pvname)


class _Settings:
    """Module-wide switches (``iocgate.client.settings``).

    Attributes:
        raise_on_error: ``True`` (default) raises :class:`CAError` subclasses; ``False`` keeps
            pyepics' behaviour for old scripts: failed ``get``/``caget`` return ``None`` and failed
            ``put``/``caput`` return ``None``, with a warning logged.
    """

    def __init__(self) -> None:
        self.raise_on_error = True


settings = _Settings()


def should_raise(raise_on_error: Optional[bool]) -> bool:
    """Resolve a per-call ``raise_on_error`` (``None`` = use :data:`settings`)."""
    return settings.raise_on_error if raise_on_error is None else bool(raise_on_error)
