"""SCPI nodes against the simulated power supply over TCP and VISA."""

from __future__ import annotations

import enum
import time
from typing import List

import numpy
import pytest

from iocgate import DeviceDisconnected, DeviceProtocolError, DeviceRejected, DeviceTimeout
from iocgate.nodes import ControlSystem


class Output(enum.Enum):
    OFF = 0
    ON = 1


def test_get_set_and_shared_endpoint(ctrl, psu):
    dev = ctrl.tcp("127.0.0.1", psu.port, timeout=2.0)
    volt = dev.scpi().command("VOLT", type=float)
    volt.set(2.5)
    assert volt.get() == 2.5
    assert psu.received[-2:] == ["VOLT 2.5", "VOLT?"]
    assert volt.path == f"tcp://127.0.0.1:{psu.port} scpi VOLT"
    same = ctrl.ethernet("127.0.0.1", psu.port).scpi().command("CURR", type=float)
    assert same.endpoint is volt.endpoint and volt.endpoint.connected
    assert volt.endpoint.name == f"tcp://127.0.0.1:{psu.port}"


def test_call_and_number_conversions(ctrl, psu):
    volt = ctrl.tcp("127.0.0.1", psu.port).scpi().command("VOLT", type=float)
    volt(12)
    assert volt() == 12.0 and float(volt) == 12.0 and int(volt) == 12 and str(volt) == "12.0"


def test_set_format_opc_and_types(ctrl, psu):
    scpi = ctrl.tcp("127.0.0.1", psu.port).scpi()
    scpi.command("VOLT", type=float, set_format="VOLT {:.3f}", opc=True).set(1.23456)
    assert psu.received[-1] == "VOLT 1.235;*OPC?"
    assert psu.state.get("volt") == pytest.approx(1.235)
    out = scpi.command("OUTP", type=bool)
    out.set(True)
    assert out.get() is True
    assert scpi.command("OUTP", type=Output).get() is Output.ON
    scpi.command("OUTP", type=Output).set(Output.OFF)
    assert out.get() is False
    assert scpi.command("*IDN", type=List[str]).get() == ["iocgate", "PSU-3005", "SIM0001", "1.0"]
    numbers = scpi.command("VOLT", parse=lambda s: numpy.array([float(s)])).get()
    assert numbers.tolist() == [1.235]


def test_check_errors_raises_rejected_and_leaves_value(ctrl, psu):
    volt = ctrl.tcp("127.0.0.1", psu.port).scpi(check_errors=True).command("VOLT", type=float)
    volt.set(3.0)
    assert psu.received[-1] == "SYST:ERR?"
    with pytest.raises(DeviceRejected, match="-222") as info:
        volt.set(99.0)
    assert info.value.command == "VOLT 99.0"
    assert volt.get() == 3.0
    unknown = ctrl.tcp("127.0.0.1", psu.port).scpi(check_errors=True).command("BOGUS")
    with pytest.raises(DeviceRejected, match="-113"):
        unknown.set(1)


def test_unparsable_reply_is_protocol_error_with_raw_text(ctrl, psu):
    volt = ctrl.tcp("127.0.0.1", psu.port).scpi().command("VOLT", type=float)
    psu.faults.garbage = True
    with pytest.raises(DeviceProtocolError) as info:
        volt.get()
    assert "garbage" in str(info.value) and "garbage" in info.value.raw
    assert info.value.command == "VOLT?"  # regression: was the node path, not the command
    psu.faults.clear()
    assert volt.get() == 0.0


def test_set_format_with_a_query_reads_its_reply(ctrl, psu):
    # Regression: SlowPy's idiom set_format="V0 {};*OPC?" left the "1" unread, so every
    # later query got the previous command's reply.
    scpi = ctrl.tcp("127.0.0.1", psu.port, timeout=0.5).scpi(check_errors=True)
    volt = scpi.command("VOLT", type=float, set_format="VOLT {};*OPC?")
    volt.set(10)
    assert scpi.command("*IDN").get().startswith("iocgate,PSU-3005")
    assert volt.get() == 10.0
    scpi.command("VOLT", set_format="VOLT {};VOLT?").set(4)  # any query's reply is read
    assert volt.get() == 4.0


def test_opc_not_answering_one_is_protocol_error(ctrl, echo_sim):
    node = ctrl.tcp("127.0.0.1", echo_sim.port).scpi().command("X", opc=True)
    with pytest.raises(DeviceProtocolError, match="OPC"):
        node.set(1)


def test_faults_through_the_node_layer(ctrl, psu):
    volt = ctrl.tcp("127.0.0.1", psu.port, timeout=0.3).scpi().command("VOLT", type=float)
    assert volt.get() == 0.0
    psu.faults.withhold = True
    start = time.monotonic()
    with pytest.raises(DeviceTimeout) as info:
        volt.get()
    assert time.monotonic() - start < 1.0
    assert info.value.command == "VOLT?" and info.value.timeout == 0.3
    psu.faults.clear()
    assert volt.get() == 0.0  # the timeout reset the link; this reconnects at once
    psu.faults.drop_connections()
    with pytest.raises(DeviceDisconnected):
        volt.get()
    assert volt.get() == 0.0


def test_link_errors_name_the_command(ctrl, psu):
    # Regression: DeviceDisconnected named the endpoint but not the command it interrupted.
    scpi = ctrl.tcp("127.0.0.1", psu.port, timeout=0.3).scpi()
    volt = scpi.command("VOLT", type=float)
    assert volt.get() == 0.0
    psu.faults.drop_connections()
    with pytest.raises(DeviceDisconnected) as lost:
        volt.get()
    assert lost.value.command == "VOLT?" and "'VOLT?'" in str(lost.value)
    psu.stop()
    with pytest.raises(DeviceDisconnected) as refused:
        volt.set(2.5)
    assert refused.value.command == "VOLT 2.5" and psu.address[1] == volt.endpoint.stream.port


def test_visa_scpi_against_the_power_supply(ctrl, psu):
    dev = ctrl.visa(f"TCPIP::127.0.0.1::{psu.port}::SOCKET", timeout=2.0)
    volt = dev.scpi(check_errors=True).command("VOLT", type=float)
    volt.set(4.5)
    assert volt.get() == 4.5
    assert dev.scpi().command("*IDN").get().startswith("iocgate,PSU-3005")
    assert volt.endpoint.name == f"visa://TCPIP::127.0.0.1::{psu.port}::SOCKET"


def test_two_control_systems_do_not_share(psu):
    a, b = ControlSystem(), ControlSystem()
    try:
        na = a.tcp("127.0.0.1", psu.port).scpi().command("VOLT", type=float)
        nb = b.tcp("127.0.0.1", psu.port).scpi().command("VOLT", type=float)
        assert na.endpoint is not nb.endpoint
        assert na.get() == nb.get() == 0.0
    finally:
        a.close()
        b.close()


def test_checked_set_is_not_blamed_for_an_earlier_unchecked_error(ctrl, psu, caplog):
    link = ctrl.tcp("127.0.0.1", psu.port)
    link.scpi().command("VOLT", type=float).set(99.0)  # unchecked: -222 stays queued
    checked = link.scpi(check_errors=True).command("VOLT", type=float)
    with caplog.at_level("WARNING", logger="iocgate.nodes"):
        checked.set(4.0)  # its own set is fine
    assert checked.get() == 4.0
    assert "-222" in caplog.text and "VOLT 4.0" in caplog.text
    with pytest.raises(DeviceRejected, match="-222"):
        checked.set(98.0)
