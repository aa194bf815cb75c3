"""The device path of an IOC at the node layer, against the real LineSimulator over TCP:
batched reads stop at the first link failure and probe once per backoff step, puts go ahead
of queued reads, coalesce, and are refused while the link is down; the heartbeat of a slow
batch on asyncio, trio and curio."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Iterator, List, Optional

import pytest

from iocgate import DeviceLinkDown, DeviceTimeout
from iocgate.nodes import ControlSystem, aread_many, read_many
from iocgate.sim import LineSimulator

from .test_async import LIBRARIES, run


class Meter:
    """``CH<k>?`` -> ``k``; ``SP <v>`` stores v, answers ``OK``; ``SP?`` -> v."""

    def __init__(self) -> None:
        self.setpoint = "0"

    def __call__(self, line: str) -> Optional[str]:
        if line.startswith("SP "):
            self.setpoint = line[3:]
            return "OK"
        if line == "SP?":
            return self.setpoint
        return line[2:-1] if line.startswith("CH") else "?"


#: seconds of every backoff step
BACKOFF = 0.25
#: runs a blocking read_many beside the test (its reads go through the endpoint's worker)
BACKGROUND = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="batch")


@pytest.fixture
def meter() -> Iterator[LineSimulator]:
    with LineSimulator(Meter(), name="meter") as simulator:
        simulator.start_tcp()
        yield simulator


@pytest.fixture
def lines(ctrl: ControlSystem, meter: LineSimulator):
    link = ctrl.tcp("127.0.0.1", meter.port, timeout=0.2)
    link.endpoint.backoff = (BACKOFF, BACKOFF)
    return link.lines()


def channels(lines, count: int) -> List:
    return [lines.command(get=f"CH{k}?", type=int) for k in range(count)]


def test_the_first_timeout_ends_the_batch_and_a_down_link_gets_one_probe_per_step(
        meter, lines):
    nodes = channels(lines, 20)
    assert read_many(nodes) == list(range(20))
    meter.faults.withhold = True  # hung: reads nothing back
    meter.clear_received()
    first = read_many(nodes)
    assert isinstance(first[0], DeviceTimeout)
    assert all(isinstance(r, DeviceLinkDown) and r.cause is first[0] for r in first[1:])
    assert meter.received == ["CH0?"]  # the rest of the batch was not sent
    assert "link down, next attempt in" in str(first[1])
    again = read_many(nodes)  # inside the backoff step: nothing sent at all
    assert all(isinstance(r, DeviceLinkDown) for r in again)
    assert meter.received == ["CH0?"]
    meter.faults.withhold = False
    time.sleep(BACKOFF)  # past the step: the next batch probes, and gets everything
    assert read_many(nodes) == list(range(20))
    assert lines.endpoint.link_up


def test_a_put_goes_ahead_of_every_read_not_yet_sent(meter, lines):
    meter.faults.delay = 0.05
    nodes = channels(lines, 10)
    setpoint = lines.command(get="SP?", set="SP {value}", set_reply=True)
    batch = BACKGROUND.submit(read_many, nodes)
    while not meter.received:  # the batch's first read is on its way
        time.sleep(0.005)
    put = lines.endpoint.submit_put(setpoint, setpoint.set, 5)
    assert batch.result(5) == list(range(10)) and put.result(5) is None
    order = meter.received
    assert order.index("SP 5") <= 2, order  # at most the read in flight went first


def test_queued_puts_to_one_node_coalesce_and_every_caller_completes(meter, ctrl):
    lines = ctrl.tcp("127.0.0.1", meter.port, timeout=5).lines()  # no time-outs: coalescing
    setpoint = lines.command(get="SP?", set="SP {value}", set_reply=True)
    endpoint = lines.endpoint
    answer, busy, release = meter.handler, threading.Event(), threading.Event()

    def held(line: str) -> str:  # the instrument is busy with the first put until released
        busy.set()
        release.wait(5)
        return answer(line)

    meter.handler = held
    futures = [endpoint.submit_put(setpoint, setpoint.set, 0)]
    assert busy.wait(5)
    futures += [endpoint.submit_put(setpoint, setpoint.set, v) for v in range(1, 1000)]
    release.set()
    assert [f.result(5) for f in futures] == [None] * 1000
    # the one in progress, then only the newest of the 999 queued behind it
    assert meter.received == ["SP 0", "SP 999"]


def test_a_put_is_refused_at_once_while_down_and_never_sent_later(meter, lines):
    setpoint = lines.command(get="SP?", set="SP {value}", set_reply=True)
    meter.faults.withhold = True
    busy = BACKGROUND.submit(read_many, channels(lines, 3))
    while not meter.received:
        time.sleep(0.005)
    queued = lines.endpoint.submit_put(setpoint, setpoint.set, 7)  # behind the hung read
    with pytest.raises(DeviceLinkDown) as info:
        queued.result(5)
    assert isinstance(info.value.cause, DeviceTimeout)
    assert isinstance(busy.result(5)[0], DeviceTimeout)
    start = time.monotonic()
    with pytest.raises(DeviceLinkDown, match="link down, next attempt in"):
        lines.endpoint.submit_put(setpoint, setpoint.set, 8)
    assert time.monotonic() - start < 0.1
    meter.faults.withhold = False
    time.sleep(BACKOFF)
    assert read_many([setpoint]) == ["0"]  # neither 7 nor 8 reached the instrument
    assert not any(line.startswith("SP ") for line in meter.received)


def test_puts_from_many_threads_all_complete_with_the_newest_value_written(meter, lines):
    meter.faults.delay = 0.02
    setpoint = lines.command(get="SP?", set="SP {value}", set_reply=True)
    results: List[concurrent.futures.Future] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        for i in range(50):
            future = lines.endpoint.submit_put(setpoint, setpoint.set, n * 100 + i)
            with lock:
                results.append(future)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert all(f.result(10) is None for f in results) and len(results) == 200
    writes = [line for line in meter.received if line.startswith("SP ")]
    assert len(writes) < 200  # coalesced
    assert read_many([setpoint]) == [writes[-1][3:]]


@pytest.mark.parametrize("lib", LIBRARIES)
def test_heartbeat_of_a_slow_batch_and_aput(lib, meter, lines):
    meter.faults.delay = 0.1
    beats: List[float] = []
    setpoint = lines.command(get="SP?", set="SP {value}", set_reply=True)

    async def beat(elapsed: float) -> None:
        beats.append(elapsed)

    async def main():
        start = time.monotonic()
        values = await aread_many(channels(lines, 5), heartbeat=(0.12, beat))
        elapsed = time.monotonic() - start
        await setpoint.aput(3)
        return values, elapsed

    values, elapsed = run(lib, main)
    assert values == list(range(5))  # 5 replies of 0.1 s each: beats at 0.12, 0.24, ...
    assert 2 <= len(beats) <= elapsed / 0.12, (beats, elapsed)
    assert beats == sorted(beats) and beats[0] >= 0.12
    assert read_many([setpoint]) == ["3"]


def test_compound_queries_read_several_nodes_per_message(ctrl, psu):
    scpi = ctrl.tcp("127.0.0.1", psu.port, timeout=1.0).scpi(compound=3)
    headers = ("MEAS:VOLT", "MEAS:CURR", "VOLT", "CURR", "*IDN")
    nodes = [scpi.command(h, type=str) for h in headers]
    psu.clear_received()
    values = read_many(nodes)
    assert psu.received == ["MEAS:VOLT?;:MEAS:CURR?;:VOLT?", "CURR?;*IDN?"]
    assert values == [node.get() for node in nodes]
    assert values[-1].startswith("iocgate,PSU-3005")


def test_a_device_without_compound_queries_is_read_one_query_at_a_time(ctrl):
    def single_only(line: str) -> str:
        return "ERROR" if ";" in line else line[2:-1]

    with LineSimulator(single_only, name="single") as simulator:
        scpi = ctrl.tcp("127.0.0.1", simulator.start_tcp(), timeout=1.0).scpi(compound=4)
        nodes = [scpi.command(f"CH{k}", type=int) for k in range(6)]
        assert read_many(nodes) == list(range(6))
        assert read_many(nodes) == list(range(6))
    assert simulator.received == ["CH0?;:CH1?;:CH2?;:CH3?"] + [f"CH{k}?" for k in range(6)] * 2
    assert scpi.compound == 1
