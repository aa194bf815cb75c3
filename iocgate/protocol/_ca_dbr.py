"""Channel Access DBR payloads for clients: decode replies, encode put values (sans-I/O).

A DBR payload is an optional metadata block (status, severity, timestamp, units, limits, enum
strings, as the DBR family says) followed by the values, big-endian. :func:`decode` turns a
payload into ``(values, metadata)``; :func:`encode` turns put values into a payload.

DBR codes: 0-6 are the plain types STRING, SHORT, FLOAT, ENUM, CHAR, LONG, DOUBLE; adding 7
gives the STS family, 14 TIME, 21 GR and 28 CTRL. Timestamps are seconds since the EPICS epoch
(1990-01-01), converted here to POSIX seconds.
"""

from __future__ import annotations

import enum
import struct
from typing import Any, Dict, List, Sequence, Tuple

import numpy

#: POSIX time of the EPICS epoch, 1990-01-01 00:00 UTC.
EPICS_EPOCH = 631152000
#: Bytes of one DBR_STRING element (NUL included).
STRING_SIZE = 40
#: Bytes of one enum state name in GR/CTRL_ENUM.
ENUM_STRING_SIZE = 26
ENCODING = "latin-1"


class DBR(enum.IntEnum):
    """The plain (native) DBR types; ``DBR.DOUBLE + FAMILY["time"]`` is DBR_TIME_DOUBLE."""

    STRING = 0
    SHORT = 1
    FLOAT = 2
    ENUM = 3
    CHAR = 4
    LONG = 5
    DOUBLE = 6


#: Offset of each DBR family from the plain type.
FAMILY = {"native": 0, "sts": 7, "time": 14, "gr": 21, "ctrl": 28}
#: pyepics' names of the plain types (``time_`` / ``ctrl_`` prefixed for the families).
TYPE_NAMES = ("string", "short", "float", "enum", "char", "long", "double")
_PREFIX = {0: "", 7: "sts_", 14: "time_", 21: "gr_", 28: "ctrl_"}

#: numpy dtype of one element on the wire, per plain type (STRING handled apart).
WIRE_DTYPE = {DBR.SHORT: numpy.dtype(">i2"), DBR.FLOAT: numpy.dtype(">f4"),
              DBR.ENUM: numpy.dtype(">u2"), DBR.CHAR: numpy.dtype("u1"),
              DBR.LONG: numpy.dtype(">i4"), DBR.DOUBLE: numpy.dtype(">f8")}
ELEMENT_SIZE = {DBR.STRING: STRING_SIZE, **{t: d.itemsize for t, d in WIRE_DTYPE.items()}}

_PLAIN = tuple(DBR)
# One element of each numeric type, unpacked without numpy (the common scalar case).
_SCALAR = {DBR.SHORT: struct.Struct(">h"), DBR.FLOAT: struct.Struct(">f"),
           DBR.ENUM: struct.Struct(">H"), DBR.CHAR: struct.Struct(">B"),
           DBR.LONG: struct.Struct(">i"), DBR.DOUBLE: struct.Struct(">d")}
# GR limit order on the wire; CTRL adds the two control limits.
_GR_LIMITS = ("upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
              "upper_warning_limit", "lower_warning_limit", "lower_alarm_limit")
_CTRL_LIMITS = _GR_LIMITS + ("upper_ctrl_limit", "lower_ctrl_limit")
_LIMIT_CODE = {DBR.SHORT: "h", DBR.FLOAT: "f", DBR.CHAR: "B", DBR.LONG: "i", DBR.DOUBLE: "d"}


def native(data_type: int) -> DBR:
    """The plain type of a DBR code (``20`` TIME_DOUBLE -> ``DBR.DOUBLE``).

    Raises:
        ValueError: not a value-carrying DBR code (0-34).
    """
    if not 0 <= data_type <= 34:
        raise ValueError(f"DBR code {data_type} carries no value")
    return _PLAIN[data_type % 7]


def promote(plain: int, form: str) -> int:
    """The DBR code of ``form`` (``'native'``, ``'sts'``, ``'time'``, ``'gr'``, ``'ctrl'``)
    for a plain type.

    Raises:
        ValueError: unknown form.
    """
    try:
        return int(plain) + FAMILY[form]
    except KeyError:
        raise ValueError(f"form must be one of {sorted(FAMILY)}, not {form!r}") from None


def type_name(data_type: int) -> str:
    """pyepics' name of a DBR code: ``'double'``, ``'time_double'``, ``'ctrl_enum'`` ..."""
    return _PREFIX[data_type - data_type % 7] + TYPE_NAMES[data_type % 7]


def _metadata_layout(data_type: int) -> Tuple[struct.Struct, Tuple[str, ...]]:
    """``(struct, field names)`` of the metadata block of ``data_type``; ``_`` fields are
    padding, ``units`` and ``strs`` are raw byte fields decoded afterwards."""
    plain, family = data_type % 7, data_type - data_type % 7
    if family == 0:
        return struct.Struct(">"), ()
    if family == 7 or (family >= 21 and plain == DBR.STRING):
        pad = {DBR.CHAR: "x", DBR.DOUBLE: "4x"}.get(DBR(plain), "")
        return struct.Struct(">hh" + pad), ("status", "severity")
    if family == 14:
        pad = {DBR.SHORT: "2x", DBR.ENUM: "2x", DBR.CHAR: "3x", DBR.DOUBLE: "4x"}
        return (struct.Struct(">hhII" + pad.get(DBR(plain), "")),
                ("status", "severity", "seconds", "nanoseconds"))
    if plain == DBR.ENUM:
        return (struct.Struct(f">hhh{16 * ENUM_STRING_SIZE}s"),
                ("status", "severity", "no_str", "strs"))
    limits = _GR_LIMITS if family == 21 else _CTRL_LIMITS
    code = _LIMIT_CODE[DBR(plain)] * len(limits)
    if plain in (DBR.FLOAT, DBR.DOUBLE):
        return (struct.Struct(f">hhh2x8s{code}"),
                ("status", "severity", "precision", "units") + limits)
    tail = "x" if plain == DBR.CHAR else ""
    return struct.Struct(f">hh8s{code}{tail}"), ("status", "severity", "units") + limits


_LAYOUTS = {code: _metadata_layout(code) for code in range(35)}
#: Bytes of the metadata block in front of the values, per DBR code 0-34.
METADATA_SIZE = {code: layout.size for code, (layout, _) in _LAYOUTS.items()}


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(ENCODING)


def decode_metadata(data_type: int, payload: Any) -> Dict[str, Any]:
    """The metadata of a payload as pyepics names it: ``status``, ``severity``,
    ``timestamp`` (POSIX s, float, to the microsecond), ``posixseconds``, ``nanoseconds``,
    ``units``, ``precision``, the limits, ``enum_strs`` (tuple) -- those the DBR type
    carries.

    Raises:
        ValueError: payload shorter than the metadata block.
    """
    layout, names = _LAYOUTS[data_type]
    if len(payload) < layout.size:
        raise ValueError(f"DBR {data_type} payload of {len(payload)} bytes is shorter than "
                         f"its {layout.size}-byte metadata")
    md = dict(zip(names, layout.unpack_from(payload, 0)))
    if "seconds" in md:
        seconds = md.pop("seconds")
        md["posixseconds"] = seconds + EPICS_EPOCH
        # microseconds, as libca users (pyepics) see it
        md["timestamp"] = md["posixseconds"] + 1e-6 * (md["nanoseconds"] // 1000)
    if "units" in md:
        md["units"] = _text(md["units"])
    if "strs" in md:
        raw, count = md.pop("strs"), max(0, min(16, md.pop("no_str")))
        md["enum_strs"] = tuple(_text(raw[i * ENUM_STRING_SIZE:(i + 1) * ENUM_STRING_SIZE])
                                for i in range(count))
    return md


def decode_values(data_type: int, count: int, payload: Any) -> Any:
    """The values after the metadata: a list of ``str`` for STRING types, a one-item list for
    one numeric element, else a numpy array in native byte order (length ``count``; a short
    payload gives fewer elements)."""
    plain = native(data_type)
    start = METADATA_SIZE[data_type]
    if count == 1 and plain != DBR.STRING:
        scalar = _SCALAR[plain]
        if len(payload) - start >= scalar.size:
            return list(scalar.unpack_from(payload, start))
    if plain == DBR.STRING:
        raw = bytes(payload[start:start + STRING_SIZE * count])
        return [_text(raw[i:i + STRING_SIZE]) for i in range(0, len(raw), STRING_SIZE)]
    dtype = WIRE_DTYPE[plain]
    count = min(count, (len(payload) - start) // dtype.itemsize)
    array = numpy.frombuffer(payload, dtype=dtype, count=max(count, 0), offset=start)
    return array.astype(dtype.newbyteorder("="))


def decode(data_type: int, count: int, payload: Any) -> Tuple[Any, Dict[str, Any]]:
    """``(values, metadata)`` of a DBR payload; see :func:`decode_values` and
    :func:`decode_metadata`.

    Raises:
        ValueError: not a value-carrying DBR code, or a payload too short for its metadata.
    """
    metadata = decode_metadata(data_type, payload)
    return decode_values(data_type, count, payload), metadata


def encode(plain: int, values: Sequence[Any]) -> bytes:
    """The payload of a plain-type put of ``values`` (``str``/``bytes`` items for STRING,
    numbers otherwise), unpadded.

    Raises:
        ValueError: a STRING item longer than 39 bytes, or a value the type cannot hold.
        TypeError: an item of the wrong kind (e.g. text for a numeric type).
    """
    plain = DBR(plain)
    if plain == DBR.STRING:
        items: List[bytes] = []
        for item in values:
            raw = item.encode(ENCODING) if isinstance(item, str) else bytes(item)
            if len(raw) >= STRING_SIZE:
                raise ValueError(f"{raw!r} is longer than {STRING_SIZE - 1} bytes")
            items.append(raw.ljust(STRING_SIZE, b"\0"))
        return b"".join(items)
    array = numpy.asarray(values)
    if array.dtype.kind in "USO":
        raise TypeError(f"cannot write {array.dtype.kind!r} data to a {plain.name} channel")
    if array.dtype.kind == "f" and plain not in (DBR.FLOAT, DBR.DOUBLE):
        array = numpy.round(array)
    return array.astype(WIRE_DTYPE[plain]).tobytes()


def payload_size(data_type: int, count: int) -> int:
    """Bytes of a full payload of ``count`` elements of ``data_type``, unpadded."""
    return METADATA_SIZE[data_type] + ELEMENT_SIZE[native(data_type)] * count
