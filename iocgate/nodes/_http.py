"""HTTP (web API) nodes: ``http(base_url).path(p)`` for text, ``.json()`` and ``.value(key)``."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from typing import Any, Callable

from .._errors import DeviceDisconnected, DeviceProtocolError, DeviceRejected, DeviceTimeout
from ..transports import DEFAULT_REPLY_TIMEOUT, Endpoint
from ._base import ControlNode
from ._value import ConvertNode


class HttpNode(ControlNode):
    """A web server at ``base_url``; requests go one at a time through its endpoint.

    Args:
        timeout: seconds for connecting plus the whole reply.
        proxy: URL of an HTTP proxy to go through. ``None`` (default) connects directly and
            ignores ``http_proxy``/``https_proxy`` in the environment: instruments sit on
            the local network, and a site proxy in the environment is meant for the internet.
    """

    def __init__(self, parent: ControlNode | None, endpoint: Endpoint, base_url: str,
                 timeout: float | None = DEFAULT_REPLY_TIMEOUT, proxy: str | None = None):
        super().__init__(parent, base_url)
        self._endpoint = endpoint
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.proxy = proxy
        proxies = {} if proxy is None else {"http": proxy, "https": proxy}
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))

    @property
    def path(self) -> _PathText:
        """The base URL (a ``str``); calling it, ``http.path("/api/x")``, gives the resource
        node for that path, as in SlowPy."""
        return _PathText(self.name, self)

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "text/plain") -> bytes:
        """Send one request and return the response body.

        Raises:
            DeviceDisconnected: the server cannot be reached (refused, reset).
            DeviceTimeout: no complete response within :attr:`timeout` s.
            DeviceRejected: an HTTP error status (4xx, 5xx); the status is in the message.
            DeviceProtocolError: the reply is not HTTP, or its body was cut short.
        """
        return self._endpoint.run(self._request, method, path, body, content_type)

    def _request(self, method: str, path: str, body: bytes | None, content_type: str
                 ) -> bytes:
        url = self.base_url + path
        request = urllib.request.Request(url, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", content_type)
        command = f"{method} {path}"
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise DeviceRejected(f"HTTP {exc.code} {exc.reason}", endpoint=self.name,
                                 command=command) from exc
        except (socket.timeout, TimeoutError) as exc:
            raise DeviceTimeout("no response", timeout=self.timeout, endpoint=self.name,
                                command=command) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                raise DeviceTimeout("no response", timeout=self.timeout, endpoint=self.name,
                                    command=command) from exc
            raise DeviceDisconnected(f"cannot reach server: {exc.reason}", endpoint=self.name,
                                     command=command) from exc
        except (ConnectionError, OSError) as exc:
            raise DeviceDisconnected(f"connection failed: {exc}", endpoint=self.name,
                                     command=command) from exc
        except http.client.HTTPException as exc:  # rubbish for a status line, a cut body
            raise DeviceProtocolError(f"not an HTTP response ({type(exc).__name__})",
                                      raw=exc.args[0] if exc.args else None,
                                      endpoint=self.name,
                                      command=command) from exc


class _PathText(str):
    """A node path that, called with a URL path, returns :class:`HttpPathNode`."""

    def __new__(cls, text: str, http: HttpNode) -> _PathText:
        obj = super().__new__(cls, text)
        obj.http = http
        return obj

    def __call__(self, path: str) -> HttpPathNode:
        return HttpPathNode(self.http, path)


class HttpPathNode(ControlNode):
    """A resource: ``get()`` is GET returning text, ``set(text)`` is POST."""

    def __init__(self, http: HttpNode, path: str):
        super().__init__(http, path)
        self.http = http
        self.url_path = path if path.startswith("/") else "/" + path

    def get(self) -> str:
        return self.http.request("GET", self.url_path).decode("utf-8", errors="replace")

    def set(self, value: Any) -> str:
        body = value if isinstance(value, bytes) else str(value).encode("utf-8")
        return self.http.request("POST", self.url_path, body).decode("utf-8", errors="replace")

    def value(self, type: Any = str, parse: Callable[[str], Any] | None = None
              ) -> ConvertNode:
        """The body converted to ``type`` (or by ``parse``), e.g. for ``ramping()``;
        ``set(v)`` POSTs ``v``."""
        return ConvertNode(self, type, parse)

    def json(self, method: str = "PUT") -> HttpJsonNode:
        """The resource as JSON; ``set`` sends with ``method`` (PUT by default)."""
        return HttpJsonNode(self, method)


class HttpJsonNode(ControlNode):
    """A JSON document: ``get()`` parses it, ``set(obj)`` sends ``obj`` as JSON.

    Raises:
        DeviceProtocolError: the body is not JSON (raw body in the message).
    """

    def __init__(self, resource: HttpPathNode, method: str = "PUT"):
        super().__init__(resource, "json")
        self.resource = resource
        self.method = method

    def get(self) -> Any:
        raw = self.resource.http.request("GET", self.resource.url_path)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise DeviceProtocolError("not JSON", raw=raw, endpoint=self.resource.http.name,
                                      command=f"GET {self.resource.url_path}") from exc

    def set(self, value: Any) -> None:
        body = json.dumps(value).encode("utf-8")
        self.resource.http.request(self.method, self.resource.url_path, body,
                                   "application/json")

    def value(self, key: str) -> HttpJsonValueNode:
        """One member of the document: ``get()`` returns ``doc[key]``, ``set(v)`` sends
        ``{key: v}``."""
        return HttpJsonValueNode(self, key)


class HttpJsonValueNode(ControlNode):
    """``doc[key]`` of an :class:`HttpJsonNode`.

    Raises:
        DeviceProtocolError: the document is not an object holding ``key``.
    """

    def __init__(self, document: HttpJsonNode, key: str):
        super().__init__(document, key)
        self.document = document
        self.key = key

    def get(self) -> Any:
        doc = self.document.get()
        try:
            return doc[self.key]
        except (KeyError, TypeError, IndexError) as exc:
            raise DeviceProtocolError(f"no member {self.key!r}", raw=doc,
                                      endpoint=self.document.resource.http.name) from exc

    def set(self, value: Any) -> None:
        self.document.set({self.key: value})


__all__ = ["HttpJsonNode", "HttpJsonValueNode", "HttpNode", "HttpPathNode"]
