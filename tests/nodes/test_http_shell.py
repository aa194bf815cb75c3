"""HTTP nodes against a real http.server on loopback; shell nodes running real programs."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from iocgate import DeviceDisconnected, DeviceProtocolError, DeviceRejected, DeviceTimeout
from iocgate.testing import free_port


class Api(BaseHTTPRequestHandler):
    """``/api/x``: a JSON document (GET, PUT merges); ``/text``: text (POST replaces);
    ``/slow``: answers after 1 s; ``/bad``: not JSON; anything else: 404."""

    doc = {"key": 1.5, "name": "psu"}
    text = "hello"

    def _send(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except ConnectionError:  # the client gave up (timeout test)
            pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/slow":
            time.sleep(1.0)
        pages = {"/api/x": json.dumps(self.server.doc).encode(), "/text": self.server.text
                 .encode(), "/slow": b"{}", "/bad": b"<html>"}
        if self.path in pages:
            self._send(pages[self.path])
        else:
            self._send(b"no", 404)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers["Content-Length"]))

    def do_PUT(self) -> None:  # noqa: N802
        self.server.doc.update(json.loads(self._body()))
        self._send(b"")

    def do_POST(self) -> None:  # noqa: N802
        self.server.text = self._body().decode()
        self._send(b"posted")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def web():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.doc = dict(Api.doc)
    server.text = Api.text
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_json_value_and_text(ctrl, web):
    server, url = web
    http = ctrl.http(url)
    assert http.path == url
    value = http.path("/api/x").json().value("key")
    assert value.get() == 1.5
    value.set(2.5)
    assert server.doc["key"] == 2.5 and value() == 2.5
    assert http.path("/api/x").json().get() == {"key": 2.5, "name": "psu"}
    text = http.path("/text")
    assert text.get() == "hello"
    assert text.set("changed") == "posted"
    assert text.get() == "changed"
    assert value.endpoint is text.endpoint and value.endpoint.name == url


def test_http_path_value_converts_the_body(ctrl, web):
    # Regression: SlowPy's http(url).path(p).value() was missing (AttributeError).
    server, url = web
    server.text = "4.5"
    number = ctrl.http(url).path("/text").value(type=float)
    assert number.get() == 4.5 and float(number) == 4.5
    number.set(6)
    assert server.text == "6" and number.get() == 6.0
    ramp = number.setpoint(limits=(0, 10)).ramping(1000.0, interval=0.01)
    ramp.set(7)
    assert ramp.status().get() or number.get() == 7.0
    assert number.wait(lambda: number.get() == 7.0, polling_interval=0.01, timeout=5.0)
    server.text = "abc"
    with pytest.raises(DeviceProtocolError, match="abc"):
        number.get()


def test_http_failures(ctrl, web):
    server, url = web
    http = ctrl.http(url, timeout=0.3)
    with pytest.raises(DeviceRejected, match="404"):
        http.path("/missing").get()
    with pytest.raises(DeviceProtocolError, match="html"):
        http.path("/bad").json().get()
    with pytest.raises(DeviceProtocolError, match="missing"):
        http.path("/api/x").json().value("missing").get()
    start = time.monotonic()
    with pytest.raises(DeviceTimeout):
        http.path("/slow").get()
    assert time.monotonic() - start < 0.9
    server.shutdown()
    server.server_close()
    with pytest.raises(DeviceDisconnected):
        http.path("/text").get()
    assert not http.endpoint.connected


def test_http_server_answering_rubbish_is_a_protocol_error(ctrl):
    from iocgate.sim import LineSimulator

    with LineSimulator(lambda line: "\x15#!?garbage", terminator="\r\n") as rubbish:
        http = ctrl.http(f"http://127.0.0.1:{rubbish.start_tcp()}", timeout=2.0)
        with pytest.raises(DeviceProtocolError, match="not an HTTP response"):
            http.path("/api/x").json().get()


def test_shell_get_set_arg_value(ctrl):
    assert ctrl.shell("echo", "hello").get() == "hello"
    assert ctrl.shell("echo", "hello").arg("x").get() == "hello x"
    assert ctrl.shell("echo").set(2.5) == "2.5"
    adc = ctrl.shell(sys.executable, "-c", "print(1.25)").value(type=float)
    assert adc.get() == 1.25
    assert ctrl.shell("echo", "a").path == "shell://echo a"


def test_shell_failures(ctrl, tmp_path):
    with pytest.raises(DeviceRejected, match="exit status 3: oops"):
        ctrl.shell(sys.executable, "-c",
                   "import sys; sys.stderr.write('oops'); sys.exit(3)").get()
    with pytest.raises(DeviceDisconnected, match="cannot start"):
        ctrl.shell(str(tmp_path / "no-such-program")).get()
    start = time.monotonic()
    with pytest.raises(DeviceTimeout):
        ctrl.shell("sleep", "5", timeout=0.2).get()
    assert time.monotonic() - start < 2.0
    with pytest.raises(DeviceProtocolError):
        ctrl.shell("echo", "abc").value(type=float).get()


def test_http_goes_direct_unless_given_a_proxy(ctrl, web, monkeypatch):
    server, url = web
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert ctrl.http(url).path("/text").get() == "hello"  # the environment's proxy is ignored
    with pytest.raises(DeviceDisconnected, match="cannot reach"):
        ctrl.http(url, timeout=1.0, proxy=dead).path("/text").get()
