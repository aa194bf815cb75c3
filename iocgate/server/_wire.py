"""Channel Access 4.13 wire format for the server side: headers, replies, DBR payloads.

Sans-I/O: plain functions over ``bytes``; nothing here opens a socket or touches a loop.
All integers on the wire are big-endian. A message is a 16-byte header, optionally followed
by an 8-byte extension (when the payload is >= 0xFFFF bytes or the count >= 0xFFFF), and a
payload padded to a multiple of 8 bytes.
"""

from __future__ import annotations

import ctypes
import struct
from typing import List, Tuple

import numpy
from caproto import ChannelType, apply_arr_filter

from .._compat._caproto import (
    DBR_TYPES,
    FAST_PATHS,
    DbrStringArray,
    backend,
    extract_data,
    metadata,
    native_type,
    native_types,
)
from ..protocol._ca_client import (  # command codes, re-exported for the server
    ACCESS_RIGHTS as ACCESS_RIGHTS,
    CLEAR_CHANNEL as CLEAR_CHANNEL,
    CLIENT_NAME as CLIENT_NAME,
    CREATE_CH_FAIL as CREATE_CH_FAIL,
    CREATE_CHAN as CREATE_CHAN,
    ECHO as ECHO,
    ERROR as ERROR,
    EVENT_ADD as EVENT_ADD,
    EVENT_CANCEL as EVENT_CANCEL,
    EVENTS_OFF as EVENTS_OFF,
    EVENTS_ON as EVENTS_ON,
    HOST_NAME as HOST_NAME,
    NOT_FOUND as NOT_FOUND,
    READ as READ,
    READ_NOTIFY as READ_NOTIFY,
    READ_SYNC as READ_SYNC,
    REPEATER_CONFIRM as REPEATER_CONFIRM,
    REPEATER_REGISTER as REPEATER_REGISTER,
    RSRV_IS_UP as RSRV_IS_UP,
    SEARCH as SEARCH,
    SERVER_DISCONN as SERVER_DISCONN,
    VERSION as VERSION,
    WRITE as WRITE,
    WRITE_NOTIFY as WRITE_NOTIFY,
)

HEADER = struct.Struct(">HHHHII")
"""command, payload_size, data_type, data_count, parameter1, parameter2"""
EXTENDED = struct.Struct(">HHHHIIII")
"""as :data:`HEADER` with payload_size=0xFFFF, data_count=0, then the real size and count"""
EXT_SIZE = struct.Struct(">II")
EVENT_MASK = struct.Struct(">fffH")
STRING_SIZE = 40
"""Bytes per element of a DBR_STRING array (NUL-padded)."""

CA_MINOR_VERSION = 13
DO_REPLY = 10
NO_REPLY = 5
ECA_NORMAL = 1
ECA_TOLARGE = 72
ECA_BADTYPE = 114
ECA_INTERNAL = 142
ECA_GETFAIL = 152
ECA_PUTFAIL = 160
ECA_BADCOUNT = 176
ECA_NORDACCESS = 368
ECA_NOWTACCESS = 376
ECA_BADCHID = 410


MAX_DBR_TYPE = int(ChannelType.CLASS_NAME)
_PAD = [b"\0" * ((8 - n) % 8) for n in range(8)]

# Size of the metadata block in front of the values, per DBR type (0 for plain types).
# EPICS sends DBR_CTRL_STRING as a dbr_sts_string (caproto's struct for it is larger).
METADATA_SIZE = {
    int(t): (0 if t in native_types else ctypes.sizeof(DBR_TYPES[t]))
    for t in ChannelType if int(t) <= MAX_DBR_TYPE
}
METADATA_SIZE[int(ChannelType.CTRL_STRING)] = METADATA_SIZE[int(ChannelType.STS_STRING)]
# Size of one element on the wire per DBR type (STSACK_STRING and CLASS_NAME: all metadata).
ELEMENT_SIZE = {
    int(t): ctypes.sizeof(DBR_TYPES[native_type(t)])
    for t in ChannelType if int(t) <= int(ChannelType.CTRL_DOUBLE)
}
ELEMENT_SIZE.update({35: 2, 36: 2, 37: 0, 38: 0})

VERSION_REPLY = HEADER.pack(VERSION, 0, 0, CA_MINOR_VERSION, 0, 0)
ECHO_REPLY = HEADER.pack(ECHO, 0, 0, 0, 0, 0)


def pad(size: int) -> bytes:
    """Zero bytes that bring a payload of ``size`` bytes to a multiple of 8."""
    return _PAD[size % 8]


def header(command: int, size: int, data_type: int, count: int, p1: int, p2: int) -> bytes:
    """Encode a header, switching to the extended form when size or count do not fit 16 bits."""
    if size < 0xFFFF and count < 0xFFFF:
        return HEADER.pack(command, size, data_type, count, p1, p2)
    return EXTENDED.pack(command, 0xFFFF, data_type, 0, p1, p2, size, count)


def message(command: int, data_type: int, count: int, p1: int, p2: int,
            payload: bytes = b"") -> bytes:
    """A complete message: header plus ``payload`` padded to 8 bytes."""
    padding = pad(len(payload))
    size = len(payload) + len(padding)
    return header(command, size, data_type, count, p1, p2) + payload + padding


def string_payload(text: str) -> bytes:
    """A NUL-terminated latin-1 string, padded to a multiple of 8 bytes."""
    raw = text.encode("latin-1") + b"\0"
    return raw + pad(len(raw))


def decode_string(payload: bytes) -> str:
    """The text of a NUL-padded string payload (latin-1)."""
    return bytes(payload).split(b"\0", 1)[0].decode("latin-1")


def error_message(request_header: bytes, cid: int, status: int, text: str) -> bytes:
    """An ERROR reply quoting the offending request's header (first 16 bytes)."""
    payload = bytes(request_header[:16]) + string_payload(text)
    return HEADER.pack(ERROR, len(payload), 0, 0, cid, status) + payload


def dbr_payload(data_type: int, count: int, metadata, values) -> bytes:
    """Encode ``(metadata, values)`` as returned by ``ChannelData.read`` into a DBR payload.

    Args:
        data_type: the DBR type requested (0..38).
        count: the number of elements to put on the wire; values are truncated or
            zero-filled to it. Ignored for STSACK_STRING / CLASS_NAME / PUT_ACK*.
        metadata: a caproto DBR structure, or ``b''`` for plain types.
        values: a numpy array, list, ``bytes`` or scalar as returned by caproto's conversion.

    Returns:
        The unpadded payload bytes.
    """
    md = bytes(metadata)[:METADATA_SIZE[data_type]] if metadata is not None else b""
    if data_type in (ChannelType.STSACK_STRING, ChannelType.CLASS_NAME):
        return md
    native = native_type(ChannelType(data_type))
    if isinstance(values, (bytes, bytearray)):
        raw = bytes(values)
    else:
        if not isinstance(values, (list, tuple) + backend.array_types):
            values = [values]
        if len(values) > count:
            values = values[:count]
        raw = backend.python_to_epics(native, values, byteswap=True)
        raw = raw.tobytes() if hasattr(raw, "tobytes") else bytes(raw)
    want = ELEMENT_SIZE[data_type] * count
    if len(raw) > want:
        raw = raw[:want]
    elif len(raw) < want:
        raw = raw + b"\0" * (want - len(raw))
    return md + raw


_SCALAR = {
    int(ChannelType.INT): struct.Struct(">h"), int(ChannelType.FLOAT): struct.Struct(">f"),
    int(ChannelType.LONG): struct.Struct(">i"), int(ChannelType.DOUBLE): struct.Struct(">d"),
}
_NUMBERS = (int, float, numpy.integer, numpy.floating)
# TIME_ type: (native type, status, severity, seconds, nanoseconds, padding, value)
_TIME_OF = {int(ChannelType.TIME_INT): (int(ChannelType.INT), struct.Struct(">hhII2xh")),
            int(ChannelType.TIME_FLOAT): (int(ChannelType.FLOAT), struct.Struct(">hhIIf")),
            int(ChannelType.TIME_LONG): (int(ChannelType.LONG), struct.Struct(">hhIIi")),
            int(ChannelType.TIME_DOUBLE): (int(ChannelType.DOUBLE), struct.Struct(">hhII4xd"))}


def scalar_payload(data, data_type: int) -> bytes | None:
    """Encode a numeric scalar ChannelData as plain or TIME ``data_type`` without caproto's
    conversion machinery, or return None when this shortcut does not apply.

    Gives the same bytes as ``ChannelData.read`` + :func:`dbr_payload` for INT, FLOAT, LONG
    and DOUBLE PVs of one element read as their own type (plain or TIME_).
    """
    if not FAST_PATHS:
        return None
    native = data.data_type
    time_of = _TIME_OF.get(data_type)
    if time_of is None:
        if data_type != native:
            return None
        packer = _SCALAR.get(data_type)
    elif time_of[0] != native:
        return None
    else:
        packer = time_of[1]
    value = data.value
    if packer is None or not isinstance(value, _NUMBERS) or isinstance(value, bool):
        return None
    try:
        if time_of is None:
            return packer.pack(value)
        alarm, stamp = data.alarm, metadata(data)["timestamp"]
        return packer.pack(alarm.status, alarm.severity, stamp.secondsSinceEpoch,
                           stamp.nanoSeconds, value)
    except struct.error:
        return None


def scalar_value(data, data_type: int, count: int, payload) -> tuple | None:
    """``(value,)`` for a one-element write of a numeric PV in its own type, else None."""
    packer = _SCALAR.get(data_type)
    if count != 1 or packer is None or data_type != data.data_type:
        return None
    if len(payload) < packer.size:
        return None
    return packer.unpack_from(payload)


def put_values(payload, data_type: int, count: int):
    """The values of a put's payload (after its metadata), as caproto's ``extract_data``.

    Strings are cut in one linear pass: caproto's parser copies the rest of the buffer for
    every element, so a 100,000-string put blocked the whole server for about 6 s.
    """
    if native_type(data_type) != ChannelType.STRING:
        return extract_data(payload, data_type, count)
    buf = bytes(payload)
    return DbrStringArray(buf[start:start + STRING_SIZE].partition(b"\0")[0]
                          for start in range(0, STRING_SIZE * count, STRING_SIZE))


def event_payload(sub, metadata, values) -> Tuple[bytes, int]:
    """``(padded payload, wire count)`` of an EVENT_ADD update for subscription ``sub``
    (with its data type, count, channel and array filter) from a ``ChannelData.read`` result."""
    arr = sub.spec.channel_filter.arr
    if arr is not None:
        values = apply_arr_filter(arr, values)
    dbr_type = sub.data_type
    count = sub.count or min(values_count(values, dbr_type), sub.channel.max_count)
    payload = dbr_payload(dbr_type, count, metadata, values)
    return payload + pad(len(payload)), count


_STSACK = struct.Struct(">hhHH40s")


def stsack_payload(sts_metadata, values, alarm) -> bytes:
    """DBR_STSACK_STRING from a DBR_STS_STRING read plus the PV's ChannelAlarm.

    EPICS puts the value (as a string) in the ``value`` field; caproto's own read puts
    the alarm string there instead, hence this builder.
    """
    value = values
    if isinstance(values, (list, tuple) + backend.array_types):
        value = values[0] if len(values) else b""  # an empty array: an empty string
    if isinstance(value, str):
        value = value.encode("latin-1")
    return _STSACK.pack(sts_metadata.status, sts_metadata.severity,
                        1 if alarm.must_acknowledge_transient else 0,
                        int(alarm.severity_to_acknowledge), bytes(value)[:39])


def values_count(values, data_type: int) -> int:
    """Number of wire elements in ``values`` (as returned by ``ChannelData.read``)."""
    if isinstance(values, (bytes, bytearray)):
        return len(values) if native_type(ChannelType(data_type)) == ChannelType.CHAR else 1
    if isinstance(values, (list, tuple) + backend.array_types):
        return len(values)
    return 1


def split_messages(buffer: bytes, max_payload: int
                   ) -> Tuple[List[Tuple[int, int, int, int, int, int, memoryview]], int]:
    """Cut complete messages off the front of ``buffer``.

    Args:
        buffer: received bytes, starting at a message boundary.
        max_payload: largest payload accepted, in bytes.

    Returns:
        ``(messages, consumed)``: each message is ``(command, data_type, count, p1, p2,
        header_len, payload)`` with ``payload`` a memoryview into ``buffer``; ``consumed``
        is where the first incomplete message starts.

    Raises:
        ValueError: a header announces a payload larger than ``max_payload`` (the peer
            broke the protocol or exceeded EPICS_CA_MAX_ARRAY_BYTES; the circuit must close).
    """
    out = []
    view = memoryview(buffer)
    end = len(view)
    pos = 0
    unpack = HEADER.unpack_from
    while end - pos >= 16:
        command, size, data_type, count, p1, p2 = unpack(view, pos)
        hlen = 16
        if size == 0xFFFF and count == 0:
            if end - pos < 24:
                break
            size, count = EXT_SIZE.unpack_from(view, pos + 16)
            hlen = 24
        if size > max_payload:
            raise ValueError(f"payload of {size} bytes exceeds the limit of {max_payload}")
        if end - pos < hlen + size:
            break
        out.append((command, data_type, count, p1, p2, hlen,
                    view[pos + hlen:pos + hlen + size]))
        pos += hlen + size
    return out, pos


def search_reply(port: int, cid: int) -> bytes:
    """SEARCH reply telling the client to connect to ``port`` on the datagram's source IP."""
    return HEADER.pack(SEARCH, 8, port, 0, 0xFFFFFFFF, cid) + struct.pack(">H6x", CA_MINOR_VERSION)


def not_found_reply(client_version: int, cid: int) -> bytes:
    """NOT_FOUND reply for a search that asked for one (DO_REPLY)."""
    return HEADER.pack(NOT_FOUND, 0, DO_REPLY, client_version, cid, cid)


def beacon(port: int, beacon_id: int, address: int) -> bytes:
    """RSRV_IS_UP beacon for a server on ``port``; ``address`` is the IPv4 as an integer."""
    return HEADER.pack(RSRV_IS_UP, 0, CA_MINOR_VERSION, port, beacon_id, address)


def parse_search(datagram: bytes) -> Tuple[bool, List[Tuple[str, int, int, int]]]:
    """Read a search datagram.

    Returns:
        ``(version_seen, searches)``; each search is ``(name, reply_flag, client_version, cid)``.
        Unknown commands are skipped; a truncated trailing message is ignored.
    """
    searches = []
    version_seen = False
    view = memoryview(datagram)
    pos, end = 0, len(view)
    while end - pos >= 16:
        command, size, data_type, count, p1, _ = HEADER.unpack_from(view, pos)
        if end - pos - 16 < size:
            break
        if command == SEARCH:
            name = decode_string(view[pos + 16:pos + 16 + size])
            searches.append((name, data_type, count, p1))
        elif command == VERSION:
            version_seen = True
        pos += 16 + size
    return version_seen, searches


def unpack_event_mask(payload: memoryview) -> int | None:
    """The mask of an EVENT_ADD payload, or None if the payload is too short."""
    if len(payload) < 14:
        return None
    return EVENT_MASK.unpack_from(payload, 0)[3]


_NUMBER_CODES = {int(ChannelType.INT): "h", int(ChannelType.FLOAT): "f",
                 int(ChannelType.LONG): "i", int(ChannelType.DOUBLE): "d"}


def numbers_fit(data_type: int, numbers: List[float]) -> bool:
    """Whether ``numbers`` fit plain INT, FLOAT, LONG or DOUBLE elements (no integer out of
    range, no float beyond FLOAT's range)."""
    try:
        struct.pack(f">{len(numbers)}{_NUMBER_CODES[data_type]}", *numbers)
    except (struct.error, OverflowError):
        return False
    return True
