"""The put log's lines, burst merging and rotation (files only, no sockets)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from iocgate.ioc._cli import make_parser
from iocgate.ioc._safety import safety_from_arguments
from iocgate.security import PutLog, format_put

from .safety_ioc import SafetyIOC


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_line_has_time_client_pv_old_new_and_result():
    line = json.loads(format_put(0.25, "desk", "bob", "PSU:VOLT", 1.0, np.array([2.0]),
                                 "ECA_NOWTACCESS"))
    assert line == {"time": "1970-01-01T00:00:00.250000+00:00", "host": "desk", "user": "bob",
                    "pv": "PSU:VOLT", "old": 1.0, "new": [2.0], "result": "ECA_NOWTACCESS"}


def test_a_burst_is_one_line_with_count_min_and_max(tmp_path):
    log = PutLog(str(tmp_path / "puts.log"))
    for when, value in enumerate([5.0, 1.0, 9.0, 3.0]):
        log.add(100.0 + when, "desk", "bob", "PSU:VOLT", value - 1, value, "OK")
    log.add(101.5, "desk", "eve", "PSU:VOLT", 3.0, 4.0, "OK")  # another client
    log.add(102.5, "desk", "bob", "PSU:MODE", "Off", "On", "OK")
    log.flush()
    bob, eve, mode = lines(tmp_path / "puts.log")
    assert (bob["old"], bob["new"], bob["count"], bob["min"], bob["max"]) == (4.0, 3.0, 4, 1.0,
                                                                              9.0)
    assert bob["time"].startswith("1970-01-01T00:01:40")  # the first put's time
    assert "count" not in eve and eve["user"] == "eve"
    assert mode["new"] == "On" and "count" not in mode


def test_rotation_keeps_the_given_number_of_files(tmp_path):
    path = tmp_path / "puts.log"
    log = PutLog(str(path), max_bytes=300, backups=2)
    for index in range(8):
        log.add(float(index), "h", "u", f"PV{index}", 0, index, "OK")
        log.flush()
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["puts.log", "puts.log.1", "puts.log.2"]
    assert lines(path)[-1]["pv"] == "PV7"
    assert all(path.stat().st_size <= 300 for path in tmp_path.iterdir())


@pytest.mark.parametrize("option, path, message", [
    ("--acf", "missing.acf", "error: --acf {work}/missing.acf: No such file or directory"),
    ("--acf", "bad.acf", "error: --acf {work}/bad.acf: Access rights must be NONE, READ or"
                         " WRITE at line 1"),
    ("--put-log", "no/dir/puts.log",
     "error: --put-log {work}/no/dir/puts.log: No such file or directory"),
    ("--put-log", ".", "error: --put-log {work}: Is a directory"),
])
def test_a_bad_option_file_stops_the_ioc_with_one_line_and_status_2(tmp_path, capsys, option,
                                                                       path, message):
    (tmp_path / "bad.acf").write_text("ASG(DEFAULT) {RULE(1, WRIT)}\n")
    ioc = SafetyIOC()
    argv = [option, str(tmp_path / path)]
    parser, _ = make_parser(SafetyIOC, argv)
    args = parser.parse_args(argv)
    with pytest.raises(SystemExit) as stopped:
        with safety_from_arguments(ioc, args, parser):
            pass
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and message.format(work=tmp_path) in lines[0]


def test_two_iocs_cannot_share_an_autosave_file(tmp_path, capsys):
    argv = ["--autosave-dir", str(tmp_path)]
    parser, _ = make_parser(SafetyIOC, argv)
    args = parser.parse_args(argv)
    with safety_from_arguments(SafetyIOC(), args, parser):
        with pytest.raises(SystemExit) as stopped:
            with safety_from_arguments(SafetyIOC(), args, parser):
                pass
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and (
        f"error: --autosave-dir {tmp_path}: autosave.json is in use by another running IOC "
        "(give each IOC its own directory)") in lines[0]
