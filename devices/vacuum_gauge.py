"""A two-channel vacuum gauge controller (Pfeiffer-TPG-36x-like) on a serial line (or TCP).

Protocol: the host sends a mnemonic line (``"\\r\\n"``), the controller answers ``ACK``
(``\\x06``) or ``NAK`` (``\\x15``) as a line; the host then sends ``ENQ`` (``\\x05``, no
terminator) and gets the reply line. Commands::

    PR1 / PR2           pressure of a channel: ``<status>,<value>`` (``0,+1.2340E-03``);
                        status 0 ok, 1 underrange, 2 overrange, 3 sensor error,
                        4 sensor off, 5 no sensor, 6 identification error
    UNI / UNI,<n>       pressure unit: 0 mbar, 1 Torr, 2 Pa, 3 micron, 4 hPa
    TID                 gauge identification per channel (``PKR,TPR``)

Unknown commands and bad values get ``NAK``; an ``ENQ`` with nothing pending gets the last
reply again (as the real one does). State (the backdoor's): ``pressure_1``/``pressure_2``
(mbar), ``status_1``/``status_2``, ``unit``.
Run: ``python -m devices.vacuum_gauge [--pty] [--port N] [--control-port N]``.
"""

from __future__ import annotations

import random
import re
from typing import List, Optional, Tuple

from iocgate.sim import LineSimulator

ACK, NAK, ENQ = "\x06", "\x15", "\x05"
#: one mbar in each unit, by unit code
PER_MBAR = (1.0, 0.750062, 100.0, 750.062, 1.0)


class GaugeModel:
    """The controller's state; public attributes are the backdoor's."""

    def __init__(self) -> None:
        self.pressure_1, self.pressure_2 = 1.0e-6, 1013.0  # mbar
        self.status_1, self.status_2 = 0, 0
        self.unit = 0
        self.noise = 0.01  # relative

    def reply(self, command: str) -> Optional[str]:
        """The reply data for ``command``, or ``None`` to refuse it (NAK)."""
        match = re.fullmatch(r"PR([12])", command)
        if match:
            channel = match.group(1)
            mbar = getattr(self, f"pressure_{channel}") * (1 + random.gauss(0.0, self.noise))
            value = mbar * PER_MBAR[self.unit]
            return f"{getattr(self, f'status_{channel}')},{value:+.4E}"
        if command == "UNI":
            return str(self.unit)
        match = re.fullmatch(r"UNI,([0-4])", command)
        if match:
            self.unit = int(match.group(1))
            return str(self.unit)
        if command == "TID":
            return "PKR,TPR"
        return None


class VacuumGaugeSimulator(LineSimulator):
    """The controller served over a pty and/or TCP; ``model`` is the backdoor's state."""

    def __init__(self) -> None:
        self.model = GaugeModel()
        self._pending = ""
        super().__init__(self._handle, terminator="\r\n", name="tpg36x")

    def _handle(self, line: str) -> str:
        if line == ENQ:
            return self._pending
        reply = self.model.reply(line.strip())
        if reply is None:
            return NAK
        self._pending = reply
        return ACK

    def _split(self, buffer: bytes) -> Tuple[List[bytes], bytes]:
        # ENQ comes alone, without a terminator: it is a message of its own
        lines: List[bytes] = []
        while ENQ.encode() in buffer:
            before, buffer = buffer.split(ENQ.encode(), 1)
            done, _ = super()._split(before)  # an unterminated fragment before ENQ is noise
            lines += done + [ENQ.encode()]
        done, buffer = super()._split(buffer)
        return lines + done, buffer


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m devices.vacuum_gauge [--pty] [--port N] [--control-port N]``."""
    from iocgate.sim import run_standalone

    return run_standalone("Simulated TPG-36x-like vacuum gauge controller",
                          VacuumGaugeSimulator, argv, allow_pty=True)


if __name__ == "__main__":
    raise SystemExit(main())
