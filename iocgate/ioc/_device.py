"""How an IOC gets its device node: from command-line options, or from a simulator started
in-process when no address is given."""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Tuple

TRANSPORTS = ("tcp", "serial", "visa", "http", "shell", "modbus")
#: the command-line option that gives each transport's address
ADDRESS_OPTIONS = {"tcp": "host", "serial": "serial", "visa": "resource", "http": "url",
                   "shell": "command", "modbus": "host"}


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value < math.inf):
        raise argparse.ArgumentTypeError(f"expected seconds > 0, not {text!r}")
    return value


def http_url(text: str) -> str:
    """argparse type: an ``http://`` or ``https://`` URL with a host (and a valid port)."""
    parts = urllib.parse.urlsplit(text)
    try:
        port = parts.port  # ValueError: not a number in 0-65535
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    if port == 0 or parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"expected a URL such as http://10.0.0.9:8080/api, not {text!r}")
    return text


def shell_command(text: str) -> str:
    """argparse type: a command line whose program exists (found on PATH or as a path)."""
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cannot split {text!r}: {exc}") from None
    if not argv:
        raise argparse.ArgumentTypeError("expected a program and its arguments, not ''")
    if shutil.which(argv[0]) is None:
        raise argparse.ArgumentTypeError(f"program {argv[0]!r} not found or not executable")
    return text


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer {low}..{high}, not {text!r}")
        return value

    return parse


_tcp_port = _bounded_int(1, 65535)
_baudrate = _bounded_int(1, 10_000_000)


def _check_serial(path: str) -> None:
    """A device path must exist (a pyserial URL such as ``socket://host:port`` is not checked)."""
    if "://" in path or os.path.exists(path):
        return
    from serial.tools.list_ports import comports

    ports = ", ".join(sorted(port.device for port in comports())) or "none found"
    raise ValueError(f"--serial {path}: no such device (serial ports on this host: {ports})")


def _check_visa(resource: str) -> None:
    from pyvisa.rname import InvalidResourceName, parse_resource_name

    try:
        parse_resource_name(resource)
    except InvalidResourceName as exc:
        raise ValueError(f"--resource {resource}: not a VISA resource name ({exc}); "
                         "e.g. TCPIP::10.0.0.5::5025::SOCKET or ASRL/dev/ttyUSB0::INSTR"
                         ) from None


@dataclass(frozen=True)
class Simulation:
    """A simulator running in this process.

    Attributes:
        options: device options that reach it, as the command line would give them
            (``{"host": "127.0.0.1", "port": 40123}`` or ``{"serial": "/dev/pts/4"}``).
        handle: the simulator object (``.faults`` for fault injection, ``.state`` or
            ``.model`` for what it simulates).
        stop: stops it.
    """

    options: Mapping[str, Any]
    handle: Any
    stop: Callable[[], None]


@dataclass(frozen=True)
class DeviceConfig:
    """How a :class:`~iocgate.DeviceGroup` reaches its instrument.

    Attributes:
        bridge: ``link -> device node`` that bound properties are relative to, e.g.
            ``lambda link: link.scpi(check_errors=True)``.
        transports: which of ``"tcp"`` (``--host``/``--port``), ``"serial"``
            (``--serial``/``--baudrate``), ``"visa"`` (``--resource``), ``"http"``
            (``--url``, a web API's base URL), ``"shell"`` (``--command``, a program run
            once per read or write) and ``"modbus"`` (Modbus TCP at ``--host``/``--port``)
            the instrument speaks. ``bridge`` gets the link node of whichever was given
            (:class:`~iocgate.nodes.StreamNode`, ``HttpNode``, ``ShellNode`` or
            :class:`~iocgate.nodes.ModbusNode`).
        default_port: TCP port when only ``--host`` is given.
        default_baudrate: serial baud rate when ``--baudrate`` is not given.
        timeout: default reply timeout in seconds (``--timeout``).
        simulator: the built-in simulator, used when no address is given: a function that
            starts it and returns a :class:`Simulation`, or a simulator class made from the
            IOC's declaration (:class:`iocgate.sim.ScpiSimulator` and subclasses).
        link_options: extra keyword arguments for a TCP, serial, VISA or Modbus link
            (encoding, serial settings); HTTP and shell links take none.
    """

    bridge: Callable[[Any], Any]
    transports: Tuple[str, ...] = ("tcp",)
    default_port: Optional[int] = None
    default_baudrate: int = 9600
    timeout: float = 2.0
    simulator: Optional[Any] = None
    link_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.transports) - set(TRANSPORTS)
        if unknown or not self.transports:
            raise ValueError(f"transports must be a non-empty subset of {TRANSPORTS}, "
                             f"not {self.transports!r}")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the device options of this instrument to ``parser``."""
        group = parser.add_argument_group(
            "device", "where the instrument is; with no address the built-in simulator runs")
        if "tcp" in self.transports or "modbus" in self.transports:
            group.add_argument("--host", help="instrument host name or IP address (TCP)")
            group.add_argument("--port", type=_tcp_port, default=None,
                               help="instrument TCP port, with --host "
                                    f"(default: {self.default_port})")
        if "serial" in self.transports:
            group.add_argument("--serial", metavar="PORT",
                               help="serial device path or pyserial URL (socket://host:port)")
            group.add_argument("--baudrate", type=_baudrate, default=self.default_baudrate,
                               help="serial baud rate (default: %(default)s)")
        if "visa" in self.transports:
            group.add_argument("--resource", metavar="VISA",
                               help="VISA resource, e.g. TCPIP::10.0.0.5::5025::SOCKET")
        if "http" in self.transports:
            group.add_argument("--url", type=http_url,
                               help="base URL of the instrument's web API, "
                                    "e.g. http://10.0.0.9:8080")
        if "shell" in self.transports:
            group.add_argument("--command", type=shell_command, metavar="COMMAND",
                               help="program (and arguments) run for each read and write, "
                                    "e.g. \"/opt/bin/meter --port 2\"")
        group.add_argument("--timeout", type=positive_seconds, default=self.timeout,
                           help="device reply timeout in seconds (default: %(default)s)")

    def given_options(self, args: argparse.Namespace) -> Mapping[str, Any]:
        """The address options given on the command line (empty: use the simulator).

        Raises:
            ValueError: with a one-line reason: more than one transport's address was given,
                a host without port, a port without host, a serial device that does not
                exist, a VISA resource name that does not parse.
        """
        given = {key: getattr(args, key, None) for key in ADDRESS_OPTIONS.values()}
        chosen = {key: val for key, val in given.items() if val}
        if len(chosen) > 1:
            raise ValueError("give one device address, not " + " and ".join(
                f"--{key}" for key in sorted(chosen)))
        port = getattr(args, "port", None)
        if port is not None and "host" not in chosen:
            raise ValueError(f"--port {port} needs --host (the instrument's address); "
                             "with no address the built-in simulator runs")
        if "host" in chosen:
            chosen["port"] = port if port is not None else self.default_port
            if chosen["port"] is None:
                raise ValueError("--host needs --port")
        if "serial" in chosen:
            _check_serial(chosen["serial"])
            chosen["baudrate"] = args.baudrate
        if "resource" in chosen:
            _check_visa(chosen["resource"])
        return chosen

    def start_simulator(self, ioc_class: Optional[type] = None) -> Simulation:
        """Start the built-in simulator of ``ioc_class`` (see :attr:`simulator`); a simulator
        class is made from ``ioc_class``'s declaration, or with ``None`` from its own
        (:attr:`~iocgate.sim.ScpiSimulator.declaration`).

        Raises:
            ValueError: this IOC has no simulator.
        """
        if self.simulator is None:
            raise ValueError(f"{getattr(ioc_class, '__name__', 'this IOC')} has no simulator: "
                             "give the device address")
        if not isinstance(self.simulator, type):
            return self.simulator()
        from ._declare import command_specs

        handle = self.simulator(None if ioc_class is None else command_specs(ioc_class))
        try:
            options = handle.serve_for(self.transports, self.default_baudrate)
        except BaseException:
            handle.stop()
            raise
        return Simulation(options=options, handle=handle, stop=handle.stop)

    def open(self, options: Mapping[str, Any], timeout: float, control: Any = None) -> Any:
        """Make the device node for ``options`` (see :meth:`given_options`).

        No I/O happens here: the link connects on first use and reconnects by itself.
        """
        if control is None:
            from ..nodes import ControlSystem

            control = ControlSystem()
        extra = dict(self.link_options)
        if options.get("url"):
            link = control.http(options["url"], timeout=timeout)
        elif options.get("command"):
            link = control.shell(*shlex.split(options["command"]), timeout=timeout)
        elif options.get("resource"):
            link = control.visa(options["resource"], timeout=timeout, **extra)
        elif options.get("serial"):
            link = control.serial(options["serial"], baudrate=options.get(
                "baudrate", self.default_baudrate), timeout=timeout, **extra)
        elif options.get("host") and "modbus" in self.transports:
            link = control.modbus(options["host"], int(options["port"]), timeout=timeout)
        elif options.get("host"):
            link = control.tcp(options["host"], int(options["port"]), timeout=timeout, **extra)
        else:
            raise ValueError("no device address")
        return self.bridge(link)
