"""``DeviceConfig``: every transport from the command line, and clear errors (no I/O)."""

from __future__ import annotations

import argparse
import sys

import pytest

from iocgate import DeviceConfig
from iocgate.nodes import ControlSystem

ALL = ("tcp", "serial", "visa", "http", "shell")


def parse(config: DeviceConfig, *argv: str):
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return config.given_options(parser.parse_args(list(argv)))


@pytest.mark.parametrize("argv, options", [
    (("--host", "10.0.0.5", "--port", "5025"), {"host": "10.0.0.5", "port": 5025}),
    (("--serial", "socket://10.0.0.5:4001"), {"serial": "socket://10.0.0.5:4001",
                                               "baudrate": 9600}),
    (("--resource", "TCPIP::10.0.0.5::5025::SOCKET"),
     {"resource": "TCPIP::10.0.0.5::5025::SOCKET"}),
    (("--url", "http://10.0.0.9:8080/api"), {"url": "http://10.0.0.9:8080/api"}),
    (("--command", f"{sys.executable} -c 'print(1)'"),
     {"command": f"{sys.executable} -c 'print(1)'"}),
    ((), {}),  # no address: the simulator
])
def test_each_transport_from_the_command_line(argv, options):
    assert parse(DeviceConfig(bridge=lambda link: link, transports=ALL), *argv) == options


@pytest.mark.parametrize("argv, message", [
    (("--url", "10.0.0.9:8080"), "expected a URL such as http://"),
    (("--url", "ftp://10.0.0.9/"), "expected a URL such as http://"),
    (("--url", "http://10.0.0.9:http"), "'http://10.0.0.9:http': Port could not be cast"),
    (("--url", "http://10.0.0.9:70000/api"), "Port out of range 0-65535"),
    (("--command", ""), "expected a program and its arguments"),
    (("--command", "no-such-program-here --x"), "'no-such-program-here' not found"),
    (("--command", "meter 'unbalanced"), "cannot split"),
])
def test_bad_addresses_are_refused_with_the_reason(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse(DeviceConfig(bridge=lambda link: link, transports=ALL), *argv)
    assert message in capsys.readouterr().err


def test_two_addresses_are_refused():
    with pytest.raises(ValueError, match="give one device address, not --command and --url"):
        parse(DeviceConfig(bridge=lambda link: link, transports=ALL),
              "--url", "http://x", "--command", sys.executable)


def test_an_option_of_a_transport_the_instrument_lacks_is_unknown(capsys):
    with pytest.raises(SystemExit):
        parse(DeviceConfig(bridge=lambda link: link, transports=("tcp",)), "--url", "http://x")
    assert "unrecognized arguments: --url" in capsys.readouterr().err


def test_unknown_transport_in_the_declaration():
    with pytest.raises(ValueError, match="transports must be a non-empty subset"):
        DeviceConfig(bridge=lambda link: link, transports=("usb",))


def test_open_makes_http_and_shell_links_with_the_reply_timeout():
    config = DeviceConfig(bridge=lambda link: link, transports=ALL,
                          link_options={"encoding": "latin-1"})  # only for stream links
    control = ControlSystem()
    web = config.open({"url": "http://127.0.0.1:9/api"}, 0.7, control)
    assert (type(web).__name__, web.base_url, web.timeout) == ("HttpNode",
                                                               "http://127.0.0.1:9/api", 0.7)
    program = config.open({"command": "meter --channel 'A 1'"}, 1.5, control)
    assert (type(program).__name__, program.argv, program.timeout) == (
        "ShellNode", ["meter", "--channel", "A 1"], 1.5)
