"""ScpiAdapter parsing, error queue and node binding; ScpiServer over a real socket."""

from __future__ import annotations

import pytest

from iocgate.sim import ScpiAdapter, ScpiServer, header_matches, split_message


class Node:
    """A duck-typed node: get()/set() with limits, like iocgate nodes."""

    def __init__(self, value=0.0, limits=(0.0, 10.0)):
        self.value = value
        self.limits = limits

    def get(self):
        return self.value

    def set(self, value):
        if not self.limits[0] <= value <= self.limits[1]:
            raise ValueError(f"{value} outside {self.limits}")
        self.value = value


class ReadOnly:
    def get(self):
        return "ro"


class Counter(ScpiAdapter):
    """A device with one custom command: COUNt:INCRement, COUNt?."""

    def __init__(self):
        super().__init__("acme,counter,1,0.1")
        self.count = 0
        self.resets = 0

    def reset(self):
        self.resets += 1
        self.count = 0

    def do_command(self, cmd_path, params):
        if header_matches(cmd_path, "COUNt:INCRement"):
            self.count += int(params[0]) if params else 1
            return ""
        if header_matches(cmd_path, "COUNt?"):
            return str(self.count)
        return None


@pytest.fixture
def dev():
    adapter = Counter()
    adapter.bind_nodes([("SOURce:LEVel", Node()), ("STATus:NAME", ReadOnly()),
                        ("CONFigure:TEXT", Node("x", ("", "zzzz")), str)])
    return adapter


@pytest.mark.parametrize("path, pattern, expected", [
    (["MEAS", "VOLT?"], "MEASure:VOLTage?", True),
    (["measure", "voltage?"], "MEASure:VOLTage?", True),
    (["MeAs", "VoLtAgE?"], "MEASure:VOLTage?", True),
    (["MEASU", "VOLT?"], "MEASure:VOLTage?", False),  # neither short nor long
    (["MEAS", "VOLT"], "MEASure:VOLTage?", False),  # command vs query
    (["MEAS", "VOLT?"], "MEASure:VOLTage", False),
    (["VOLT?"], "[SOURce:]VOLTage?", True),
    (["SOUR", "VOLT?"], "[SOURce:]VOLTage?", True),
    (["SYST", "ERR", "NEXT?"], "SYSTem:ERRor[:NEXT]?", True),
    (["SYST", "ERR?"], "SYSTem:ERRor[:NEXT]?", True),
    (["SYST?"], "SYSTem:ERRor[:NEXT]?", False),
    ([], "X", False),
])
def test_header_matches(path, pattern, expected):
    assert header_matches(path, pattern) is expected


def test_split_message_respects_quotes():
    assert split_message('A 1;B "x;y";C', ";") == ["A 1", 'B "x;y"', "C"]
    assert split_message("'a,b', 2", ",") == ["'a,b'", "2"]


@pytest.mark.parametrize("line, reply", [
    ("*IDN?", "acme,counter,1,0.1"),
    ("*idn?", "acme,counter,1,0.1"),
    ("*OPC?", "1"),
    ("*OPC", None),
    ("COUN:INCR 3;COUN?", "3"),
    ("COUNT:INCREMENT;:COUNT?", "1"),
    ("COUN:INCR;INCR;:COUN?", "2"),  # second INCR is relative to COUNt:
    ("SOUR:LEV 2.5;LEV?", "2.5"),
    ("SOURCE:LEVEL?;:STAT:NAME?", "0.0;ro"),
    ("CONF:TEXT 'ab';TEXT?", "ab"),
    ("SYST:ERR?", '0,"No error"'),
    ("SYSTEM:ERROR:NEXT?", '0,"No error"'),
    ("*IDN?;*OPC?", "acme,counter,1,0.1;1"),
    ("SOUR:LEV\t3;*OPC?;LEV?", "1;3"),  # tab separator; * commands keep the path
    ("", None),
])
def test_replies(dev, line, reply):
    assert dev.handle_line(line) == reply
    assert dev.errors == []


@pytest.mark.parametrize("line, code", [
    ("FOO?", -113),
    ("FOO 1", -113),
    ("MEASU:VOLT?", -113),
    ("SOUR:LEV 11", -222),  # ValueError from the node
    ("SOUR:LEV", -109),
    ("SOUR:LEV 1,2", -108),
    ("SOUR:LEV? 1", -108),
    ("STAT:NAME 3", -113),  # no set() on a read-only node
    ("COUN:@", -102),
])
def test_errors_are_queued_with_scpi_codes(dev, line, code):
    assert dev.handle_line(line) is None
    reply = dev.handle_line("SYST:ERR?")
    assert reply.startswith(f"{code},\"")
    assert dev.handle_line("SYST:ERR?") == '0,"No error"'


def test_failed_set_leaves_value_unchanged(dev):
    dev.handle_line("SOUR:LEV 4")
    dev.handle_line("SOUR:LEV 99")
    assert dev.handle_line("SOUR:LEV?") == "4"


def test_error_queue_order_cls_and_overflow(dev):
    dev.handle_line("A1;A2")
    dev.push_error(-224, "custom")
    assert [code for code, _ in dev.errors] == [-113, -113, -224]
    assert dev.handle_line("SYST:ERR?;SYST:ERR?") == (
        '-113,"Undefined header; A1";-113,"Undefined header; A2"')
    assert dev.handle_line("SYST:ERR?") == '-224,"custom"'
    for _ in range(30):
        dev.push_error(-200)
    errors = dev.errors
    assert len(errors) == 20 and errors[-1][0] == -350 and errors[0][0] == -200
    dev.handle_line("*CLS")
    assert dev.errors == []


def test_rst_calls_reset(dev):
    dev.handle_line("COUN:INCR 5;*RST")
    assert dev.resets == 1 and dev.handle_line("COUN?") == "0"


def test_node_exceptions_map_to_codes():
    class Broken:
        def get(self):
            raise RuntimeError("sensor unplugged")

        def set(self, value):
            raise TypeError("wants a list")

    adapter = ScpiAdapter("x")
    adapter.bind_nodes([("BRoken", Broken())])
    assert adapter.handle_line("BR?") is None
    assert adapter.handle_line("BROKEN 1") is None
    assert [code for code, _ in adapter.errors] == [-200, -104]


def test_scpi_server_over_tcp_with_faults(connect):
    adapter = Counter()
    with ScpiServer(adapter, port=0) as server:
        port = server.start()
        assert server.port == port
        client = connect(port)
        assert client.query("*IDN?") == "acme,counter,1,0.1"
        client.send("COUN:INCR 2")
        assert client.query("COUN?") == "2"
        server.faults.garbage = True
        assert client.query("COUN?") != "2"
        server.faults.clear()
        assert client.query("BAD?;SYST:ERR?") == '-113,"Undefined header; BAD?"'
        assert server.received[-1] == "BAD?;SYST:ERR?"


def test_scpi_server_over_pty():
    serial = pytest.importorskip("serial")
    with ScpiServer(Counter()) as server:
        path = server.start_pty()
        with serial.Serial(path, timeout=5) as port:
            port.write(b"COUN:INCR 4;:COUN?\n")
            assert port.readline() == b"4\n"
