"""Conversions with no I/O, shared by the sync and async faces.

Decoded CA replies (values and metadata from :mod:`iocgate.protocol._ca_dbr`) become
pyepics-style values; Python values become CA put values. Nothing here touches a socket.
"""

from __future__ import annotations

import functools
import math
import socket
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ..protocol import _ca_client as wire
from ..protocol._ca_dbr import DBR, promote, type_name as dbr_type_name
from ._errors import CAError, CAPutError

STR_ENCODING = "latin-1"
#: Bytes of a CA STRING, the terminating NUL included.
MAX_STRING_SIZE = 40
FORMS = ("native", "time", "ctrl")
_LIMITS = ("upper_disp_limit", "lower_disp_limit", "upper_alarm_limit", "lower_alarm_limit",
           "upper_warning_limit", "lower_warning_limit", "upper_ctrl_limit", "lower_ctrl_limit")
#: pyepics keys a PV keeps, in its order; value callbacks receive all of them.
PV_KEYS = ("pvname", "value", "char_value", "status", "ftype", "type", "chid", "count", "nelm",
           "severity", "timestamp", "posixseconds", "nanoseconds", "precision", "units",
           "enum_strs", "monitor_delta", *_LIMITS, "host", "access", "read_access",
           "write_access")


def data_type_for(native: int, form: str) -> int:
    """The DBR code to request for ``form`` (``'native'``, ``'time'`` or ``'ctrl'``).

    Raises:
        ValueError: unknown form.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {sorted(FORMS)}, not {form!r}")
    return promote(native, form)


def type_name(data_type: int) -> str:
    """pyepics' name for a DBR code, e.g. ``'time_double'`` or ``'ctrl_enum'``; pyepics names
    the 16-bit type ``'int'`` but its time and ctrl forms ``'time_short'``/``'ctrl_short'``."""
    return "int" if data_type == DBR.SHORT else dbr_type_name(data_type)


def access_string(rights: Optional[int]) -> Tuple[str, bool, bool]:
    """``(access, read_access, write_access)`` as pyepics spells them, from the CA rights bits
    (1 = read, 2 = write)."""
    rights = rights or 0
    read, write = bool(rights & 1), bool(rights & 2)
    text = {(True, True): "read/write", (True, False): "read-only",
            (False, True): "write-only", (False, False): "no access"}[(read, write)]
    return text, read, write


def raw_value(data: Any, native: int) -> Any:
    """The value carried by a reply: ``str`` for STRING (a list of ``str`` for STRING
    arrays of more than one element), otherwise the numpy array as decoded."""
    if native == DBR.STRING:
        return data[0] if len(data) == 1 else list(data)
    return data


def python_value(value: Any, native: DBR, nelm: int, *, count: Optional[int] = None,
                 as_numpy: bool = True) -> Any:
    """pyepics' value rules: scalars for single-element channels (``float``, ``int``, ``str``),
    numpy arrays (or lists with ``as_numpy=False``) for waveforms, STRING waveforms included
    (a numpy ``str`` array), at most ``count`` elements."""
    if value is None or (isinstance(value, str) and nelm <= 1):
        return value
    if nelm <= 1 and type(value) is list and len(value) == 1:  # one decoded number
        return value[0]
    if isinstance(value, str):  # one element in use of a STRING waveform
        value = [value]
    if nelm <= 1 and not isinstance(value, list):
        arr = np.asarray(value)
        return arr.reshape(-1)[0].item() if arr.size else None
    if count is not None:
        value = value[:count]
    if isinstance(value, list):
        return np.array(value) if as_numpy else value
    return value if as_numpy else value.tolist()


def char_value(value: Any, native: DBR, nelm: int, data_type: DBR,
               precision: Optional[int], enum_strs: Optional[Sequence[str]]) -> Any:
    """The string form pyepics shows as ``char_value`` / returns for ``as_string=True``.

    STRING waveforms give their list of ``str`` (as pyepics does); CHAR waveforms read up to
    the first NUL; floats use ``precision`` digits (``%g``-style past 1e5 or below 1e-4);
    enums their state name; other waveforms ``<array size=N, type=T>``.
    """
    if value is None:
        return "None"
    if native == DBR.STRING:
        if isinstance(value, str):
            return value if nelm <= 1 else [value]
        return list(value)
    if native == DBR.CHAR:
        codes = np.asarray(value).reshape(-1).tolist()
        if 0 in codes:
            codes = codes[:codes.index(0)]
        try:
            return "".join(chr(c) for c in codes).rstrip()
        except ValueError:
            return ""
    if nelm > 1:
        return f"<array size={np.size(value)}, type={type_name(data_type)}>"
    scalar = python_value(value, native, nelm)
    if native in (DBR.FLOAT, DBR.DOUBLE):
        try:
            fmt = "%.{}g" if 4 < abs(int(math.log10(abs(scalar + 1.0e-9)))) else "%.{}f"
            return fmt.format(precision or 0) % scalar
        except (ValueError, TypeError, ArithmeticError):
            return str(scalar)
    if native == DBR.ENUM:
        try:
            return enum_strs[scalar]  # type: ignore[index]
        except (TypeError, IndexError):
            return str(scalar)
    return repr(scalar)


def put_payload(pvname: str, value: Any, native: DBR, nelm: int,
                enum_strs: Optional[Sequence[str]]) -> Any:
    """Turn a Python value into the list or array of values a put sends.

    Enum names become indices, ``str`` written to a CHAR waveform becomes its bytes plus a
    trailing NUL (cut to ``nelm``), numbers written to a STRING channel become their ``str``,
    scalars become one-element lists.

    Raises:
        CAPutError: an enum name that is not one of ``enum_strs``, or a string longer than the
            39 characters a CA STRING holds (nothing is sent).
    """
    if native == DBR.STRING:
        items = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
        items = [s if isinstance(s, (str, bytes)) else str(s) for s in items]
        for item in items:
            raw = item.encode(STR_ENCODING) if isinstance(item, str) else item
            if len(raw) > MAX_STRING_SIZE - 1:
                raise CAPutError(pvname, f"{item!r} is longer than {MAX_STRING_SIZE - 1} "
                                 "characters", status_name="ECA_BADCOUNT")
        return items
    if native == DBR.ENUM and isinstance(value, str):
        if enum_strs and value in enum_strs:
            return [list(enum_strs).index(value)]
        if value.strip().isdigit():
            return [int(value)]
        raise CAPutError(pvname, f"{value!r} is not one of {tuple(enum_strs or ())}",
                         status_name="ECA_BADTYPE")
    if native == DBR.CHAR and isinstance(value, (str, bytes)):
        raw = value.encode(STR_ENCODING) if isinstance(value, str) else value
        return np.frombuffer(raw + b"\x00", dtype=np.uint8)[:max(nelm, 1)]
    if isinstance(value, (str, bytes)):
        return [value]
    if isinstance(value, np.ndarray):
        return value.reshape(-1)
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def primitive_string(value: Any, native: DBR, nelm: int, data_type: DBR,
                     enum_strs: Optional[Sequence[str]]) -> str:
    """The string pyepics' ``caget_many(as_string=True)`` gives: like :func:`char_value` for
    CHAR waveforms and enums, but ``str(value)`` for numbers (no precision) and
    ``<array count=NELM, type=NATIVE>`` (numeric DBR type) for other waveforms, STRING
    waveforms included."""
    if native in (DBR.CHAR, DBR.ENUM) or (
            native == DBR.STRING and nelm <= 1):
        return char_value(value, native, nelm, data_type, None, enum_strs)
    if nelm > 1:
        return f"<array count={nelm}, type={int(native)}>"
    return str(python_value(value, native, nelm))


@functools.lru_cache(maxsize=256)
def host_name(address: Tuple[str, int]) -> str:
    """``'name:port'`` for a server address, the name resolved as libca does
    (``127.0.0.1`` -> ``localhost``); the numeric address when it does not resolve."""
    host, port = address
    try:
        host = socket.gethostbyaddr(host)[0]
    except OSError:
        pass
    return f"{host}:{port}"


def check_status(pvname: str, status: Any, *, put: bool) -> None:
    """Raise unless the ECA ``status`` of a reply means success.

    Raises:
        CAPutError: a failed write reply (carries the ECA code and name).
        CAError: a failed read reply.
    """
    if wire.eca_ok(status):
        return
    name, text = wire.eca_name(status)
    if put:
        raise CAPutError(pvname, text, status=status, status_name=name)
    raise CAError(f"read failed: {text} [{name} ({status})]", pvname=pvname)
