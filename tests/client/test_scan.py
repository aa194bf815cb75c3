"""Step scans against the emulated motor (positioner), a calc record (counter) and plain PVs."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from iocgate import LimitError
from iocgate.client import caget, caput
from iocgate.client.scan import Counter, Positioner, Trigger, a2scan, ascan, dscan, mesh


def test_ascan_with_motor_counter_and_csv(servers, motor, tmp_path):
    stream = io.StringIO()
    out = tmp_path / "scan.csv"
    result = ascan(motor, 0.0, 1.0, 3, counters=[Counter(servers.p + "signal", label="signal")],
                   stream=stream, filename=str(out))
    assert result.columns == [motor.prefix, "signal"]
    np.testing.assert_allclose(result[motor.prefix], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(result["signal"], [1.0, 2.0, 3.0])  # signal = 2*RBV + 1
    assert result.data.shape == (3, 2) and len(result) == 3
    assert stream.getvalue().endswith("] 3/3\n")
    rows = list(csv.reader(out.open()))
    assert rows[0] == [motor.prefix, "signal"]
    assert [float(x) for x in rows[2]] == [0.5, 2.0]


def test_dscan_returns_to_start(servers, motor):
    motor.move(0.5, wait=True, timeout=20)
    result = dscan(motor, -0.5, 0.5, 3, counters=[servers.p + "signal"], progress=False)
    np.testing.assert_allclose(result[motor.prefix], [0.0, 0.5, 1.0])
    assert motor.get_position() == pytest.approx(0.5)


def test_a2scan_and_mesh_with_plain_pvs_and_trigger(servers, capsys):
    ao = Positioner(servers.p + "ao_w", label="ao")
    wave_trigger = Trigger(servers.p + "str_w", value="fired")
    result = a2scan(ao, 0.0, 1.0, servers.p + "mode_w", 0, 2, 3,
                    counters=[servers.p + "ao_w"], triggers=[wave_trigger], progress=False)
    np.testing.assert_allclose(result.data, [[0.0, 0, 0.0], [0.5, 1, 0.5], [1.0, 2, 1.0]])
    assert caget(servers.p + "str_w") == "fired"
    assert capsys.readouterr().err == ""
    grid = mesh(ao, 0.0, 1.0, 2, servers.p + "mode_w", 0, 1, 2)
    np.testing.assert_allclose(grid.data, [[0, 0], [1, 0], [0, 1], [1, 1]])
    assert "4/4" in capsys.readouterr().err  # progress bar on stderr by default


def test_scan_stops_on_limit_violation(servers, motor):
    caput(servers.p + "m1:HLM", 1.0, wait=True)
    try:
        with pytest.raises(LimitError):
            ascan(motor, 0.0, 2.0, 3, progress=False)  # third point (2.0) is refused
        assert motor.get_position() == pytest.approx(1.0)  # stays at the last good point
    finally:
        caput(servers.p + "m1:HLM", 10.0, wait=True)
