"""Instruments for the IOC-level fault tests, one per transport, all run in the test process
so a test can hang them, make them answer garbage, cut them off and bring them back.

Each :class:`FaultyDevice` says which IOC module talks to it, with which command-line
address, and which PVs hold its setpoint and a scanned readback.
"""

from __future__ import annotations

import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, List, Optional

from devices.power_supply import PowerSupplySimulator
from devices.temperature_controller import TemperatureControllerSimulator
from iocgate.sim import GARBAGE, LineSimulator


class FaultyDevice:
    """What a fault test needs of one instrument.

    Attributes:
        module: the IOC run as ``python -m module``.
        args: its device address options.
        prefix, setpoint, readback: PV prefix, setpoint PV and a scanned readback PV.
        refusal: a setpoint value the instrument accepts (put during the outage).
        fresh: another accepted value (put after recovery).
    """

    module = ""
    args: List[str] = []
    prefix = ""
    setpoint = ""
    readback = ""
    refusal = "7.5"
    fresh = "3"

    def hang(self) -> None:
        """Stop answering (requests are read and dropped)."""
        raise NotImplementedError

    def garbage(self) -> None:
        """Answer every request with rubbish."""
        raise NotImplementedError

    def disconnect(self) -> None:
        """Go away: connections refused / port gone / program not runnable."""
        raise NotImplementedError

    def recover(self) -> None:
        """Undo every fault; the instrument keeps its settings."""
        raise NotImplementedError

    def device_setpoint(self) -> float:
        """The setpoint the instrument itself holds."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class LineDevice(FaultyDevice):
    """A :class:`LineSimulator` (TCP, VISA socket or pseudo-terminal)."""

    def __init__(self, sim: LineSimulator, setpoint_of: Callable[[], float]):
        self.sim = sim
        self._setpoint_of = setpoint_of
        self._down = False

    def hang(self) -> None:
        self.sim.faults.withhold = True

    def garbage(self) -> None:
        self.sim.faults.garbage = True

    def disconnect(self) -> None:
        self._down = True
        self.sim.stop()

    def recover(self) -> None:
        self.sim.faults.clear()
        if self._down:
            self._down = False
            self.sim.restart()  # same TCP port; a new pty behind the same link

    def device_setpoint(self) -> float:
        return self._setpoint_of()

    def stop(self) -> None:
        self.sim.stop()


def psu_device(transport: str) -> LineDevice:
    sim = PowerSupplySimulator(port=0)
    port = sim.start()
    device = LineDevice(sim, lambda: sim.state.get("volt"))
    device.module, device.prefix = "iocs.power_supply", "PSU:"
    device.setpoint, device.readback = "VOLT", "VOLT_RBV"
    device.args = (["--host", "127.0.0.1", "--port", str(port)] if transport == "tcp"
                   else ["--resource", f"TCPIP::127.0.0.1::{port}::SOCKET"])
    return device


def tc_serial_device(tmp: Path) -> LineDevice:
    sim = TemperatureControllerSimulator()
    link = tmp / "ttyTC"
    sim.start_pty(link=str(link))  # a restart opens a new pty and re-points the link
    device = LineDevice(sim, lambda: sim.state.get("setpoint"))
    device.module, device.prefix = "iocs.temperature_controller", "TC:"
    device.setpoint, device.readback = "SETPOINT", "TEMP_RBV"
    device.args = ["--serial", str(link)]
    device.refusal, device.fresh = "123", "150"
    return device


class WebMeter(FaultyDevice):
    """``GET/POST /volt`` and ``GET /volt_rbv`` (plain-text volts, 0-30 V) over HTTP."""

    module, prefix, setpoint, readback = "tests.ioc.transport_iocs", "WEB:", "VOLT", "VOLT_RBV"

    def __init__(self) -> None:
        self.volt = 0.0
        self.withhold = False
        self.answer_garbage = False
        self._released = threading.Event()
        self._server: Optional[ThreadingHTTPServer] = None
        self.port = 0
        self._serve()
        self.args = ["web", "--url", f"http://127.0.0.1:{self.port}"]

    def _serve(self) -> None:
        meter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, code: int, text: str) -> None:
                if meter.withhold:
                    meter._released.wait(30)
                    return  # the client gave up long ago
                body = GARBAGE if meter.answer_garbage else text.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path in ("/volt", "/volt_rbv"):
                    self._reply(200, f"{meter.volt:.3f}")
                else:
                    self._reply(404, "no such resource")

            def do_POST(self) -> None:
                text = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                try:
                    volts = float(text)
                except ValueError:
                    volts = -1.0
                if self.path != "/volt" or not 0 <= volts <= 30:
                    self._reply(400, f"bad value {text!r}")
                    return
                if not meter.withhold:
                    meter.volt = volts
                self._reply(200, "")

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def hang(self) -> None:
        self._released.clear()
        self.withhold = True

    def garbage(self) -> None:
        self.answer_garbage = True

    def disconnect(self) -> None:
        self.stop()

    def recover(self) -> None:
        self.withhold = self.answer_garbage = False
        self._released.set()
        if self._server is None:
            self._serve()

    def device_setpoint(self) -> float:
        return self.volt

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


METER_SCRIPT = """#!/bin/sh
# a meter driven by a program: no argument prints the setpoint (V), one argument sets it
dir=$(dirname "$0")
case "$(cat "$dir/fault" 2>/dev/null)" in
  hang) exec sleep 30 ;;
  garbage) echo '#!?garbage'; exit 0 ;;
esac
if [ $# -ge 1 ]; then printf '%s\\n' "$1" > "$dir/volt"; else cat "$dir/volt"; fi
"""


class ShellMeter(FaultyDevice):
    """A shell script holding its setpoint in a file; faults come from a ``fault`` file, and
    a disconnected meter is a script that cannot be executed."""

    module, prefix, setpoint, readback = "tests.ioc.transport_iocs", "SH:", "VOLT", "VOLT_RBV"

    def __init__(self, directory: Path):
        self.dir = directory
        self.script = directory / "meter"
        self.script.write_text(METER_SCRIPT)
        (directory / "volt").write_text("0.000\n")
        self._executable(True)
        self.args = ["shell", "--command", str(self.script)]

    def _executable(self, yes: bool) -> None:
        mode = stat.S_IRUSR | stat.S_IWUSR | (stat.S_IXUSR if yes else 0)
        os.chmod(self.script, mode)

    def _fault(self, text: str) -> None:
        (self.dir / "fault").write_text(text)

    def hang(self) -> None:
        self._fault("hang")

    def garbage(self) -> None:
        self._fault("garbage")

    def disconnect(self) -> None:
        self._executable(False)

    def recover(self) -> None:
        self._fault("")
        self._executable(True)

    def device_setpoint(self) -> float:
        return float((self.dir / "volt").read_text())

    def stop(self) -> None:
        self.recover()


def make_device(transport: str, tmp: Path) -> FaultyDevice:
    if transport in ("tcp", "visa"):
        return psu_device(transport)
    if transport == "serial":
        return tc_serial_device(tmp)
    if transport == "http":
        return WebMeter()
    return ShellMeter(tmp)
