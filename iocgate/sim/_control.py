"""The backdoor of a simulator: break it on purpose and set its internal state, from Python or
over a TCP line protocol (``--control-port`` of every ``python -m devices.<name>``).

The protocol is one command per line (``\\n`` or ``\\r\\n``), case-insensitive keywords, one
reply line each, ``OK`` plus data or ``ERR`` plus a reason::

    FAULTS                  OK delay=0 freeze=0 garbage=0 refuse=0
    DELAY <s>               answer every command <s> seconds late (0: on time)
    FREEZE ON|OFF           read commands but never answer (a hung instrument)
    GARBAGE ON|OFF          execute commands but answer rubbish
    REFUSE ON|OFF           TCP: accept new connections and close them at once
    CUT                     hang up every client link now (a pty gets a fresh slave)
    CLEAR                   remove every fault
    STATE                   OK name=value name=value ...
    GET <name>              OK <value>
    SET <name> <value>      OK (the simulator takes <value> as if it were physics)
    HELP                    OK <the keywords>

A test in any language can do ``printf 'FREEZE ON\\n' | nc 127.0.0.1 <port>``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, Protocol

__all__ = ["AttributeState", "Backdoor", "SimState"]

_WORDS = {"ON": True, "1": True, "TRUE": True, "OFF": False, "0": False, "FALSE": False}


class SimState(Protocol):
    """The internal state a backdoor reads and sets: named values."""

    def names(self) -> List[str]:
        """Every settable or readable name."""

    def get(self, name: str) -> Any:
        """The value of ``name``. Raises ``KeyError`` for an unknown name."""

    def set(self, name: str, value: Any) -> None:
        """Set ``name`` (a number or text). Raises ``KeyError`` (unknown name) or
        ``ValueError`` (refused value)."""


class AttributeState:
    """The public data attributes and properties of ``model`` as a :class:`SimState`.

    Methods and names starting with ``_`` are not part of it; ``set`` assigns the attribute
    (so a property setter's range check applies) after converting text to the type of the
    present value.
    """

    def __init__(self, model: Any):
        self.model = model

    def names(self) -> List[str]:
        found = []
        for name in dir(self.model):
            if name.startswith("_"):
                continue
            static = inspect.getattr_static(self.model, name)
            if isinstance(static, property) or not callable(getattr(self.model, name, None)):
                found.append(name)
        return found

    def get(self, name: str) -> Any:
        if name not in self.names():
            raise KeyError(name)
        return getattr(self.model, name)

    def set(self, name: str, value: Any) -> None:
        setattr(self.model, name, convert_like(self.get(name), value))


def convert_like(present: Any, value: Any) -> Any:
    """``value`` (often text) converted to the type of ``present``.

    Raises:
        ValueError: the text does not convert.
    """
    if not isinstance(value, str):
        return value
    if isinstance(present, bool):
        if value.upper() not in _WORDS:
            raise ValueError(f"expected ON/OFF, not {value!r}")
        return _WORDS[value.upper()]
    if isinstance(present, (int, float)):
        number = float(value)
        return int(number) if isinstance(present, int) and number.is_integer() else number
    return value


class Backdoor:
    """Fault and state commands for one simulator; :meth:`handle_line` is the sans-I/O core.

    Args:
        simulator: a :class:`~iocgate.sim.LineSimulator` (its ``faults`` are driven).
        state: the internal state for GET/SET/STATE; default: the simulator's ``state``
            attribute, else its ``model`` attribute's public attributes, else none.
    """

    def __init__(self, simulator: Any, state: Optional[SimState] = None):
        self.simulator = simulator
        if state is None:
            state = getattr(simulator, "state", None)
        if state is None and getattr(simulator, "model", None) is not None:
            state = AttributeState(simulator.model)
        self.state = state
        self._commands: Dict[str, Callable[[List[str]], str]] = {
            "FAULTS": self._faults, "DELAY": self._delay, "FREEZE": self._switch("withhold"),
            "GARBAGE": self._switch("garbage"), "REFUSE": self._switch("refuse"),
            "CUT": self._cut, "CLEAR": self._clear, "STATE": self._state, "GET": self._get,
            "SET": self._set, "HELP": self._help}

    def handle_line(self, line: str) -> str:
        """Execute one control line; return the reply line (``OK ...`` or ``ERR ...``)."""
        keyword, *args = line.split()
        command = self._commands.get(keyword.upper())
        if command is None:
            return f"ERR unknown command {keyword!r}; try HELP"
        try:
            reply = command(args)
        except KeyError as exc:
            return f"ERR {keyword.upper()}: no variable {exc.args[0]!r}; STATE lists them"
        except IndexError:
            return f"ERR {keyword.upper()}: an argument is missing; try HELP"
        except (ValueError, TypeError, AttributeError) as exc:
            return f"ERR {keyword.upper()}: {exc}"
        return f"OK {reply}".rstrip()

    # ------------------------------------------------------------------ commands
    def _faults(self, args: List[str]) -> str:
        faults = self.simulator.faults
        return (f"delay={faults.delay:g} freeze={int(faults.withhold)} "
                f"garbage={int(faults.garbage)} refuse={int(faults.refuse)}")

    def _delay(self, args: List[str]) -> str:
        seconds = float(args[0])
        if not 0 <= seconds < 3600:
            raise ValueError(f"delay must be 0..3600 s, not {args[0]}")
        self.simulator.faults.delay = seconds
        return ""

    def _switch(self, attr: str) -> Callable[[List[str]], str]:
        def switch(args: List[str]) -> str:
            word = args[0].upper()
            if word not in _WORDS:
                raise ValueError(f"expected ON or OFF, not {args[0]!r}")
            setattr(self.simulator.faults, attr, _WORDS[word])
            return ""

        return switch

    def _cut(self, args: List[str]) -> str:
        self.simulator.faults.drop_connections()
        return ""

    def _clear(self, args: List[str]) -> str:
        self.simulator.faults.clear()
        return ""

    def _need_state(self) -> SimState:
        if self.state is None:
            raise ValueError("this simulator exposes no state")
        return self.state

    def _state(self, args: List[str]) -> str:
        state = self._need_state()
        return " ".join(f"{name}={state.get(name)}" for name in state.names())

    def _get(self, args: List[str]) -> str:
        return str(self._need_state().get(args[0]))

    def _set(self, args: List[str]) -> str:
        if len(args) < 2:
            raise ValueError("SET needs a name and a value")
        self._need_state().set(args[0], " ".join(args[1:]))
        return ""

    def _help(self, args: List[str]) -> str:
        return " ".join(self._commands)
