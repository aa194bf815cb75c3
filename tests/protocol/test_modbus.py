"""Modbus sans I/O: register codecs, MBAP framing (whole, byte by byte, trailing bytes) and
request/response frames from one table."""

from __future__ import annotations

import pytest

from iocgate.protocol._modbus import (
    ILLEGAL_ADDRESS,
    ModbusException,
    answer_adu,
    from_registers,
    request_adu,
    take_adu,
    to_registers,
)
from iocgate.testing import check_parser

# (value, kind, word order, registers)
REGISTERS = [
    (1234, "uint16", "big", [0x04D2]),
    (-2, "int16", "big", [0xFFFE]),
    (70000, "uint32", "big", [0x0001, 0x1170]),
    (70000, "uint32", "little", [0x1170, 0x0001]),
    (-70000, "int32", "big", [0xFFFE, 0xEE90]),
    (1.5, "float32", "big", [0x3FC0, 0x0000]),
    (1.5, "float32", "little", [0x0000, 0x3FC0]),
    (-273.25, "float32", "big", [0xC388, 0xA000]),
]


@pytest.mark.parametrize("value, kind, order, registers", REGISTERS)
def test_register_codec_both_ways(value, kind, order, registers):
    assert to_registers(value, kind, order) == registers
    assert from_registers(registers, kind, order) == value


@pytest.mark.parametrize("call", [
    lambda: to_registers(70000, "uint16"), lambda: to_registers(-1, "uint16"),
    lambda: to_registers(1, "float64"), lambda: to_registers(1, "uint16", "middle"),
    lambda: from_registers([1], "float32"),
])
def test_register_codec_refuses(call):
    with pytest.raises(ValueError):
        call()


class Bank:
    """Ten of each; writes outside are refused (exception 2)."""

    def __init__(self):
        self.tables = {t: [0] * 10 for t in ("coils", "discrete", "holding", "input")}
        self.tables["input"][:2] = [0x3FC0, 0]
        self.tables["discrete"][:3] = [1, 0, 1]

    def read(self, table, address, count):
        if address + count > 10:
            raise ModbusException(ILLEGAL_ADDRESS)
        return self.tables[table][address:address + count]

    def write(self, table, address, values):
        if address + len(values) > 10:
            raise ModbusException(ILLEGAL_ADDRESS)
        self.tables[table][address:address + len(values)] = values


# (request PDU, response PDU): one table for the server's answers
EXCHANGES = [
    (bytes.fromhex("0400000002"), bytes.fromhex("04043fc00000")),
    (bytes.fromhex("0200000003"), bytes.fromhex("020105")),
    (bytes.fromhex("060001abcd"), bytes.fromhex("060001abcd")),
    (bytes.fromhex("0500020000"), bytes.fromhex("0500020000")),
    (bytes.fromhex("050002ff00"), bytes.fromhex("050002ff00")),
    (bytes.fromhex("0500021234"), bytes.fromhex("8503")),
    (bytes.fromhex("100003000204" "00010002"), bytes.fromhex("1000030002")),
    (bytes.fromhex("0f0000000301" "05"), bytes.fromhex("0f00000003")),
    (bytes.fromhex("0300090002"), bytes.fromhex("8302")),
    (bytes.fromhex("0300000000"), bytes.fromhex("8303")),
    (bytes.fromhex("2b0e01"), bytes.fromhex("ab01")),
]


@pytest.mark.parametrize("request_pdu, response_pdu", EXCHANGES)
def test_server_answers(request_pdu, response_pdu):
    adu = request_adu(0x1234, 7, request_pdu)
    assert answer_adu(adu, Bank()) == request_adu(0x1234, 7, response_pdu)


def test_writes_land_in_the_bank():
    bank = Bank()
    answer_adu(request_adu(1, 1, bytes.fromhex("100003000204" "00010002")), bank)
    answer_adu(request_adu(2, 1, bytes.fromhex("0f0000000301" "05")), bank)
    assert bank.tables["holding"][3:5] == [1, 2] and bank.tables["coils"][:3] == [1, 0, 1]


@pytest.mark.parametrize("request_pdu, _", EXCHANGES)
def test_take_adu_whole_bytewise_trailing(request_pdu, _):
    adu = request_adu(9, 1, request_pdu)
    check_parser(take_adu, adu, adu, b"\x00\x0a")


@pytest.mark.parametrize("junk", [b"\x00\x01\x00\x05\x00\x06\x01\x03", b"*IDN?\r\n\x00\x00"])
def test_take_adu_refuses_other_protocols(junk):
    with pytest.raises(ValueError):
        take_adu(junk)
