"""Simulators made from an instrument's declaration (its :class:`~iocgate.protocol.CommandSpec`
list): the state variables, their dynamics, and an SCPI (:class:`ScpiSimulator`) or line
(:class:`LineModelSimulator`) server answering the declared commands the way the IOC sends
them.

A subclass names the IOC it is made from in ``declaration`` (``"iocs.dmm:DmmIOC"``), so it
can be made without handing it the specs (``python -m devices.dmm``, tests). Hand-written
behaviour plugs in on the subclass: ``read_<name>(self)`` computes the value of ``<name>``
(e.g. a reading that depends on the function selected), ``write_<name>(self, value)`` acts on
a set (after the range check; store with ``self.state.set``), ``evolve(self, values, dt)``
integrates dynamics of its own (lazily, as the declared ones), ``variables`` and
``commands`` add state and commands the IOC does not declare, and ``do_command`` (SCPI) or
``do_line`` (line protocol) answers anything else.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import random
import re
import threading
import time
from typing import (
    Any,
    Callable,
    ClassVar,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Pattern,
    Sequence,
    Tuple,
)

from ..protocol._declaration import CommandSpec, command_specs
from ._lines import LineSimulator
from ._scpi import _MESSAGES as MESSAGES, ScpiAdapter, ScpiServer, header_matches

__all__ = ["InstrumentState", "LineModelSimulator", "ScpiSimulator"]

log = logging.getLogger(__name__)


class InstrumentState:
    """The state variables of a simulated instrument; thread-safe; a :class:`SimState`.

    Every spec names one variable, starting at its ``value``. A follower (``follows``) moves
    toward the variable it follows with its :class:`~iocgate.protocol.Dynamics`, integrated
    lazily from ``clock`` whenever it is read, so a fake clock makes tests exact.

    Args:
        specs: the instrument's commands.
        clock: monotonic time in seconds.
        seed: seed of the noise generator (``None``: random).
        evolve: hand-written dynamics, integrated lazily as well: called with the values
            (a dict to change in place) and the seconds since the last call, before every
            read and set, under the state's lock.
    """

    def __init__(self, specs: Iterable[CommandSpec], clock: Callable[[], float] = time.monotonic,
                 seed: Optional[int] = None,
                 evolve: Optional[Callable[[Dict[str, Any], float], None]] = None):
        self.specs: Dict[str, CommandSpec] = {spec.name: spec for spec in specs}
        self._evolve = evolve
        self._clock = clock
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Every variable back to its power-on value."""
        with self._lock:
            self._values: Dict[str, Any] = {n: s.value for n, s in self.specs.items()}
            self._slewed = dict(self._values)
            self._t = self._clock()

    def _advance(self) -> None:
        now = self._clock()
        dt, self._t = max(0.0, now - self._t), now
        for name, spec in self.specs.items():
            if spec.follows is None:
                continue
            target = self._values[spec.follows]
            if spec.dynamics is None or not isinstance(target, (int, float)):
                self._values[name] = target
                continue
            self._slewed[name], self._values[name] = spec.dynamics.step(
                self._values[name], target, dt, self._slewed[name])
        if self._evolve is not None:
            self._evolve(self._values, dt)

    def names(self) -> List[str]:
        return list(self.specs)

    def get(self, name: str) -> Any:
        """The value of ``name`` now, with its noise.

        Raises:
            KeyError: no such variable.
        """
        spec = self.specs[name]
        with self._lock:
            self._advance()
            value = self._values[name]
        if spec.dynamics is not None and isinstance(value, float):
            value += self.noise(spec.dynamics.noise)
        return value

    def noise(self, sigma: float) -> float:
        """A sample of Gaussian noise with standard deviation ``sigma``."""
        return self._rng.gauss(0.0, sigma) if sigma else 0.0

    def set(self, name: str, value: Any) -> None:
        """Set ``name`` (text or a value), checked against its limits and codes; a follower
        jumps there and then follows again.

        Raises:
            KeyError: no such variable. ValueError: the value is refused.
        """
        spec = self.specs[name]
        checked = spec.check(value)
        with self._lock:
            self._advance()
            self._values[name] = self._slewed[name] = checked


def _format(value: Any, spec: CommandSpec) -> str:
    if spec.reply_format is not None:
        return format(value, spec.reply_format)
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:+.6E}"
    return str(value)


class _Declared:
    """What simulators made from a declaration share: the state, the hooks, serving."""

    #: state variables beyond the declaration (e.g. the signal at an input), with their
    #: power-on values; the backdoor reads and sets them like the others. A declared name
    #: here gets this power-on value in the simulator (the PV's initial value may differ).
    variables: ClassVar[Mapping[str, Any]] = {}
    #: commands the instrument has beyond those the IOC declares (or checked variables:
    #: specs without ``get``/``set``)
    commands: ClassVar[Sequence[CommandSpec]] = ()
    #: ``"module:Class"`` of the IOC whose declaration this simulator is made from: the
    #: specs when none are given
    declaration: ClassVar[Optional[str]] = None
    state: InstrumentState

    def _make_state(self, specs: Optional[Sequence[CommandSpec]], clock: Callable[[], float],
                    seed: Optional[int]) -> None:
        if specs is None:
            if self.declaration is None:
                raise TypeError(f"{type(self).__name__} needs specs (it names no declaration)")
            module, _, name = self.declaration.partition(":")
            specs = command_specs(getattr(importlib.import_module(module), name))
        declared = {spec.name: spec for spec in [*specs, *self.commands]}
        for name, value in self.variables.items():
            declared[name] = (dataclasses.replace(declared[name], value=value)
                              if name in declared else CommandSpec(name, kind=type(value),
                                                                   value=value))
        self.state = InstrumentState(declared.values(), clock, seed,
                                     getattr(self, "evolve", None))

    def value(self, name: str) -> Any:
        """The value of ``name`` as the instrument reports it (``read_<name>()`` if
        defined)."""
        hook = getattr(self, f"read_{name}", None)
        return hook() if hook is not None else self.state.get(name)

    def write(self, name: str, value: Any) -> None:
        """Apply a set of ``name`` from the wire (``write_<name>(checked value)`` if
        defined).

        Raises:
            ValueError: refused (out of range, unknown code).
        """
        checked = self.state.specs[name].check(value)
        hook = getattr(self, f"write_{name}", None)
        if hook is not None:
            hook(checked)
        else:
            self.state.set(name, checked)

    def serve_for(self, transports: Sequence[str], baudrate: int = 9600) -> Mapping[str, Any]:
        """Start serving the way an IOC with these ``transports`` reaches it (a serial-first
        instrument on a pseudo-terminal, else TCP, else a VISA socket resource); return the
        device options (``serial``/``baudrate``, ``host``/``port`` or ``resource``)."""
        served: Any = self
        if transports[0] == "serial" or not {"tcp", "visa"} & set(transports):
            return {"serial": served.start_pty_link(), "baudrate": baudrate}
        port = served.start_tcp()
        if "tcp" in transports:
            return {"host": "127.0.0.1", "port": port}
        return {"resource": f"TCPIP::127.0.0.1::{port}::SOCKET"}


class ScpiSimulator(_Declared, ScpiServer):
    """An SCPI instrument made from its declaration, served over TCP and/or a pty.

    Args:
        specs: the commands (``iocgate.ioc.command_specs(IOCClass)``); default: those of
            :attr:`declaration`.
        port, host: TCP address for :meth:`start` (0 = an ephemeral port).
        clock: monotonic time in seconds, for the dynamics.
        seed: noise seed.

    Every declared SCPI header answers its query (``VOLT?``) and, if writable, its set
    (``VOLT 5``; out of range: error -222, not a number: -104, unknown state code: -224,
    value unchanged). A numeric setting with limits also takes ``MIN``, ``MAX`` and ``DEF``
    (its power-on value); an Off/On setting coded ``0, 1`` also takes ``OFF``/``ON``.
    ``state`` is the backdoor's state (names are the declaring attributes).
    """

    #: the ``*IDN?`` reply
    idn: ClassVar[str] = "iocgate,Simulated Instrument,SIM0001,1.0"
    terminator: ClassVar[str] = "\n"

    def __init__(self, specs: Optional[Sequence[CommandSpec]] = None, port: int = 0,
                 host: str = "127.0.0.1",
                 clock: Callable[[], float] = time.monotonic, seed: Optional[int] = None):
        self._make_state(specs, clock, seed)
        super().__init__(_DeclaredAdapter(self), port=port, host=host,
                         terminator=self.terminator, name=type(self).__name__)

    def do_command(self, cmd_path: List[str], params: List[str]) -> Optional[str]:
        """Commands beyond the declaration (override; ``None``: undefined header)."""
        return None


def _set_pattern(template: str) -> Pattern[str]:
    """``"SETP 1,{value}"`` -> a regex matching such a line, the value in group ``value``.

    Raises:
        ValueError: the template has not exactly one ``{...}`` field.
    """
    parts = re.split(r"\{[^{}]*\}", template)
    if len(parts) != 2:
        raise ValueError(f"a set template needs one {{value}} field: {template!r}")
    return re.compile(re.escape(parts[0]) + r"\s*(?P<value>.+?)\s*" + re.escape(parts[1]),
                      re.IGNORECASE)


class LineModelSimulator(_Declared, LineSimulator):
    """A line-protocol instrument (``get``/``set`` texts, as a ``lines()`` node sends them)
    made from its declaration, served over a pty and/or TCP.

    Args:
        specs, clock, seed: as for :class:`ScpiSimulator`.

    A line equal to a spec's ``get`` text (case-insensitive, blanks ignored) answers the
    value; a line matching a ``set`` template sets it and gets no reply. With a
    :attr:`separator`, a line holds several commands and the replies are joined by it. With
    an :attr:`idn`, the IEEE 488.2 common commands ``*IDN?``, ``*OPC?``, ``*RST`` and
    ``*CLS`` are answered too. A refused value or an unknown command is ignored, as most
    serial instruments do, and recorded in :attr:`errors`; override :meth:`do_line` to
    answer more.
    """

    terminator: ClassVar[str] = "\r\n"
    #: what separates commands in one line (``";"``), or ``None``: one command per line
    separator: ClassVar[Optional[str]] = None
    #: the ``*IDN?`` reply, or ``None``: no common commands
    idn: ClassVar[Optional[str]] = None

    def __init__(self, specs: Optional[Sequence[CommandSpec]] = None,
                 clock: Callable[[], float] = time.monotonic, seed: Optional[int] = None):
        self._make_state(specs, clock, seed)
        self._queries = {_blankless(s.get): s for s in self.state.specs.values() if s.get}
        self._sets = [(_set_pattern(s.set), s) for s in self.state.specs.values()
                      if s.set and s.writable]
        #: ``(command, reason)`` of every command ignored as unknown or refused, oldest first
        self.errors: List[Tuple[str, str]] = []
        super().__init__(self.handle_line, terminator=self.terminator,
                         name=type(self).__name__)

    def handle_line(self, line: str) -> Optional[str]:
        """Execute one line; return the reply (replies joined by :attr:`separator`) or
        ``None`` (sans-I/O: no faults applied)."""
        units = line.split(self.separator) if self.separator else [line]
        replies = []
        for unit in filter(None, (u.strip() for u in units)):
            try:
                reply = self._execute(unit)
            except ValueError as exc:
                log.info("%s: ignored %r: %s", self.name, unit, exc)
                self.errors.append((unit, str(exc)))
                continue
            if reply is not None:
                replies.append(reply)
        return (self.separator or "").join(replies) if replies else None

    def _execute(self, text: str) -> Optional[str]:
        spec = self._queries.get(_blankless(text))
        if spec is not None:
            return _format(self.value(spec.name), spec)
        for pattern, spec in self._sets:
            match = pattern.fullmatch(text)
            if match:
                self.write(spec.name, match.group("value"))
                return None
        if self.idn is not None and text.upper() in _COMMON:
            if text.upper() == "*RST":
                self.state.reset()
            return _COMMON[text.upper()] or (self.idn if text.upper() == "*IDN?" else None)
        return self.do_line(text)

    def do_line(self, line: str) -> Optional[str]:
        """A command beyond the declaration (override): its reply, ``None`` for none.

        Raises:
            ValueError: unknown or refused (recorded in :attr:`errors`; the default).
        """
        raise ValueError(f"unknown command {line.split()[0]}")


_COMMON = {"*IDN?": "", "*OPC?": "1", "*RST": "", "*CLS": ""}


def _blankless(text: str) -> str:
    return "".join(text.split()).upper()


class _DeclaredAdapter(ScpiAdapter):
    def __init__(self, simulator: ScpiSimulator):
        super().__init__(simulator.idn)
        self.simulator = simulator
        self.headers = [s for s in simulator.state.specs.values() if s.header]

    def reset(self) -> None:
        self.simulator.state.reset()

    def do_command(self, cmd_path: List[str], params: List[str]) -> Optional[str]:
        sim = self.simulator
        for spec in self.headers:
            if header_matches(cmd_path, spec.header + "?"):
                if params:
                    self.push_error(-108)
                    return ""
                reply = _format(sim.value(spec.name), spec)
                return f'"{reply}"' if spec.quoted else reply
            if spec.writable and header_matches(cmd_path, spec.header):
                if len(params) != 1:
                    self.push_error(-109 if not params else -108)
                    return ""
                value = _scpi_words(spec, params[0])
                if spec.codes is None and spec.kind is not str and not _is_number(value):
                    self.push_error(-104, f"{MESSAGES[-104]}; {value}")
                    return ""
                try:
                    sim.write(spec.name, value)
                except ValueError as exc:
                    code = -224 if spec.codes is not None else -222
                    self.push_error(code, f"{MESSAGES[code]}; {exc}")
                return ""
        return sim.do_command(cmd_path, params)


def _scpi_words(spec: CommandSpec, text: str) -> Any:
    """SCPI's words for numbers and booleans replaced by the value they stand for."""
    word = text.strip().upper()
    if spec.limits is not None and word in _LIMIT_WORDS:
        return {"MIN": spec.limits[0], "MAX": spec.limits[1], "DEF": spec.value}[
            _LIMIT_WORDS[word]]
    if spec.codes == (0, 1) and word in ("OFF", "ON"):
        return int(word == "ON")
    return text


_LIMIT_WORDS = {"MIN": "MIN", "MINIMUM": "MIN", "MAX": "MAX", "MAXIMUM": "MAX", "DEF": "DEF",
                "DEFAULT": "DEF"}


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
