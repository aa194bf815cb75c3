"""``python -m iocs.<name>``: the command line every iocgate IOC shares, and the server run."""

from __future__ import annotations

import argparse
import errno
import inspect
import logging
import os
import signal
import sys
from typing import Any, Callable, Dict, Iterator, List, Mapping, NoReturn, Optional, Sequence, Tuple

from caproto.server import template_arg_parser

from ._device import positive_seconds
from ._hostnet import check_interfaces, describe_owner
from ._logging import LOG_FILE_BACKUPS, LOG_FILE_BYTES, configure_logging, startup_line
from ._safety import add_safety_arguments, safety_from_arguments

log = logging.getLogger("iocgate.ioc")

SERVERS = ("iocgate", "caproto")
DEFAULT_SERVER = "iocgate"


def serve(pvdb: Mapping[str, Any], *, server: str = DEFAULT_SERVER, async_lib: str = "asyncio",
          interfaces: Optional[List[str]] = None, log_pvs: bool = False,
          started: Optional[Callable[[Any], None]] = None) -> None:
    """Serve ``pvdb`` over Channel Access until SIGINT/SIGTERM.

    Args:
        server: ``"iocgate"`` (iocgate's own server core) or ``"caproto"`` (caproto's).
        async_lib: ``"asyncio"``, ``"curio"`` or ``"trio"``.
        interfaces: addresses to listen on (default: EPICS_CAS_INTF_ADDR_LIST or all).
        log_pvs: log the served PV names at start-up.
        started: iocgate's server only: called with its
            :class:`~iocgate.server.Listening` address once bound.

    Raises:
        OSError: a port or interface could not be bound.
    """
    if server not in SERVERS:
        raise ValueError(f"server must be one of {SERVERS}, not {server!r}")
    # SIGTERM is re-raised as SIGINT, so SIGINT must not be ignored (as a shell leaves it
    # for a job started with "&"), or caproto's server would ignore both.
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _interrupt),
                signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler)}
    try:
        if server == "caproto":
            from caproto.server import run

            run(dict(pvdb), module_name=f"caproto.{async_lib}.server", interfaces=interfaces,
                log_pv_names=log_pvs)
        else:
            from ..server import run as run_iocgate

            run_iocgate(dict(pvdb), interfaces=interfaces, log_pvs=log_pvs, async_lib=async_lib,
                        started=started)
    except BaseException as exc:
        if not _is_interrupt(exc):
            raise
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: not set from Python, cannot be restored
                signal.signal(signum, handler)


def _is_interrupt(exc: BaseException) -> bool:
    """KeyboardInterrupt, possibly wrapped in (nested) exception groups as trio raises it."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    inner = getattr(exc, "exceptions", None)
    return bool(inner) and all(_is_interrupt(item) for item in inner)


def _interrupt(signum: int, frame: Any) -> None:
    # Re-raise as SIGINT, which each async library turns into a clean shutdown at a safe point
    # (raising KeyboardInterrupt here could land inside trio's scheduler).
    signal.raise_signal(signal.SIGINT)


def describe_pvs(ioc_class: type, prefix: str) -> Iterator[Tuple[str, str, str, str]]:
    """``(pv name, units, access, doc)`` for every PV the class declares."""
    for attr, prop in ioc_class._pvs_.items():  # type: ignore[attr-defined]
        spec = prop.pvspec
        group_prefix = ""
        if "." in attr:
            owner: Any = ioc_class
            for part in attr.split(".")[:-1]:
                sub = owner._subgroups_[part]
                group_prefix += sub.prefix if sub.prefix is not None else part
                owner = sub.group_cls
        units = (spec.cls_kwargs or {}).get("units", "")
        access = "r" if spec.read_only else "rw"
        yield prefix + group_prefix + spec.name, units, access, (spec.doc or "").strip()


def _pv_table(ioc_class: type, prefix: str) -> str:
    rows = list(describe_pvs(ioc_class, prefix))
    width = max((len(name) for name, *_ in rows), default=0)
    lines = [f"  {name:<{width}}  {units or '-':<6} {access:<3} {doc}"
             for name, units, access, doc in rows]
    return "PVs (name, units, access, description):\n" + "\n".join(lines)


def _command_name(ioc_class: type) -> str:
    """How the user starts ``ioc_class``: ``python -m iocs.power_supply`` (or the script);
    ``python -m pkg`` for a class in ``pkg.ioc`` that ``pkg/__main__.py`` runs."""
    module = ioc_class.__module__
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if module == "__main__":
        if spec is None:
            return os.path.basename(sys.argv[0]) or ioc_class.__name__
        module = spec.name[:-len(".__main__")] if spec.name.endswith(".__main__") else spec.name
    elif spec is not None and spec.name.endswith(".__main__"):
        package = spec.name[:-len(".__main__")]
        if module.startswith(package + "."):
            module = package
    return f"python -m {module}"


_VERBOSITY = ("-v: also log client connects/disconnects and every put (who, PV, old -> new); "
              "-vv: also every Channel Access request, and debug messages.")


def make_parser(ioc_class: type, argv: Optional[Sequence[str]] = None,
                prog: Optional[str] = None) -> Tuple[argparse.ArgumentParser, Any]:
    """The argument parser of ``ioc_class``: caproto's IOC options, ``--server``,
    ``--log-file``, and the device options of its :class:`~iocgate.DeviceConfig`.

    Args:
        prog: the command shown in usage lines (default: ``python -m <module>``).
    """
    doc = inspect.getdoc(ioc_class) or ioc_class.__name__
    prefix = getattr(ioc_class, "default_prefix", "")
    parser, split_args = template_arg_parser(
        desc=doc.split("\n\n")[0], default_prefix=prefix,
        argv=list(argv) if argv is not None else None,
        macros=dict(getattr(ioc_class, "default_macros", {})))
    parser.prog = prog or _command_name(ioc_class)
    parser.error = lambda message: _fail(parser, f"{message} (--help lists the options)")
    parser.epilog = _VERBOSITY + "\n\n" + _pv_table(ioc_class, prefix)
    parser.add_argument("--server", choices=SERVERS, default=DEFAULT_SERVER,
                        help="Channel Access server core (default: %(default)s)")
    parser.add_argument("--log-file", metavar="PATH",
                        help="also log to PATH, rotated at "
                             f"{LOG_FILE_BYTES // 1_000_000} MB, {LOG_FILE_BACKUPS} old files kept")
    config = getattr(ioc_class, "device_config", None)
    if config is not None:
        config.add_arguments(parser)
        parser.add_argument("--scan-period", type=positive_seconds, default=None, metavar="SECONDS",
                            help="default seconds between device reads "
                                 f"(class default: {ioc_class.scan_period})")  # type: ignore
    add_safety_arguments(ioc_class, parser)
    return parser, split_args


def _fail(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """Exit with status 2 and the one line ``<prog>: error: <message>`` (no usage dump)."""
    parser.exit(2, f"{parser.prog}: error: {message}\n")


def run_ioc(ioc_class: type, argv: Optional[Sequence[str]] = None,
            prog: Optional[str] = None) -> None:
    """Parse the command line, open the device (or start its simulator), serve the IOC.

    Returns when the server stops (SIGINT or SIGTERM); the simulator, if any, is stopped.
    Bad options (an interface this host lacks, a port in use, a missing serial device, an
    unparsable VISA resource, ``--port`` without ``--host``) exit with status 2 and one line.
    """
    try:
        parser, split_args = make_parser(ioc_class, argv, prog)
    except ValueError as exc:  # caproto reads the EPICS_* variables for the defaults
        print(f"{prog or _command_name(ioc_class)}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    args = parser.parse_args(argv)
    if any(char.isspace() for char in args.prefix):
        _fail(parser, f'--prefix "{args.prefix}": a PV name cannot contain spaces')
    ioc_options, run_options = split_args(args)
    try:
        configure_logging(args.verbose or 0, args.quiet, args.log_file)
    except OSError as exc:
        _fail(parser, f"--log-file {args.log_file}: {exc.strerror or exc}")
    try:
        from_env = (args.interfaces == parser.get_default("interfaces")
                    and os.environ.get("EPICS_CAS_INTF_ADDR_LIST"))
        check_interfaces(run_options["interfaces"],
                         "EPICS_CAS_INTF_ADDR_LIST=" if from_env else "--interfaces ")
    except ValueError as exc:
        _fail(parser, str(exc))
    kwargs: Dict[str, Any] = {}
    simulation = None
    options: Optional[Mapping[str, Any]] = None
    config = getattr(ioc_class, "device_config", None)
    if config is not None:
        try:
            options = config.given_options(args)
        except ValueError as exc:
            _fail(parser, str(exc))
        if not options:
            if config.simulator is None:
                _fail(parser, "this IOC has no simulator: give the device address")
            simulation = config.start_simulator(ioc_class)
            options = simulation.options
        kwargs["device"] = config.open(options, args.timeout)
        if args.scan_period is not None:
            kwargs["scan_period"] = args.scan_period
    ioc = ioc_class(**ioc_options, **kwargs)

    def started(where: Any) -> None:
        note = "" if where.tcp_port == where.udp_port else (
            f" (TCP {where.udp_port} is taken{describe_owner('tcp', where.udp_port)})")
        log.info(startup_line(type(ioc).__name__, ioc.prefix, where.pv_count, where.interfaces,
                              where.tcp_port, where.udp_port, options, simulation is not None,
                              note))

    if args.server == "caproto":  # caproto's server reports its own TCP port
        log.info(startup_line(type(ioc).__name__, ioc.prefix, len(ioc.pvdb),
                              run_options["interfaces"], None, _udp_port(), options,
                              simulation is not None))
    try:
        with safety_from_arguments(ioc, args, parser):
            serve(ioc.pvdb, server=args.server, async_lib=args.async_lib,
                  interfaces=run_options["interfaces"], log_pvs=run_options["log_pv_names"],
                  started=started)
    except Exception as exc:
        bind_error = _os_error(exc)
        if bind_error is None:
            raise
        _fail(parser, _bind_failure(bind_error, run_options["interfaces"]))
    finally:
        if simulation is not None:
            simulation.stop()
        close = getattr(getattr(kwargs.get("device"), "endpoint", None), "close", None)
        if close is not None:
            close()


def _udp_port() -> int:
    """The CA search port the servers bind (EPICS_CAS_SERVER_PORT, EPICS_CA_SERVER_PORT)."""
    return int(os.environ.get("EPICS_CAS_SERVER_PORT") or os.environ.get("EPICS_CA_SERVER_PORT")
               or 5064)


def _os_error(exc: BaseException) -> Optional[OSError]:
    """``exc`` if an OSError, or the one inside (nested) exception groups as trio raises."""
    if isinstance(exc, OSError):
        return exc
    inner = getattr(exc, "exceptions", None)
    return _os_error(inner[0]) if inner and len(inner) == 1 else None


def _bind_failure(exc: OSError, interfaces: Sequence[str]) -> str:
    """One line for a server that could not bind: which port, who holds it, what to do."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    port = _udp_port()
    where = ", ".join(interfaces)
    if cause.errno == errno.EADDRINUSE:
        return (f"UDP port {port} on {where} is in use{describe_owner('udp', port)}: stop "
                "that program, or run this IOC on another port (EPICS_CAS_SERVER_PORT=<n>, "
                "and EPICS_CA_SERVER_PORT=<n> for its clients)")
    return f"cannot listen on {where} port {port}: {cause.strerror or cause}"


def main(ioc_class: type) -> None:
    """Entry point for ``if __name__ == "__main__"`` blocks."""
    run_ioc(ioc_class, sys.argv[1:])
