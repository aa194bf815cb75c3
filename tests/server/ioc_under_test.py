"""The IOC that the server conformance tests and benchmarks talk to.

Run it as a script::

    python tests/server/ioc_under_test.py --server iocgate --prefix X:
    python tests/server/ioc_under_test.py --server caproto --prefix X: --bulk 10000

``--server`` picks ``iocgate.server.run`` or ``caproto.server.run``; the PV database is the same
caproto ``PVGroup`` for both. ``ioc_under_test.db`` holds the equivalent records for the C
``softIoc``, so a check about protocol truth can be asked of all three servers.

PVs (after the prefix):

========  ============================================================================
DOUBLE    double, units ``mm``, precision 3, display -10..10, alarm HIHI 8 / LOLO -8,
          warning HIGH 5 / LOW -5, control -10..10, monitor deadband 0, archive 1.0
LONG      32-bit integer
ENUM      enum ``Off`` / ``On`` / ``Fault``
STRING    string (40 characters at most)
LSTRING   string of 120 characters, readable whole as a CHAR array via ``LSTRING.$``
CHARWF    CHAR waveform, 256 elements, holds ``b"hello"``
WF10      DOUBLE waveform of 10 elements, 0..9
WF1M      DOUBLE waveform of 1,000,000 elements, 0..999999
DYN       DOUBLE array of at most 100 elements, currently 3 (``[1, 2, 3]``)
REJECT    double whose putter refuses negative values (a put fails with ECA_PUTFAIL)
SLOW      double whose putter waits 5 ms (a put that runs in a task)
EGU       string; writing it changes the units of DOUBLE (a DBE_PROPERTY event)
BULK:n    ``--bulk N`` adds N plain doubles ``BULK:0`` ... ``BULK:N-1`` for benchmarks
========  ============================================================================
"""

from __future__ import annotations

import argparse
from typing import Dict, List, Optional

import numpy as np
from caproto import ChannelDouble, ChannelType
from caproto.server import PVGroup, pvproperty

LONG_STRING = "long-string:" + "x" * 108
ENUM_STRINGS = ("Off", "On", "Fault")
WF1M_LENGTH = 1_000_000


class UnderTest(PVGroup):
    """Every PV shape the conformance tests need (see the module docstring)."""

    DOUBLE = pvproperty(
        value=0.0, units="mm", precision=3,
        upper_disp_limit=10.0, lower_disp_limit=-10.0,
        upper_alarm_limit=8.0, lower_alarm_limit=-8.0,
        upper_warning_limit=5.0, lower_warning_limit=-5.0,
        upper_ctrl_limit=10.0, lower_ctrl_limit=-10.0,
        value_atol=0.0, log_atol=1.0, record="ai",
    )
    LONG = pvproperty(value=0, dtype=int)
    ENUM = pvproperty(value="Off", enum_strings=ENUM_STRINGS, dtype=ChannelType.ENUM)
    STRING = pvproperty(value="hello", dtype=ChannelType.STRING)
    LSTRING = pvproperty(value=LONG_STRING, dtype=ChannelType.STRING,
                         long_string_max_length=121)
    CHARWF = pvproperty(value=b"hello", dtype=ChannelType.CHAR, max_length=256)
    WF10 = pvproperty(value=[float(i) for i in range(10)], max_length=10)
    WF1M = pvproperty(value=np.arange(WF1M_LENGTH, dtype=float), dtype=float,
                      max_length=WF1M_LENGTH)
    DYN = pvproperty(value=[1.0, 2.0, 3.0], max_length=100)
    REJECT = pvproperty(value=0.0)
    SLOW = pvproperty(value=0.0, precision=3)
    EGU = pvproperty(value="mm", dtype=ChannelType.STRING)

    @REJECT.putter
    async def REJECT(self, instance, value: float) -> float:
        if value < 0:
            raise ValueError(f"refusing negative value {value}")
        return value

    @SLOW.startup
    async def SLOW(self, instance, async_lib) -> None:
        self.sleep = async_lib.library.sleep

    @SLOW.putter
    async def SLOW(self, instance, value: float) -> float:
        sleep = getattr(self, "sleep", None)  # None until the startup hook ran
        if sleep is not None:
            await sleep(0.005)
        return value

    @EGU.putter
    async def EGU(self, instance, value: str) -> str:
        await self.DOUBLE.write_metadata(units=value)
        return value


def make_pvdb(prefix: str, bulk: int = 0) -> Dict[str, object]:
    """The PV database: :class:`UnderTest` under ``prefix`` plus ``bulk`` plain doubles."""
    pvdb = dict(UnderTest(prefix=prefix).pvdb)
    for i in range(bulk):
        pvdb[f"{prefix}BULK:{i}"] = ChannelDouble(value=float(i))
    return pvdb


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("iocgate", "caproto"), default="iocgate")
    parser.add_argument("--prefix", default="X:")
    parser.add_argument("--bulk", type=int, default=0, help="add N BULK:n doubles")
    parser.add_argument("--async-lib", default="asyncio", choices=("asyncio", "trio", "curio"))
    args = parser.parse_args(argv)
    pvdb = make_pvdb(args.prefix, args.bulk)
    if args.server == "iocgate":
        from iocgate.server import run

        run(pvdb, async_lib=args.async_lib)
    else:
        from caproto.server import run

        run(pvdb, module_name=f"caproto.{args.async_lib}.server")


if __name__ == "__main__":
    main()
