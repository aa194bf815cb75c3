"""Channel Access 4.13 messages as a client sends and receives them (sans-I/O).

Requests are built by plain functions returning ``bytes``; replies are read by
:func:`read_messages`, which takes the bytes received so far and returns the complete
messages as :class:`Reply` tuples plus the number of bytes used (the rest waits for more data).
The same reader serves TCP circuits and UDP datagrams (search replies, beacons).

A message is a 16-byte big-endian header ``command, payload size, data type, count,
parameter 1, parameter 2``, an 8-byte extension with the real size and count when either
does not fit 16 bits, then the payload padded to a multiple of 8 bytes.
"""

from __future__ import annotations

import struct
from typing import Any, List, NamedTuple, Tuple

#: Protocol minor version this client speaks.
MINOR_VERSION = 13
#: The priority a circuit is opened with (0 = lowest, as libca's default).
DEFAULT_PRIORITY = 0

VERSION = 0
EVENT_ADD = 1
EVENT_CANCEL = 2
READ = 3
WRITE = 4
SEARCH = 6
EVENTS_OFF = 8
EVENTS_ON = 9
READ_SYNC = 10
ERROR = 11
CLEAR_CHANNEL = 12
RSRV_IS_UP = 13
NOT_FOUND = 14
READ_NOTIFY = 15
REPEATER_CONFIRM = 17
CREATE_CHAN = 18
WRITE_NOTIFY = 19
CLIENT_NAME = 20
HOST_NAME = 21
ACCESS_RIGHTS = 22
ECHO = 23
REPEATER_REGISTER = 24
CREATE_CH_FAIL = 26
SERVER_DISCONN = 27

#: Search flag asking servers not to answer names they do not have.
DONT_REPLY = 5
#: Event mask bits (``DBE_VALUE | DBE_ALARM`` is pyepics' and libca's default).
DBE_VALUE, DBE_LOG, DBE_ALARM, DBE_PROPERTY = 1, 2, 4, 8
#: ECA status codes a client looks at (success has the low bit set).
ECA_NORMAL = 1
ECA_NOWTACCESS = 376

HEADER = struct.Struct(">HHHHII")
_EXTENSION = struct.Struct(">II")
_EVENT_MASK = struct.Struct(">fffH2x")
_SEARCH_REPLY = struct.Struct(">H")
_PADS = [b"\0" * ((8 - n) % 8) for n in range(8)]


class Reply(NamedTuple):
    """One received message: the raw header fields and the payload (a memoryview into the
    received buffer, valid until that buffer changes: copy what you keep).

    How the parameters read, per command: SEARCH ``(p1, p2) = (server IPv4 or 0xFFFFFFFF for
    "the sender", cid)`` and ``data_type`` = server port; CREATE_CHAN ``(cid, sid)`` with the
    native type and count; ACCESS_RIGHTS ``(cid, rights)``; READ_NOTIFY, WRITE_NOTIFY,
    EVENT_ADD ``(ECA status, ioid or subscription id)``; ERROR ``(cid, ECA status)`` with the
    offending request's header and a text in the payload; RSRV_IS_UP ``(beacon id, server
    IPv4)`` with the port in ``count``; CREATE_CH_FAIL and SERVER_DISCONN ``(cid, -)``.
    """

    command: int
    data_type: int
    count: int
    p1: int
    p2: int
    payload: Any


def _pad(size: int) -> bytes:
    return _PADS[size % 8]


def message(command: int, data_type: int = 0, count: int = 0, p1: int = 0, p2: int = 0,
            payload: bytes = b"") -> bytes:
    """A complete message: header (extended when size or count exceed 16 bits) and
    ``payload`` padded to 8 bytes."""
    padding = _pad(len(payload))
    size = len(payload) + len(padding)
    if size < 0xFFFF and count < 0xFFFF:
        head = HEADER.pack(command, size, data_type, count, p1, p2)
    else:
        head = HEADER.pack(command, 0xFFFF, data_type, 0, p1, p2) + _EXTENSION.pack(size, count)
    return head + payload + padding


def _name(text: str) -> bytes:
    return text.encode("latin-1") + b"\0"


def version(priority: int = DEFAULT_PRIORITY) -> bytes:
    """VERSION: first message of a circuit (with its priority) and of a search datagram."""
    return HEADER.pack(VERSION, 0, priority, MINOR_VERSION, 0, 0)


def host_name(name: str) -> bytes:
    """HOST_NAME: the client's host, used by the server's access security."""
    return message(HOST_NAME, payload=_name(name))


def client_name(name: str) -> bytes:
    """CLIENT_NAME: the client's user name, used by the server's access security."""
    return message(CLIENT_NAME, payload=_name(name))


def search(name: str, cid: int) -> bytes:
    """SEARCH for ``name`` under client channel id ``cid`` (servers without it stay silent).

    Raises:
        UnicodeEncodeError: ``name`` is not latin-1.
    """
    return message(SEARCH, DONT_REPLY, MINOR_VERSION, cid, cid, _name(name))


def create_channel(name: str, cid: int) -> bytes:
    """CREATE_CHAN for ``name`` on a circuit; the server answers CREATE_CHAN (or
    CREATE_CH_FAIL) quoting ``cid``, preceded by ACCESS_RIGHTS."""
    return message(CREATE_CHAN, 0, 0, cid, MINOR_VERSION, _name(name))


def clear_channel(sid: int, cid: int) -> bytes:
    """CLEAR_CHANNEL of the channel the server knows as ``sid``."""
    return HEADER.pack(CLEAR_CHANNEL, 0, 0, 0, sid, cid)


def read_notify(sid: int, ioid: int, data_type: int, count: int) -> bytes:
    """READ_NOTIFY of ``count`` elements (0 = the server's current length) as ``data_type``;
    answered by READ_NOTIFY quoting ``ioid``."""
    return message(READ_NOTIFY, data_type, count, sid, ioid)


def write(sid: int, ioid: int, data_type: int, count: int, payload: bytes,
          notify: bool = True) -> bytes:
    """WRITE_NOTIFY (answered by WRITE_NOTIFY quoting ``ioid`` once processing completed)
    or, with ``notify=False``, a plain WRITE that gets no answer."""
    return message(WRITE_NOTIFY if notify else WRITE, data_type, count, sid, ioid, payload)


def event_add(sid: int, subid: int, data_type: int, count: int,
              mask: int = DBE_VALUE | DBE_ALARM) -> bytes:
    """EVENT_ADD: subscribe to ``mask`` events of ``count`` elements (0 = current length)."""
    return message(EVENT_ADD, data_type, count, sid, subid, _EVENT_MASK.pack(0, 0, 0, mask))


def event_cancel(sid: int, subid: int, data_type: int, count: int) -> bytes:
    """EVENT_CANCEL of subscription ``subid``; the server confirms with an empty EVENT_ADD."""
    return HEADER.pack(EVENT_CANCEL, 0, data_type, count, sid, subid)


def echo() -> bytes:
    """ECHO: a keep-alive the server answers with ECHO."""
    return HEADER.pack(ECHO, 0, 0, 0, 0, 0)


def repeater_register(address: int = 0) -> bytes:
    """REPEATER_REGISTER, sent to the CA repeater to receive the beacons it relays
    (``address``: our IPv4 as an integer, 0 = let the repeater use the sender's)."""
    return HEADER.pack(REPEATER_REGISTER, 0, 0, 0, 0, address)


def read_messages(buffer: Any, max_payload: int = 1 << 31) -> Tuple[List[Reply], int]:
    """Cut the complete messages off the front of ``buffer``.

    Args:
        buffer: bytes received, starting at a message boundary.
        max_payload: largest payload accepted, in bytes.

    Returns:
        ``(replies, used)``: the complete messages, and where the first incomplete one starts
        (``buffer[used:]`` must be kept for the next call).

    Raises:
        ValueError: a header announces a payload over ``max_payload`` (the circuit must be
            dropped: the stream cannot be resynchronised).
    """
    view = memoryview(buffer)
    end, pos = len(view), 0
    replies: List[Reply] = []
    unpack = HEADER.unpack_from
    while end - pos >= 16:
        command, size, data_type, count, p1, p2 = unpack(view, pos)
        start = pos + 16
        if size == 0xFFFF and count == 0:
            if end - pos < 24:
                break
            size, count = _EXTENSION.unpack_from(view, start)
            start += 8
        if size > max_payload:
            raise ValueError(f"payload of {size} bytes exceeds the limit of {max_payload}")
        if end - start < size:
            break
        replies.append(Reply(command, data_type, count, p1, p2, view[start:start + size]))
        pos = start + size
    return replies, pos


def search_reply_version(reply: Reply) -> int:
    """The server's minor version in a SEARCH reply (0 when the payload is missing)."""
    if len(reply.payload) < 2:
        return 0
    return _SEARCH_REPLY.unpack_from(reply.payload, 0)[0]


def error_text(reply: Reply) -> Tuple[int, str]:
    """``(command of the offending request, message)`` of an ERROR reply."""
    payload = bytes(reply.payload)
    command = HEADER.unpack_from(payload, 0)[0] if len(payload) >= 16 else -1
    return command, payload[16:].split(b"\0", 1)[0].decode("latin-1")


def error_request(reply: Reply) -> Reply:
    """The header of the request an ERROR reply refers to (``ioid`` of a failed
    READ/WRITE_NOTIFY in ``p2``), with an empty payload.

    Raises:
        ValueError: the payload does not hold a header.
    """
    if len(reply.payload) < 16:
        raise ValueError("ERROR reply without the offending header")
    command, _, data_type, count, p1, p2 = HEADER.unpack_from(reply.payload, 0)
    return Reply(command, data_type, count, p1, p2, b"")


#: ECA codes a server sends in replies: ``{code: (name, meaning)}`` (subset of EPICS'
#: caerr.h; unknown codes are reported by number).
ECA_TEXT = {
    1: ("ECA_NORMAL", "normal successful completion"),
    72: ("ECA_TOLARGE", "transfer larger than EPICS_CA_MAX_ARRAY_BYTES"),
    106: ("ECA_DISCONNCHID", "channel is disconnected"),
    114: ("ECA_BADTYPE", "invalid data type"),
    142: ("ECA_INTERNAL", "internal failure"),
    152: ("ECA_GETFAIL", "channel read request failed"),
    160: ("ECA_PUTFAIL", "channel write request failed"),
    168: ("ECA_ADDFAIL", "channel subscription request failed"),
    176: ("ECA_BADCOUNT", "invalid element count"),
    186: ("ECA_BADSTR", "invalid string"),
    192: ("ECA_DISCONN", "virtual circuit disconnect"),
    330: ("ECA_BADMASK", "invalid event selection mask"),
    368: ("ECA_NORDACCESS", "read access denied"),
    376: ("ECA_NOWTACCESS", "write access denied"),
    400: ("ECA_NOCONVERT", "no reasonable data conversion between client and server types"),
    410: ("ECA_BADCHID", "invalid channel identifier"),
}


def eca_ok(status: int) -> bool:
    """Whether an ECA status code means success (its severity bit 0 is set)."""
    return bool(status & 1)


def eca_name(status: int) -> Tuple[str, str]:
    """``(name, meaning)`` of an ECA code, e.g. ``('ECA_PUTFAIL', 'channel write request
    failed')``; ``('ECA_<code>', 'status <code>')`` for codes not in :data:`ECA_TEXT`."""
    return ECA_TEXT.get(status, (f"ECA_{status}", f"status {status}"))
