"""The ``iocgate`` command (also ``python -m iocgate``).

* ``iocgate list``: the IOCs in ``iocs/`` with a one-line description and default prefix;
* ``iocgate run <name | module:Class> [IOC options]``: run one (``iocgate run power_supply
  --help``); an IOC class needs no ``main()``;
* ``iocgate doctor [PV ...]``: the EPICS environment, the CA servers on this host, and why a
  PV is not found;
* ``iocgate --version``.

``python -m iocgate module:Class [options]`` is short for ``iocgate run module:Class``.
"""

from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata
from typing import List, Optional, Sequence

from ._catalogue import catalogue, resolve

PROG = "iocgate"
_COMMANDS = ("list", "run", "doctor")


def version() -> str:
    """``iocgate 0.1.0 (caproto 1.3.0, Python 3.11.2)``."""
    import iocgate

    try:
        own = metadata.version("iocgate")
    except metadata.PackageNotFoundError:  # running from a checkout without install
        own = iocgate.__version__
    return (f"iocgate {own} (caproto {metadata.version('caproto')}, "
            f"Python {platform.python_version()})")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Run and inspect iocgate EPICS IOCs.",
        epilog="`iocgate run <name> --help` lists an IOC's options and PVs.")
    parser.add_argument("--version", action="version", version=version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("list", help="the ready IOCs, their descriptions and default prefixes",
                        description="The IOCs in the iocs package.")
    run = commands.add_parser(
        "run", help="run an IOC: iocgate run power_supply [--prefix X: ...]",
        description="Run an IOC by catalogue name (see `iocgate list`) or as module:Class. "
                    "Options after the name go to the IOC.", add_help=False)
    run.add_argument("target", metavar="NAME|MODULE:CLASS", nargs="?")
    doctor = commands.add_parser(
        "doctor", help="why is a PV not found? checks the EPICS setup and the IOCs here",
        description="Show the EPICS environment and the CA servers on this host; search each "
                    "PV as a C client would and explain why one is not found.")
    doctor.add_argument("pvs", metavar="PV", nargs="*", help="PV names to search")
    parser.error = lambda message: parser.exit(
        2, f"{PROG}: error: {message} (`iocgate --help` lists the commands)\n")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``iocgate`` command; returns the exit status (0 ok, 1 a PV not found by
    ``doctor``, 2 usage errors)."""
    args_list: List[str] = list(sys.argv[1:] if argv is None else argv)
    if args_list and ":" in args_list[0] and args_list[0] not in _COMMANDS:
        args_list.insert(0, "run")
    parser = _parser()
    args, rest = parser.parse_known_args(args_list)
    if args.command == "run":
        return _run(parser, args.target, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "list":
        return _list()
    return _diagnose(args.pvs)


def _list() -> int:
    entries = catalogue()
    width = max((len(entry.name) for entry in entries), default=0)
    prefix_width = max((len(entry.prefix) for entry in entries), default=0)
    for entry in entries:
        print(f"{entry.name:<{width}}  {entry.prefix:<{prefix_width}}  {entry.description}")
    print(f"\n{len(entries)} IOCs; run one with `iocgate run <name>` "
          "(`--help` after the name lists its options and PVs).")
    return 0


def _run(parser: argparse.ArgumentParser, target: Optional[str], rest: List[str]) -> int:
    from ..ioc import run_ioc

    if target is None or target.startswith("-"):
        parser.exit(2, f"{PROG} run: error: name an IOC (`iocgate list` shows them) or "
                       "give module:Class\n")
    try:
        ioc_class = resolve(target)
    except LookupError as exc:
        parser.exit(2, f"{PROG} run: error: {exc}\n")
    run_ioc(ioc_class, rest, prog=f"{PROG} run {target}")
    return 0


def _diagnose(pvs: Sequence[str]) -> int:
    from ._doctor import report

    lines, all_found = report(pvs)
    print("\n".join(lines))
    return 0 if all_found else 1
