"""The oscilloscope IOC on its simulator: the contract, and waveforms read as binary blocks."""

from __future__ import annotations

import numpy
import pytest

from iocgate.testing import contract_tests
from iocs.oscilloscope import OscilloscopeIOC


def waveform(ioc) -> numpy.ndarray:
    return numpy.asarray(ioc.pv("WAVEFORM").read().data)


class TestOscilloscope(contract_tests(OscilloscopeIOC)):
    reply_timeout = 1.0  # 100k-point traces (the POINTS round trip) load the machine

    def test_waveform_has_the_points_and_triggers_mid_screen(self, ioc):
        for suffix, value in (("POINTS", 1000), ("TIMEBASE", 1e-3), ("VOLTS_PER_DIV", 0.5),
                              ("TRIGGER_LEVEL", 0.5)):
            ioc.put(suffix, [value])
        state = ioc.simulation.handle.state
        state.set("noise", 0.0)
        traces = []
        try:
            self.wait(lambda: traces.append(waveform(ioc)) or (
                traces[-1].size == 1000 and abs(traces[-1][500] - 0.5) < 1e-3))
        finally:
            state.set("noise", 0.01)
        trace = traces[-1]
        assert trace[499] < 0.5 < trace[501]  # rising through the level at the centre
        assert trace.max() == pytest.approx(1.0, abs=0.01)  # 1 V sine, 10 periods on screen

    def test_a_hundred_thousand_points(self, ioc):
        ioc.put("POINTS", [100_000])
        try:
            self.wait(lambda: waveform(ioc).size == 100_000)
        finally:
            ioc.put("POINTS", [1000])
