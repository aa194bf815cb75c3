"""The put log's lines, burst merging and rotation (files only, no sockets)."""

from __future__ import annotations

import json

import numpy as np

from iocgate.security import PutLog, format_put


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
