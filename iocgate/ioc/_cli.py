"""``python -m iocs.<name>``: the command line every iocgate IOC shares, and the server run."""

from __future__ import annotations

import argparse
import inspect
import logging
import signal
import sys
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from caproto.server import template_arg_parser

from ._device import positive_seconds

log = logging.getLogger("iocgate.ioc")

SERVERS = ("iocgate", "caproto")
DEFAULT_SERVER = "iocgate"


def serve(pvdb: Mapping[str, Any], *, server: str = DEFAULT_SERVER, async_lib: str = "asyncio",
          interfaces: Optional[List[str]] = None, log_pvs: bool = False) -> None:
    """Serve ``pvdb`` over Channel Access until SIGINT/SIGTERM.

    Args:
        server: ``"iocgate"`` (iocgate's own server core) or ``"caproto"`` (caproto's).
        async_lib: ``"asyncio"``, ``"curio"`` or ``"trio"``.
        interfaces: addresses to listen on (default: EPICS_CAS_INTF_ADDR_LIST or all).
        log_pvs: log the served PV names at start-up.
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

            run_iocgate(dict(pvdb), interfaces=interfaces, log_pvs=log_pvs, async_lib=async_lib)
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


def make_parser(ioc_class: type, argv: Optional[Sequence[str]] = None
                ) -> Tuple[argparse.ArgumentParser, Any]:
    """The argument parser of ``ioc_class``: caproto's IOC options, ``--server``, and the
    device options of its :class:`~iocgate.DeviceConfig`."""
    doc = inspect.getdoc(ioc_class) or ioc_class.__name__
    prefix = getattr(ioc_class, "default_prefix", "")
    parser, split_args = template_arg_parser(
        desc=doc.split("\n\n")[0], default_prefix=prefix,
        argv=list(argv) if argv is not None else None,
        macros=dict(getattr(ioc_class, "default_macros", {})))
    parser.epilog = _pv_table(ioc_class, prefix)
    parser.add_argument("--server", choices=SERVERS, default=DEFAULT_SERVER,
                        help="Channel Access server core (default: %(default)s)")
    config = getattr(ioc_class, "device_config", None)
    if config is not None:
        config.add_arguments(parser)
        parser.add_argument("--scan-period", type=positive_seconds, default=None, metavar="SECONDS",
                            help="default seconds between device reads "
                                 f"(class default: {ioc_class.scan_period})")  # type: ignore
    return parser, split_args


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.INFO
    if args.verbose:
        level = logging.DEBUG
    elif args.quiet:
        level = logging.WARNING
    logger = logging.getLogger("iocgate")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(levelname)1.1s %(asctime)s %(name)s] "
                                               "%(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(level)


def run_ioc(ioc_class: type, argv: Optional[Sequence[str]] = None) -> None:
    """Parse the command line, open the device (or start its simulator), serve the IOC.

    Returns when the server stops (SIGINT or SIGTERM); the simulator, if any, is stopped.
    """
    parser, split_args = make_parser(ioc_class, argv)
    args = parser.parse_args(argv)
    ioc_options, run_options = split_args(args)
    _configure_logging(args)
    kwargs: Dict[str, Any] = {}
    simulation = None
    config = getattr(ioc_class, "device_config", None)
    if config is not None:
        try:
            options = config.given_options(args)
        except ValueError as exc:
            parser.error(str(exc))
        if not options:
            if config.simulator is None:
                parser.error("this IOC has no simulator: give the device address")
            simulation = config.start_simulator(ioc_class)
            options = simulation.options
            log.info("no device address given: running the built-in simulator (%s)",
                     ", ".join(f"{key}={val}" for key, val in options.items()))
        kwargs["device"] = config.open(options, args.timeout)
        if args.scan_period is not None:
            kwargs["scan_period"] = args.scan_period
    ioc = ioc_class(**ioc_options, **kwargs)
    try:
        serve(ioc.pvdb, server=args.server, async_lib=args.async_lib,
              interfaces=run_options["interfaces"], log_pvs=run_options["log_pv_names"])
    finally:
        if simulation is not None:
            simulation.stop()
        close = getattr(getattr(kwargs.get("device"), "endpoint", None), "close", None)
        if close is not None:
            close()


def main(ioc_class: type) -> None:
    """Entry point for ``if __name__ == "__main__"`` blocks."""
    run_ioc(ioc_class, sys.argv[1:])
