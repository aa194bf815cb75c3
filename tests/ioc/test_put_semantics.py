"""Puts of any DBR type convert as an EPICS IOC converts them; refused puts change nothing.

Served in-process on caproto's server; driven by the C caput and caproto's client.
"""

from __future__ import annotations

import enum
import logging
import queue

import pytest
from caproto import AlarmSeverity, ChannelType

from iocgate import PVGroup, pvproperty


class Mode(enum.IntEnum):
    Idle = 0
    Run = 1
    Fault = 2


class PutTarget(PVGroup):
    """PVs to put to."""

    default_prefix = "PUT:"
    count = pvproperty(name="COUNT", value=5, units="counts", precision=0, limits=(-100, 100),
                       doc="An integer with drive limits")
    level = pvproperty(name="LEVEL", value=1.0, units="V", precision=3, limits=(0.0, 10.0),
                       doc="A double with drive limits")
    mode = pvproperty(name="MODE", dtype=Mode, doc="An enum")


@pytest.fixture
def ioc(ioc_factory):
    return ioc_factory(PutTarget)


def test_string_put_into_long_truncates_like_epics(ioc, ca_tool):
    ioc.pv("COUNT").write([b"2.500000"], data_type=ChannelType.STRING, wait=True, timeout=5)
    assert ioc.value("COUNT") == 2
    result = ca_tool("caput", "-c", "-w", "5", "PUT:COUNT", "-7.9")
    assert result.returncode == 0, result.stderr
    assert ioc.value("COUNT") == -7


def test_string_put_into_double(ioc):
    ioc.pv("LEVEL").write([b"2.500000"], data_type=ChannelType.STRING, wait=True, timeout=5)
    assert ioc.value("LEVEL") == pytest.approx(2.5)


def test_malformed_string_put_is_refused_and_value_kept(ioc, ca_tool):
    result = ca_tool("caput", "-c", "-w", "5", "PUT:COUNT", "twelve")
    assert result.returncode == 1, result.stdout
    assert "write request failed" in result.stderr
    assert ioc.value("COUNT") == 5


def test_out_of_limits_put_refused_without_alarm_or_event(ioc, ca_tool):
    events: queue.Queue = queue.Queue()
    sub = ioc.pv("LEVEL").subscribe(data_type="time")

    def on_event(sub, response):  # caproto holds callbacks weakly: keep this name alive
        events.put(response)

    sub.add_callback(on_event)
    first = events.get(timeout=5)
    assert first.data[0] == pytest.approx(1.0)

    for refused in ("11", "-0.5"):
        result = ca_tool("caput", "-c", "-w", "5", "PUT:LEVEL", refused)
        assert result.returncode == 1, result.stdout
        assert "write request failed" in result.stderr

    ioc.put("LEVEL", [3.0], wait=True)  # the next event must be this one
    after = events.get(timeout=5)
    assert after.data[0] == pytest.approx(3.0)
    assert after.metadata.severity == AlarmSeverity.NO_ALARM
    reading = ioc.get("LEVEL", data_type="time")
    assert reading.metadata.severity == AlarmSeverity.NO_ALARM


@pytest.mark.parametrize("given, expected", [("Run", "Run"), ("2", "Fault"), (1, "Run")])
def test_enum_accepts_name_or_index(ioc, ca_tool, given, expected):
    if isinstance(given, int):
        ioc.pv("MODE").write([given], data_type=ChannelType.ENUM, wait=True, timeout=5)
    else:
        result = ca_tool("caput", "-c", "-w", "5", "PUT:MODE", given)
        assert result.returncode == 0, result.stderr
    assert ca_tool("caget", "-t", "PUT:MODE").stdout.strip() == expected


@pytest.mark.parametrize("bad", ["run", "Max", "3", "-1"])
def test_enum_refuses_unknown_states(ioc, ca_tool, bad):
    assert ca_tool("caput", "-c", "-w", "5", "PUT:MODE", bad).returncode == 1
    assert ca_tool("caget", "-t", "PUT:MODE").stdout.strip() == "Idle"


def test_refused_puts_are_logged_with_their_reason(ioc, ca_tool, caplog):
    caplog.set_level(logging.WARNING, logger="iocgate.ioc")
    refused = (("PUT:LEVEL", "11"), ("PUT:COUNT", "twelve"), ("PUT:MODE", "3"))
    for pv, bad in refused:
        assert ca_tool("caput", "-c", "-w", "5", pv, bad).returncode == 1
    refusals = [record.getMessage() for record in caplog.records
                if record.name == "iocgate.ioc" and "refused" in record.getMessage()]
    assert len(refusals) == 3, refusals
    for (pv, bad), message in zip(refused, refusals):
        assert message.startswith(pv + ":") and bad in message, message
