"""Autosave: atomic files, what a corrupt, partial or missing file restores, and 100 rounds of
``kill -9`` during a stream of puts against a real IOC process."""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iocgate import setting
from iocgate.ioc._autosave import (
    Autosave,
    AutosaveError,
    Item,
    decode,
    default_directory,
    encode,
    read_saved,
    write_atomic,
)
from iocgate.testing import LOOPBACK, RunningIOC, free_port, subprocess_env
from iocs.power_supply import PowerSupplyIOC

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "server"))
import rawca  # noqa: E402

from .safety_ioc import SafetyIOC  # noqa: E402

ROUNDS = 100
DELAY = 0.02
"""--autosave-delay of the kill -9 IOC (s); its loop then ticks every DELAY / 2."""
WINDOW = DELAY + DELAY / 2 + 1.0
"""A put acknowledged this long (s) before the kill must survive it (1 s for scheduling on a
loaded machine; rounds that wait for the save check the value exactly)."""
STREAM = 0.1
"""Longest stream of puts (s) before a kill."""
START_TIMEOUT = 10.0


# -- the file: no sockets --------------------------------------------------------------------
def test_write_atomic_keeps_the_previous_generation(tmp_path):
    path = tmp_path / "autosave.json"
    write_atomic(path, encode({"A": 1.0}, 0.0))
    write_atomic(path, encode({"A": 2.0}, 1.0))
    assert decode(path.read_text()) == {"A": 2.0}
    assert decode((tmp_path / "autosave.json.bak").read_text()) == {"A": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autosave.json", "autosave.json.bak"]


@pytest.mark.parametrize("text, reason", [
    ("", "not valid JSON"),
    ('{"format": "iocgate-autosave 1", "values": {"A": 1', "not valid JSON"),  # cut short
    ('{"values": {}}', "not an 'iocgate-autosave 1' file"),
    ('{"format": "iocgate-autosave 1", "values": [1]}', "no 'values' table"),
    ("\x00\x00\x00", "not valid JSON"),
])
def test_decode_rejects_what_is_not_a_whole_file(text, reason):
    with pytest.raises(AutosaveError, match=reason):
        decode(text)


def test_a_corrupt_file_restores_the_backup_and_says_so(tmp_path, caplog):
    path = tmp_path / "autosave.json"
    write_atomic(path, encode({"A": 1.0}, 0.0))
    write_atomic(path, encode({"A": 2.0}, 1.0))
    path.write_text('{"format": "iocgate-autosave 1", "val')  # a torn write
    assert read_saved(path) == ({"A": 1.0}, tmp_path / "autosave.json.bak")
    assert f"{path} is unusable: not valid JSON" in caplog.text


def test_a_corrupt_file_never_replaces_the_backup(tmp_path):
    # restored from the backup, the next saves must not rotate the corrupt file over it
    path = tmp_path / "autosave.json"
    write_atomic(path, encode({"A": 1.0}, 0.0))
    write_atomic(path, encode({"A": 2.0}, 1.0))
    path.write_text("")  # truncated
    write_atomic(path, encode({"A": 3.0}, 2.0))
    assert decode((tmp_path / "autosave.json.bak").read_text()) == {"A": 1.0}
    write_atomic(path, encode({"A": 4.0}, 3.0))
    assert decode((tmp_path / "autosave.json.bak").read_text()) == {"A": 3.0}


def test_no_usable_file_gives_the_defaults(tmp_path, caplog):
    path = tmp_path / "autosave.json"
    assert read_saved(path) == ({}, None)
    path.write_bytes(b"\xff\xfe garbage")
    (tmp_path / "autosave.json.bak").write_text("[]")
    assert read_saved(path) == ({}, None)
    assert "cannot read" in caplog.text and "is unusable" in caplog.text


def test_restore_policy_and_fields(tmp_path):
    ioc = SafetyIOC()
    items = {item.name: item.restore for item in ioc.autosave_items()}
    # the setpoint goes back to the device; the switch (an enum: it turns things on) does not
    assert items == {"SAFE:SETPOINT": "device", "SAFE:SWITCH": "pv"}
    path = tmp_path / "autosave.json"
    write_atomic(path, encode({"SAFE:SETPOINT": 1.5, "SAFE:SWITCH": "On", "GONE": 1}, 0.0))
    saver = Autosave(ioc.autosave_items(), path)
    to_device = saver.restore()
    assert [item.name for item in to_device] == ["SAFE:SETPOINT"]
    assert (ioc.setpoint.value, ioc.switch.value) == (1.5, "On")


def test_an_unwritable_directory_fails_the_save_and_keeps_the_old_file(tmp_path):
    item = Item("X", SafetyIOC().setpoint, "pv")
    blocker = tmp_path / "file"
    blocker.write_text("")
    saver = Autosave([item], blocker / "autosave.json")  # its directory is a file
    with pytest.raises(OSError):
        saver.save()
    assert isinstance(saver.error, OSError) and saver.due(time.time() + 1)


def test_default_directory_is_per_ioc_under_the_state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_directory("PSU:") == tmp_path / "iocgate" / "PSU_"


# -- kill -9 ------------------------------------------------------------------------------
def _wait(check, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {START_TIMEOUT} s"
        time.sleep(0.005)


class Zygote:
    """tests/safety/zygote.py: forks the safety IOC on request, kills it with SIGKILL."""

    def __init__(self, tmp_path: Path):
        self.port = free_port()
        env = subprocess_env(self.port, ZYGOTE_LOG=str(tmp_path / "ioc.log"))
        self.process = subprocess.Popen([sys.executable, str(HERE / "zygote.py")],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=env, cwd=str(HERE))
        self._buffer = b""

    def command(self, line: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + START_TIMEOUT
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"zygote did not answer {line!r}"
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 4096)
                assert chunk, "zygote exited"
                self._buffer += chunk
        reply, self._buffer = self._buffer.split(b"\n", 1)
        return reply.decode()

    def connect(self) -> rawca.Circuit:
        """A raw CA circuit to the IOC, once it listens (bounded by START_TIMEOUT)."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                return rawca.Circuit(self.port)
            except OSError:
                assert time.monotonic() < deadline, "the IOC did not listen"
                time.sleep(0.002)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def _saved(directory: Path) -> object:
    """SAFE:SETPOINT in the autosave file now (None when there is none yet)."""
    return read_saved(directory / "autosave.json")[0].get("SAFE:SETPOINT")


def _check_files(directory: Path) -> None:
    for name in ("autosave.json", "autosave.json.bak"):
        path = directory / name
        if path.exists():
            decode(path.read_text())  # raises if torn


def test_kill_9_during_puts_keeps_the_last_acknowledged_value(tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    directory = tmp_path / "autosave"
    zygote = Zygote(tmp_path)
    value = 0
    candidates, floor = {0.0}, 0.0
    try:
        for round_ in range(ROUNDS):
            zygote.command(f"start -q --interfaces {LOOPBACK} --autosave-dir {directory} "
                           f"--autosave-delay {DELAY}")
            with zygote.connect() as circuit:
                chan = circuit.create_channel("SAFE:SETPOINT")
                restored = float(circuit.get(chan)[1][0])
                where = f"seed {seed}, round {round_}"
                assert restored in candidates, f"{where}: {restored} was never put"
                assert restored >= floor, f"{where}: {restored} older than {floor}"
                acked = []
                stop = time.monotonic() + rng.uniform(0, STREAM)
                while time.monotonic() < stop:
                    value += 1
                    reply = circuit.write(chan, [float(value)])
                    assert reply.p1 == rawca.ECA_NORMAL, reply
                    acked.append((float(value), time.monotonic()))
                mode = rng.choice(["saved", "in flight", "random"])
                if mode == "saved" and acked:  # the file has the last put: it must survive
                    last = float(value)
                    _wait(lambda last=last: _saved(directory) == last, "save of the last put")
                    acked = [(last, -WINDOW)]
                elif mode == "in flight":  # killed with a put on the wire
                    value += 1
                    circuit.write(chan, [float(value)], notify=False)
                killed_at = time.monotonic()
                zygote.command("kill")
            _check_files(directory)
            candidates = {restored} | {v for v, _ in acked} | ({float(value)}
                                                               if mode == "in flight" else set())
            floor = max((v for v, t in acked if t <= killed_at - WINDOW), default=restored)
    finally:
        zygote.close()
    saved = json.loads((directory / "autosave.json").read_text())
    assert saved["format"] == "iocgate-autosave 1"


# -- the power supply on its simulator: what goes back to the device ----------------------
class SavedSupply(PowerSupplyIOC):
    """The power supply with its output switch autosaved too (policy: the PV only)."""

    output = setting("OUTPut[:STATe]", states=("Off", "On"), autosave=True,
                     doc="Output relay Off/On")


def _serve(directory: Path, port: int) -> RunningIOC:
    simulation = SavedSupply.device_config.start_simulator(SavedSupply)
    device = SavedSupply.device_config.open(simulation.options, 2.0)
    group = SavedSupply(device=device, scan_period=0.1)
    group.configure_safety(autosave_dir=str(directory), autosave_delay=0.05)
    return RunningIOC(group, port, simulation=simulation)  # started by "with"


def test_setpoints_go_back_to_the_device_and_the_output_stays_off(tmp_path, ca_env, ca_port):
    with _serve(tmp_path, ca_port) as ioc:
        assert ioc.put("VOLT", 12.5).status.success
        assert ioc.put("OUTPUT", "On").status.success
        _wait(lambda: read_saved(tmp_path / "autosave.json")[0].get("PSU:OUTPUT") == "On",
              "save")
    with _serve(tmp_path, ca_port) as ioc:
        state = ioc.simulation.handle.state
        _wait(lambda: state.get("volt") == 12.5, "voltage restored to the supply")
        assert state.get("output") == 0  # an output is never switched on by a restart
        _wait(lambda: ioc.value("OUTPUT") == "Off", "scan of the real output state")
        assert ioc.value("AUTOSAVE_STATUS") == "OK"
