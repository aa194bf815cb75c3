"""Serving tasks: several groups in one IOC, the shared command line, and
``python -m iocgate.task script.py``."""

from __future__ import annotations

import argparse
import ast
import contextlib
import logging
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from caproto.server import template_arg_parser

from ..ioc import serve
from ..ioc._cli import DEFAULT_SERVER, SERVERS
from ._core import OnError, log
from ._exports import DEFAULT_POLL_PERIOD, script_ioc
from ._script import load_script

#: seconds each task may take to stop after the server stopped
STOP_TIMEOUT = 10.0

#: ``build(args, prefix, stack) -> groups``: make the groups to serve; register clean-ups
#: (simulators, devices) on ``stack``, closed after the server stopped
Build = Callable[[argparse.Namespace, str, contextlib.ExitStack], Sequence[Any]]


def serve_groups(groups: Sequence[Any], **serve_options: Any) -> None:
    """Serve the PVs of all ``groups`` (task groups, DeviceGroups, any PVGroup) in one IOC
    until SIGINT/SIGTERM, then stop the tasks (``close()``).

    Args:
        **serve_options: for :func:`iocgate.serve` (``server``, ``async_lib`` ...).

    Raises:
        ValueError: two groups serve the same PV name.
    """
    pvdb: Dict[str, Any] = {}
    for group in groups:
        clash = pvdb.keys() & group.pvdb.keys()
        if clash:
            raise ValueError(f"PV names served twice: {sorted(clash)[:5]}")
        pvdb.update(group.pvdb)
    try:
        serve(pvdb, **serve_options)
    finally:
        for group in groups:
            close = getattr(group, "close", None)
            if close is not None:
                close(STOP_TIMEOUT)


def run_task_ioc(build: Build, *, description: str, default_prefix: str,
                 argv: Optional[Sequence[str]] = None,
                 add_arguments: Optional[Callable[[argparse.ArgumentParser], None]] = None
                 ) -> None:
    """Parse caproto's IOC options (``--prefix``, ``--list-pvs``, ``--async-lib`` ...),
    ``--server`` and ``add_arguments``' own; build the groups; serve them until a signal."""
    parser, split_args = template_arg_parser(desc=description, default_prefix=default_prefix,
                                             argv=list(argv) if argv is not None else None)
    parser.add_argument("--server", choices=SERVERS, default=DEFAULT_SERVER,
                        help="Channel Access server core (default: %(default)s)")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    ioc_options, run_options = split_args(args)
    _configure_logging(args)
    with contextlib.ExitStack() as stack:
        groups = build(args, ioc_options["prefix"], stack)
        serve_groups(groups, server=args.server, async_lib=args.async_lib,
                     interfaces=run_options["interfaces"],
                     log_pvs=run_options["log_pv_names"])


def open_device(config: Any, args: argparse.Namespace, stack: contextlib.ExitStack) -> Any:
    """The device node of a :class:`~iocgate.DeviceConfig` from the options it added to the
    command line (``config.add_arguments(parser)``); with no address its simulator starts.
    Simulator and link are closed with ``stack``.

    Raises:
        SystemExit: conflicting address options (argparse-style message), or no address and
            no simulator.
    """
    try:
        options = config.given_options(args)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    if not options:
        if config.simulator is None:
            raise SystemExit("error: give the device address (no simulator)")
        simulation = config.start_simulator()
        stack.callback(simulation.stop)
        options = simulation.options
        log.info("no device address given: running the built-in simulator (%s)",
                 ", ".join(f"{key}={val}" for key, val in options.items()))
    device = config.open(options, args.timeout)
    stack.callback(device.endpoint.close)
    return device


def _configure_logging(args: argparse.Namespace) -> None:
    """Root logging, so that a script's own ``logging`` calls show next to iocgate's."""
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="[%(levelname)1.1s %(asctime)s %(name)s] "
                                            "%(message)s", datefmt="%H:%M:%S")
    logging.getLogger("caproto").setLevel(max(level, logging.WARNING))


def parse_param(text: str) -> tuple:
    """``key=value`` -> ``(key, value)``; the value is a Python literal if it reads as one
    (``0.1``, ``True``, ``[1, 2]``), else the text.

    Raises:
        argparse.ArgumentTypeError: no ``=`` or an empty key.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, not {text!r}")
    try:
        return key.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key.strip(), value


def _script_arguments(parser: argparse.ArgumentParser) -> None:
    parser.prog = "python -m iocgate.task"
    parser.add_argument("script", help="the SlowTask-style Python file")
    parser.add_argument("--param", type=parse_param, action="append", default=[],
                        metavar="KEY=VALUE", help="a parameter for _initialize(params); "
                                                  "repeat for several")
    parser.add_argument("--poll-period", type=_seconds, default=DEFAULT_POLL_PERIOD,
                        metavar="SECONDS", help="seconds between reads of exported nodes; 0: "
                                                "only deliver() updates (default: %(default)s)")
    parser.add_argument("--on-error", choices=[policy.value for policy in OnError],
                        default=OnError.CONTINUE.value,
                        help="when _loop() raises: keep calling it or stop the task "
                             "(default: %(default)s)")
    parser.add_argument("--no-start", action="store_true",
                        help="do not start the task with the IOC (put 1 to START)")


def _seconds(text: str) -> float:
    """argparse type: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, not {text!r}")
    return value


def _build_script(args: argparse.Namespace, prefix: str, stack: contextlib.ExitStack
                  ) -> List[Any]:
    try:
        module = load_script(args.script)
        return [script_ioc(module, prefix, params=dict(args.param),
                           poll_period=args.poll_period, on_error=args.on_error,
                           autostart=not args.no_start)]
    except FileNotFoundError as exc:
        raise SystemExit(f"error: {exc}") from None
    except Exception as exc:  # the script's own error (import, _export()): its lines only
        raise SystemExit(f"error: cannot serve {args.script}:\n{_script_traceback(exc)}"
                         ) from None


def _script_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` from its first frame outside iocgate (the user's code)."""
    tb = exc.__traceback__
    package = str(Path(__file__).resolve().parents[1])
    while tb is not None and (tb.tb_frame.f_code.co_filename.startswith(package)
                              or tb.tb_frame.f_code.co_filename.startswith("<frozen")):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m iocgate.task script.py --prefix X: [--param key=value ...]``."""
    run_task_ioc(_build_script, description="Serve a SlowTask-style script as an IOC",
                 default_prefix="TASK:", argv=argv, add_arguments=_script_arguments)
