"""The HTTP simulator: request framing (sans-I/O byte tables), the power switch's JSON API
over real loopback sockets, its faults, and the standalone ``python -m devices.power_switch``
with its ``--control-port`` backdoor."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys

import pytest

from devices.power_switch import PowerSwitchSimulator
from iocgate.sim import (
    HttpRequest,
    HttpResponse,
    HttpSimulator,
    RequestError,
    format_response,
    take_request,
)

from .conftest import TIMEOUT
from .test_backdoor import _Lines, _reap

#: (wire bytes, the request they make)
REQUESTS = [
    (b"GET /api/outlets HTTP/1.1\r\nHost: pdu\r\n\r\n",
     HttpRequest("GET", "/api/outlets", "", "HTTP/1.1", {"host": "pdu"})),
    (b"PUT /api/outlets/3?x=1 HTTP/1.1\r\nContent-Length: 15\r\nConnection: close\r\n\r\n"
     b'{"state": "on"}',
     HttpRequest("PUT", "/api/outlets/3", "x=1", "HTTP/1.1",
                 {"content-length": "15", "connection": "close"}, b'{"state": "on"}')),
    (b"\r\nGET / HTTP/1.0\r\n\r\n", HttpRequest("GET", "/", "", "HTTP/1.0", {})),
]


@pytest.mark.parametrize("wire, request_", REQUESTS)
def test_a_request_parses_whole_byte_by_byte_and_with_trailing_bytes(wire, request_):
    assert take_request(wire) == (request_, b"")
    assert take_request(wire + b"GET /next") == (request_, b"GET /next")
    for cut in range(len(wire)):
        assert take_request(wire[:cut]) is None, cut


@pytest.mark.parametrize("wire, status", [
    (b"GET /api\r\n\r\n", 400), (b"GET /api HTTP/2\r\n\r\n", 400),
    (b"GET /api HTTP/1.1\r\nno colon\r\n\r\n", 400),
    (b"GET /api HTTP/1.1\r\n Host: x\r\n\r\n", 400),
    (b"PUT /api HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400),
    (b"PUT /api HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
    (b"PUT /api HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n", 413),
    (b"GET /" + b"x" * 20000, 431),
])
def test_a_malformed_request_names_its_status(wire, status):
    with pytest.raises(RequestError) as info:
        take_request(wire)
    assert info.value.status == status


@pytest.mark.parametrize("request_, close", [
    (HttpRequest("GET", "/"), False), (HttpRequest("GET", "/", version="HTTP/1.0"), True),
    (HttpRequest("GET", "/", headers={"connection": "Keep-Alive, close"}), True),
    (HttpRequest("GET", "/", version="HTTP/1.0", headers={"connection": "keep-alive"}), False),
])
def test_who_asks_to_close(request_, close):
    assert request_.wants_close is close


def test_a_response_has_its_length_and_closes_when_asked():
    assert format_response(HttpResponse(404, b"{}"), close=True) == (
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        b"Server: iocgate-sim\r\nConnection: close\r\n\r\n{}")


@pytest.fixture
def pdu():
    simulator = PowerSwitchSimulator(noise=0.0)
    port = simulator.start_tcp()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    yield simulator, connection
    connection.close()
    simulator.stop()


def _call(connection, method: str, path: str, body=None) -> tuple:
    data = None if body is None else json.dumps(body).encode()
    connection.request(method, path, body=data)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_outlets_switch_and_meter_on_one_kept_alive_connection(pdu):
    simulator, connection = pdu
    assert _call(connection, "GET", "/api/outlets/2") == (200, {
        "outlet": 2, "name": "Outlet 2", "state": "off", "power": 0.0, "current": 0.0})
    assert _call(connection, "PUT", "/api/outlets/2", {"state": "on"})[1]["power"] == 20.0
    assert _call(connection, "POST", "/api/outlets/4/", {"state": "on"})[1]["state"] == "on"
    status, outlets = _call(connection, "GET", "/api/outlets")
    assert [o["state"] for o in outlets] == ["off", "on", "off", "on"] + ["off"] * 4
    assert _call(connection, "GET", "/api/power")[1] == {
        "voltage": 230.0, "power": 60.0, "current": round(60 / 230, 3)}
    assert _call(connection, "GET", "/api/device")[1]["outlets"] == 8
    assert len(simulator.received) == 6  # one connection carried them all


@pytest.mark.parametrize("method, path, body, status", [
    ("GET", "/api/outlets/9", None, 404), ("GET", "/api/outlets/0", None, 404),
    ("PUT", "/api/outlets/9", {"state": "on"}, 404), ("GET", "/api/nothing", None, 404),
    ("PUT", "/api/outlets/1", {"state": "maybe"}, 400),
    ("PUT", "/api/outlets/1", {"state": ["on"]}, 400),
    ("PUT", "/api/outlets/1", {"power": 5}, 400), ("PUT", "/api/outlets/1", "on", 400),
    ("DELETE", "/api/outlets/1", None, 405), ("PUT", "/api/power", {"power": 0}, 405),
])
def test_a_bad_request_is_refused_and_switches_nothing(pdu, method, path, body, status):
    simulator, connection = pdu
    got, document = _call(connection, method, path, body)
    assert got == status and "error" in document
    assert not any(simulator.model.on.values())


def test_a_body_that_is_not_json_is_refused(pdu):
    simulator, connection = pdu
    connection.request("PUT", "/api/outlets/1", body=b"state=on")
    assert connection.getresponse().status == 400
    assert not simulator.model.on[1]


def test_a_malformed_request_is_answered_and_the_connection_closed(pdu):
    simulator, _ = pdu
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"HELLO\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"Connection: close" in reply


def test_an_app_that_fails_answers_500_and_keeps_serving():
    calls = []

    def app(request: HttpRequest) -> HttpResponse:
        calls.append(request.path)
        return HttpResponse(200, b"fine", "text/plain") if len(calls) > 1 else 1 / 0

    with HttpSimulator(app) as simulator:
        connection = http.client.HTTPConnection("127.0.0.1", simulator.start_tcp(),
                                                timeout=TIMEOUT)
        assert _call(connection, "GET", "/x") == (500, {"error": "ZeroDivisionError: "
                                                                 "division by zero"})
        connection.request("GET", "/y")
        assert connection.getresponse().read() == b"fine"
        connection.close()


def test_without_mains_no_power_flows(pdu):
    simulator, connection = pdu
    simulator.state.set("outlet_1", "ON")
    simulator.state.set("voltage", "0")
    assert _call(connection, "GET", "/api/power")[1] == {"voltage": 0.0, "power": 0.0,
                                                          "current": 0.0}


def test_garbage_answers_200_with_a_body_that_is_not_json(pdu):
    simulator, connection = pdu
    simulator.faults.garbage = True
    connection.request("PUT", "/api/outlets/1", body=b'{"state": "on"}')
    response = connection.getresponse()
    assert response.status == 200
    with pytest.raises(ValueError):
        json.loads(response.read())
    assert simulator.model.on[1]  # executed, as the line simulators' garbage fault


def test_freeze_keeps_the_request_unanswered(pdu):
    simulator, _ = pdu
    simulator.faults.withhold = True
    connection = http.client.HTTPConnection("127.0.0.1", simulator.port, timeout=0.3)
    connection.request("GET", "/api/power")
    with pytest.raises(socket.timeout):
        connection.getresponse()
    connection.close()


def test_refuse_and_cut_close_connections(pdu):
    simulator, connection = pdu
    assert _call(connection, "GET", "/api/power")[0] == 200
    simulator.faults.refuse = True
    simulator.faults.drop_connections()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        _call(connection, "GET", "/api/power")
    connection.close()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        _call(connection, "GET", "/api/power")
    connection.close()
    simulator.faults.clear()
    assert _call(connection, "GET", "/api/power")[0] == 200


def test_the_standalone_switch_and_its_backdoor():
    proc = subprocess.Popen([sys.executable, "-m", "devices.power_switch", "--port", "0",
                             "--control-port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        port, control_port = (int(proc.stdout.readline().rsplit(":", 1)[1]) for _ in range(2))
        control = _Lines(control_port)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        assert control.ask("SET load_6 123.4") == "OK"
        assert control.ask("SET noise 0") == "OK"
        assert control.ask("SET load_6 -1") == "ERR SET: load_6 must be from 0 to below 1e6, not -1"
        assert control.ask("SET voltage 1e9") == (
            "ERR SET: voltage must be from 0 to below 1e6, not 1e+09")
        assert _call(connection, "PUT", "/api/outlets/6", {"state": "on"})[1]["power"] == 123.4
        assert control.ask("GET outlet_6") == "OK True"
        assert control.ask("GARBAGE ON") == "OK"
        connection.request("GET", "/api/outlets/6")
        assert connection.getresponse().read() == b"\x15#!?garbage"
        assert control.ask("CLEAR") == "OK"
        assert control.ask("SET outlet_6 OFF") == "OK"
        assert _call(connection, "GET", "/api/outlets/6")[1]["state"] == "off"
        connection.close()
    finally:
        proc.terminate()
        _reap(proc)
