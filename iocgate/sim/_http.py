"""An HTTP/1.1 instrument simulator (a device's web API), with the faults and the backdoor of
:class:`~iocgate.sim.LineSimulator`.

The request framing is sans-I/O: :func:`take_request` takes bytes and returns one request and
the leftover bytes (or ``None``: need more), :func:`format_response` makes the reply's bytes.
:class:`HttpSimulator` serves an ``app(request) -> HttpResponse`` function over TCP with them,
keeping connections alive unless the client asks to close (HTTP/1.0, ``Connection: close``).

Under the faults a web device misbehaves as web devices do: ``garbage`` answers
``200 OK`` with a body that is not JSON, ``withhold`` reads the request and never answers,
``delay`` answers late, ``refuse``/``drop_connections`` close connections.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._lines import LineSimulator

__all__ = ["HttpRequest", "HttpResponse", "HttpSimulator", "RequestError", "error_response",
           "format_response", "json_response", "take_request"]

#: bytes of request line plus headers accepted before the request is refused (431)
MAX_HEAD = 16384
#: bytes of request body accepted (413 beyond)
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class HttpRequest:
    """One parsed request.

    Attributes:
        method: upper case (``"GET"``).
        path: the target without query string (``"/api/outlets/3"``).
        query: the query string after ``?`` (``""`` if none).
        version: ``"HTTP/1.1"`` or ``"HTTP/1.0"``.
        headers: lower-case names to values (a repeated header keeps the last value).
        body: the body bytes (``Content-Length`` of them).
    """

    method: str
    path: str
    query: str = ""
    version: str = "HTTP/1.1"
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def wants_close(self) -> bool:
        """The client asked to close the connection after this request."""
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        return "close" in tokens or (self.version == "HTTP/1.0" and "keep-alive" not in tokens)

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValueError: the body is not JSON (``json.JSONDecodeError``) or not UTF-8.
        """
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class HttpResponse:
    """A response: ``status`` code, ``body`` bytes and their ``content_type``."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


class RequestError(ValueError):
    """A request that cannot be parsed; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def take_request(buffer: bytes) -> Optional[Tuple[HttpRequest, bytes]]:
    """The first complete request in ``buffer`` and the bytes after it.

    Returns:
        ``(request, rest)``, or ``None`` if the request is not complete yet.

    Raises:
        RequestError: malformed request line or header, a body without ``Content-Length``
            (chunked) or with a bad one, a head over :data:`MAX_HEAD` or a body over
            :data:`MAX_BODY` bytes.
    """
    buffer = buffer.lstrip(b"\r\n")  # RFC 9112 2.2: ignore empty lines before a request
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise RequestError(431, "request head too long")
        return None
    head, rest = buffer[:end].decode("latin-1"), buffer[end + 4:]
    request_line, *header_lines = head.split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise RequestError(400, f"bad request line {request_line!r}")
    method, target, version = parts
    headers: Dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise RequestError(400, f"bad header line {line!r}")
        headers[name.lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise RequestError(411, "a body needs Content-Length (chunked is not supported)")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise RequestError(400, f"bad Content-Length {length_text!r}")
    length = int(length_text)
    if length > MAX_BODY:
        raise RequestError(413, f"body of {length} bytes is too large")
    if len(rest) < length:
        return None
    path, _, query = target.partition("?")
    return HttpRequest(method, path, query, version, headers, rest[:length]), rest[length:]


def format_response(response: HttpResponse, close: bool = False) -> bytes:
    """The bytes of ``response`` as HTTP/1.1, with ``Content-Length`` (and
    ``Connection: close`` if ``close``)."""
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {response.status} {reason}", f"Content-Type: {response.content_type}",
             f"Content-Length: {len(response.body)}", "Server: iocgate-sim"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


def json_response(document: Any, status: int = 200) -> HttpResponse:
    """``document`` as a JSON response."""
    return HttpResponse(status, json.dumps(document).encode("utf-8"))


def error_response(status: int, message: str) -> HttpResponse:
    """A JSON error document ``{"error": message}`` with ``status``."""
    return json_response({"error": message}, status)


class HttpSimulator(LineSimulator):
    """Serve ``app`` as a web API over TCP (:meth:`start_tcp`; a pty makes no sense here).

    Args:
        app: ``request -> HttpResponse``; called one request at a time (no locking needed).
            An exception in it answers ``500`` with its message.
        name: for thread names and logs.

    A malformed request is answered with its 4xx status and the connection closed.
    """

    def __init__(self, app: Callable[[HttpRequest], HttpResponse], name: str = "http"):
        # requests travel as latin-1 text through the line machinery: a lossless byte mapping
        super().__init__(self._answer_request, terminator="\n", encoding="latin-1", name=name)
        self.app = app

    def _answer_request(self, frame: str) -> Tuple[HttpResponse, bool]:
        try:
            taken = take_request(frame.encode("latin-1"))
        except RequestError as exc:
            return error_response(exc.status, str(exc)), True
        if taken is None:  # cannot happen: _split passes complete requests only
            return error_response(400, "incomplete request"), True
        request = taken[0]
        try:
            return self.app(request), request.wants_close
        except Exception as exc:  # an app bug answers 500, as a web server's would
            return error_response(500, f"{type(exc).__name__}: {exc}"), request.wants_close

    def _split(self, buffer: bytes) -> Tuple[List[bytes], bytes]:
        """Complete requests (each whole, head and body), and the incomplete rest; a
        malformed request is passed on whole (it is answered with its 4xx status)."""
        requests = []
        while buffer.strip(b"\r\n"):
            try:
                taken = take_request(buffer)
            except RequestError:
                return requests + [buffer], b""
            if taken is None:
                break
            request, rest = taken
            requests.append(buffer[:len(buffer) - len(rest)])
            buffer = rest
        return requests, buffer

    def _encode(self, reply: Any) -> bytes:
        """``(response, close)`` as bytes; under the garbage fault (``reply`` is bytes) a
        ``200 OK`` whose body is those bytes, which no JSON parser accepts."""
        if isinstance(reply, bytes):
            return format_response(HttpResponse(200, reply))
        response, close = reply
        return format_response(response, close)

    def _answer(self, link: Any, line: str) -> bool:
        if not super()._answer(link, line):
            return False
        if self.faults.withhold:  # nothing was answered: the client is left waiting
            return True
        try:
            taken = take_request(line.encode("latin-1"))
        except RequestError:
            return False  # answered with 4xx: close
        return not (taken is not None and taken[0].wants_close)
