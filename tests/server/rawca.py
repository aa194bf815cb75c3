"""A deliberately small Channel Access client that speaks raw bytes; used only by tests.

The framing (16-byte header, 24-byte extended header, 8-byte payload padding) is written here
with :mod:`struct`, so these tests are a client independent of the servers under test. Only the
DBR metadata layouts are taken from ``caproto._dbr`` to decode payloads.

Everything talks to 127.0.0.1. Timeouts are in seconds; a wait that runs out raises
:class:`TimeoutError`, a peer that closes raises :class:`ConnectionError`.
"""

from __future__ import annotations

import ctypes
import enum
import socket
import struct
import time
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from caproto._dbr import DBR_TYPES

HEADER = struct.Struct(">HHHHII")
EXTENDED = struct.Struct(">II")
MINOR_VERSION = 13
DO_REPLY, DONT_REPLY = 10, 5
DBE_VALUE, DBE_LOG, DBE_ALARM, DBE_PROPERTY = 1, 2, 4, 8
ECA_NORMAL = 1
ECA_BADTYPE = 114
ECA_BADCOUNT = 176
ECA_PUTFAIL = 160
LOOPBACK = "127.0.0.1"


class Cmd(enum.IntEnum):
    """CA command codes."""

    VERSION = 0
    EVENT_ADD = 1
    EVENT_CANCEL = 2
    WRITE = 4
    SEARCH = 6
    EVENTS_OFF = 8
    EVENTS_ON = 9
    ERROR = 11
    CLEAR_CHANNEL = 12
    NOT_FOUND = 14
    READ_NOTIFY = 15
    CREATE_CHAN = 18
    WRITE_NOTIFY = 19
    CLIENT_NAME = 20
    HOST_NAME = 21
    ACCESS_RIGHTS = 22
    ECHO = 23
    CREATE_CH_FAIL = 26
    SERVER_DISCONN = 27


# Element dtype of each native type (DBR code % 7) and of the special types.
_ELEMENT = {0: "S40", 1: ">i2", 2: ">f4", 3: ">u2", 4: "u1", 5: ">i4", 6: ">f8"}
_SPECIAL_ELEMENT = {35: ">u2", 36: ">u2", 37: "S40", 38: "S40"}
# dbr_gr_string and dbr_ctrl_string are both dbr_sts_string in EPICS (db_access.h).
_META_SIZE_OVERRIDE = {21: 4, 28: 4, 35: 0, 36: 0, 37: 8, 38: 0}


def element_dtype(dbr_type: int) -> np.dtype:
    """numpy dtype of one value element of ``dbr_type`` as it is on the wire."""
    if dbr_type in _SPECIAL_ELEMENT:
        return np.dtype(_SPECIAL_ELEMENT[dbr_type])
    return np.dtype(_ELEMENT[dbr_type % 7])


def metadata_size(dbr_type: int) -> int:
    """Bytes of metadata that precede the values of ``dbr_type``."""
    if dbr_type in _META_SIZE_OVERRIDE:
        return _META_SIZE_OVERRIDE[dbr_type]
    if dbr_type < 7:
        return 0
    return ctypes.sizeof(DBR_TYPES[dbr_type])


def payload_size(dbr_type: int, count: int) -> int:
    """Unpadded payload bytes of ``count`` elements of ``dbr_type``."""
    return metadata_size(dbr_type) + count * element_dtype(dbr_type).itemsize


def pad8(data: bytes) -> bytes:
    """``data`` padded with zeros to a multiple of 8 bytes."""
    return data + b"\0" * (-len(data) % 8)


def frame(command: int, payload: bytes = b"", data_type: int = 0, count: int = 0,
          p1: int = 0, p2: int = 0, *, pad: bool = True) -> bytes:
    """One CA message; extended header when the payload or count is 0xffff or more."""
    if pad:
        payload = pad8(payload)
    if len(payload) >= 0xFFFF or count >= 0xFFFF:
        head = HEADER.pack(command, 0xFFFF, data_type, 0, p1, p2)
        return head + EXTENDED.pack(len(payload), count) + payload
    return HEADER.pack(command, len(payload), data_type, count, p1, p2) + payload


@dataclass
class Message:
    """One parsed CA message (payload without the header, padding included)."""

    command: int
    data_type: int
    count: int
    p1: int
    p2: int
    payload: bytes

    def __repr__(self) -> str:
        try:
            name = Cmd(self.command).name
        except ValueError:
            name = str(self.command)
        return (f"Message({name}, type={self.data_type}, count={self.count}, p1={self.p1}, "
                f"p2={self.p2}, {len(self.payload)} B)")


def _header(buffer) -> Optional[Tuple[int, int, int, int, int, int, int]]:
    """``(command, data_type, count, p1, p2, header length, payload size)`` of the first
    message in ``buffer``, or ``None`` while its header is incomplete."""
    if len(buffer) < HEADER.size:
        return None
    command, size, data_type, count, p1, p2 = HEADER.unpack_from(buffer)
    if size != 0xFFFF or count != 0:
        return command, data_type, count, p1, p2, HEADER.size, size
    if len(buffer) < HEADER.size + EXTENDED.size:
        return None
    size, count = EXTENDED.unpack_from(buffer, HEADER.size)
    return command, data_type, count, p1, p2, HEADER.size + EXTENDED.size, size


def parse(buffer: bytes) -> Tuple[List[Message], bytes]:
    """Split ``buffer`` into complete messages and the unparsed remainder."""
    messages = []
    view = memoryview(buffer)
    while True:
        header = _header(view)
        if header is None or len(view) < header[5] + header[6]:
            return messages, bytes(view)
        command, data_type, count, p1, p2, start, size = header
        messages.append(Message(command, data_type, count, p1, p2,
                                bytes(view[start:start + size])))
        view = view[start + size:]


def _complete(buffer) -> bool:
    """Whether ``buffer`` holds at least one complete message."""
    header = _header(buffer)
    return header is not None and len(buffer) >= header[5] + header[6]


def encode_values(dbr_type: int, values: Iterable) -> bytes:
    """Wire bytes of ``values`` as elements of the plain type ``dbr_type``."""
    dtype = element_dtype(dbr_type)
    if dtype.kind == "S":
        return b"".join(v.encode()[:39].ljust(40, b"\0") if isinstance(v, str)
                        else bytes(v).ljust(40, b"\0") for v in values)
    return np.asarray(list(values) if not isinstance(values, np.ndarray) else values,
                      dtype=dtype).tobytes()


def decode(dbr_type: int, count: int, payload: bytes):
    """``(metadata, values)`` of a reply payload.

    ``metadata`` is the ``caproto._dbr`` ctypes structure (``None`` for plain and special
    types with no metadata); ``values`` is a numpy array, or a list of ``str`` for strings.
    """
    meta_size = metadata_size(dbr_type)
    meta = None
    if meta_size and dbr_type not in _META_SIZE_OVERRIDE:
        meta = DBR_TYPES[dbr_type].from_buffer_copy(payload[:meta_size])
    elif dbr_type in (21, 28, 37):
        meta = DBR_TYPES[7].from_buffer_copy(payload[:4])
    dtype = element_dtype(dbr_type)
    end = meta_size + count * dtype.itemsize
    if len(payload) < end:
        raise ValueError(f"payload of {len(payload)} B too short for {count} x type {dbr_type}")
    values = np.frombuffer(payload[meta_size:end], dtype=dtype)
    if dtype.kind == "S":
        return meta, [v.split(b"\0", 1)[0].decode("latin-1") for v in values]
    return meta, values


@dataclass
class Channel:
    """A channel as created on a circuit."""

    name: str
    cid: int
    sid: int
    native_type: int
    native_count: int
    access: int


class Circuit:
    """A raw TCP virtual circuit to a CA server on 127.0.0.1.

    Args:
        port: the server's TCP port.
        timeout: seconds to wait for each reply by default.
        handshake: send VERSION, HOST_NAME and CLIENT_NAME right away.
    """

    def __init__(self, port: int, *, timeout: float = 5.0, handshake: bool = True):
        self.timeout = timeout
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        self._pending: List[Message] = []
        self._next_id = 1
        if handshake:
            self.send(frame(Cmd.VERSION, data_type=0, count=MINOR_VERSION)
                      + frame(Cmd.HOST_NAME, b"localhost\0")
                      + frame(Cmd.CLIENT_NAME, b"rawca\0"))

    def __enter__(self) -> Circuit:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self, timeout: Optional[float] = None) -> Message:
        """The next message that is not VERSION (servers send theirs unprompted)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            while self._pending:
                message = self._pending.pop(0)
                if message.command != Cmd.VERSION:
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no CA message within the timeout")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout as exc:
                raise TimeoutError("no CA message within the timeout") from exc
            if not chunk:
                raise ConnectionError("server closed the circuit")
            self._buffer += chunk
            if _complete(self._buffer):
                self._pending, rest = parse(bytes(self._buffer))
                self._buffer = bytearray(rest)

    def expect(self, *commands: int, timeout: Optional[float] = None,
               ignore: Sequence[int] = ()) -> Message:
        """The next message, which must be one of ``commands`` (``ignore`` ones are skipped)."""
        while True:
            message = self.receive(timeout)
            if message.command in ignore:
                continue
            if message.command not in commands:
                raise AssertionError(f"expected {commands}, got {message!r}")
            return message

    def quiet(self, duration: float) -> List[Message]:
        """Every message that arrives within ``duration`` seconds."""
        got = []
        deadline = time.monotonic() + duration
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return got
            try:
                got.append(self.receive(remaining))
            except TimeoutError:
                return got

    # -- requests ----------------------------------------------------------------------------
    def create_channel(self, name: str) -> Channel:
        """ACCESS_RIGHTS then CREATE_CHAN; raises LookupError on CREATE_CH_FAIL."""
        cid = self.new_id()
        self.send(frame(Cmd.CREATE_CHAN, name.encode() + b"\0", p1=cid, p2=MINOR_VERSION))
        access = None
        while True:
            message = self.expect(Cmd.ACCESS_RIGHTS, Cmd.CREATE_CHAN, Cmd.CREATE_CH_FAIL)
            assert message.p1 == cid, message
            if message.command == Cmd.CREATE_CH_FAIL:
                raise LookupError(name)
            if message.command == Cmd.ACCESS_RIGHTS:
                access = message.p2
                continue
            assert access is not None, "CREATE_CHAN reply before ACCESS_RIGHTS"
            return Channel(name, cid, message.p2, message.data_type, message.count, access)

    def create_channels(self, names: Sequence[str]) -> List[Channel]:
        """Create many channels with every request sent at once (pipelined), in order.

        Raises:
            LookupError: a name got CREATE_CH_FAIL.
        """
        cids = [self.new_id() for _ in names]
        self.send(b"".join(frame(Cmd.CREATE_CHAN, name.encode() + b"\0", p1=cid,
                                 p2=MINOR_VERSION) for name, cid in zip(names, cids)))
        by_cid: Dict[int, Channel] = {}
        access: Dict[int, int] = {}
        while len(by_cid) < len(cids):
            message = self.expect(Cmd.ACCESS_RIGHTS, Cmd.CREATE_CHAN, Cmd.CREATE_CH_FAIL)
            if message.command == Cmd.CREATE_CH_FAIL:
                raise LookupError(names[cids.index(message.p1)])
            if message.command == Cmd.ACCESS_RIGHTS:
                access[message.p1] = message.p2
            else:
                by_cid[message.p1] = Channel(names[cids.index(message.p1)], message.p1,
                                             message.p2, message.data_type, message.count,
                                             access.get(message.p1, -1))
        return [by_cid[cid] for cid in cids]

    def read(self, chan: Channel, data_type: Optional[int] = None,
             count: Optional[int] = None) -> Message:
        """READ_NOTIFY; returns its reply (READ_NOTIFY or ERROR)."""
        ioid = self.request_read(chan, data_type, count)
        message = self.expect(Cmd.READ_NOTIFY, Cmd.ERROR)
        assert message.p2 == ioid or message.command == Cmd.ERROR, message
        return message

    def request_read(self, chan: Channel, data_type: Optional[int] = None,
                     count: Optional[int] = None) -> int:
        ioid = self.new_id()
        self.send(frame(Cmd.READ_NOTIFY, b"",
                        chan.native_type if data_type is None else data_type,
                        chan.native_count if count is None else count, chan.sid, ioid))
        return ioid

    def get(self, chan: Channel, data_type: Optional[int] = None, count: Optional[int] = None):
        """``(metadata, values)`` of a successful read."""
        message = self.read(chan, data_type, count)
        assert message.command == Cmd.READ_NOTIFY and message.p1 == ECA_NORMAL, message
        return decode(message.data_type, message.count, message.payload)

    def write(self, chan: Channel, values: Sequence, data_type: Optional[int] = None,
              *, notify: bool = True) -> Optional[Message]:
        """WRITE_NOTIFY (returns its reply, or an ERROR) or a plain WRITE (returns None)."""
        data_type = chan.native_type if data_type is None else data_type
        ioid = self.new_id()
        values = list(values) if not isinstance(values, np.ndarray) else values
        command = Cmd.WRITE_NOTIFY if notify else Cmd.WRITE
        self.send(frame(command, encode_values(data_type, values), data_type, len(values),
                        chan.sid, ioid))
        if not notify:
            return None
        return self.expect(Cmd.WRITE_NOTIFY, Cmd.ERROR, ignore=(Cmd.EVENT_ADD,))

    def subscribe(self, chan: Channel, mask: int = DBE_VALUE | DBE_ALARM,
                  data_type: Optional[int] = None, count: Optional[int] = None) -> int:
        """EVENT_ADD; returns the subscription id (replies come as EVENT_ADD messages)."""
        subid = self.new_id()
        payload = struct.pack(">fffHxx", 0.0, 0.0, 0.0, mask)
        self.send(frame(Cmd.EVENT_ADD, payload,
                        chan.native_type if data_type is None else data_type,
                        chan.native_count if count is None else count, chan.sid, subid))
        return subid

    def unsubscribe(self, chan: Channel, subid: int) -> None:
        self.send(frame(Cmd.EVENT_CANCEL, b"", chan.native_type, chan.native_count,
                        chan.sid, subid))

    def clear(self, chan: Channel) -> None:
        self.send(frame(Cmd.CLEAR_CHANNEL, b"", 0, 0, chan.sid, chan.cid))

    def echo(self, timeout: Optional[float] = None) -> None:
        """Round trip an ECHO; every earlier reply has then been received or queued."""
        self.send(frame(Cmd.ECHO))
        self.expect(Cmd.ECHO, timeout=timeout)


def search_frame(names: Sequence[str], *, reply: int = DONT_REPLY, first_id: int = 1) -> bytes:
    """One UDP datagram: VERSION then a SEARCH per name, ids ``first_id``, ``first_id + 1``..."""
    data = frame(Cmd.VERSION, data_type=0, count=MINOR_VERSION)
    for i, name in enumerate(names):
        data += frame(Cmd.SEARCH, name.encode() + b"\0", reply, MINOR_VERSION,
                      first_id + i, first_id + i)
    return data


def search(port: int, names: Sequence[str], *, reply: int = DONT_REPLY,
           timeout: float = 2.0, settle: float = 0.3) -> Dict[int, Message]:
    """Search ``names`` in one datagram; returns ``{search id: reply}``.

    Ids are the 1-based position in ``names``. Waits up to ``timeout`` seconds for the first
    reply, then until ``settle`` seconds pass without one (or every name has answered).
    NOT_FOUND replies are included (keyed by their p2 id as well).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.sendto(search_frame(names, reply=reply), (LOOPBACK, port))
        replies: Dict[int, Message] = {}
        wait = timeout
        while len(replies) < len(names):
            sock.settimeout(wait)
            try:
                data, _ = sock.recvfrom(65536)
            except socket.timeout:
                break
            for message in parse(data)[0]:
                if message.command in (Cmd.SEARCH, Cmd.NOT_FOUND):
                    replies[message.p2] = message
            wait = settle
        return replies
