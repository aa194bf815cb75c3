"""The async face under asyncio, trio and curio: the loop keeps running while a device is
slow, batch reads run endpoints in parallel, cancellation leaves no wedged endpoint."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import curio
import pytest
import trio

from iocgate import DeviceTimeout
from iocgate._compat import current_library, sleep, wait_future
from iocgate.nodes import ValueNode, aread_many, read_many

LIBRARIES = ["asyncio", "trio", "curio"]


def run(lib: str, main):
    """Run ``main()`` under ``lib``."""
    return {"asyncio": lambda: asyncio.run(main()), "trio": lambda: trio.run(main),
            "curio": lambda: curio.run(main)}[lib]()


async def alongside_ticker(lib: str, work):
    """Run ``await work()`` while a ticker sleeps 10 ms in a loop; return
    ``(result, ticks, longest gap between ticks in s)``."""
    state = {"done": False, "ticks": 0, "gap": 0.0}

    async def ticker():
        last = time.monotonic()
        while not state["done"]:
            await sleep(0.01)
            now = time.monotonic()
            state["ticks"] += 1
            state["gap"] = max(state["gap"], now - last)
            last = now

    async def worker():
        try:
            return await work()
        finally:
            state["done"] = True

    if lib == "asyncio":
        result, _ = await asyncio.gather(worker(), ticker())
    elif lib == "trio":
        box = {}
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            box["result"] = await worker()
        result = box["result"]
    else:
        task = await curio.spawn(ticker)
        result = await worker()
        await task.join()
    return result, state["ticks"], state["gap"]


async def cancel_after(lib: str, seconds: float, work) -> bool:
    """Await ``work()`` but cancel it after ``seconds``; True if it was cancelled."""
    if lib == "asyncio":
        try:
            await asyncio.wait_for(work(), seconds)
        except asyncio.TimeoutError:
            return True
    elif lib == "trio":
        with trio.move_on_after(seconds) as scope:
            await work()
        return scope.cancelled_caught
    else:
        try:
            await curio.timeout_after(seconds, work)
        except curio.TaskTimeout:
            return True
    return False


@pytest.mark.parametrize("lib", LIBRARIES)
def test_slow_device_does_not_stall_the_loop(lib, ctrl, psu):
    volt = ctrl.tcp("127.0.0.1", psu.port).scpi().command("VOLT", type=float)
    psu.faults.delay = 0.6

    async def main():
        assert current_library() == lib
        await volt.aset(1.5)  # a set has no reply: not delayed
        return await alongside_ticker(lib, volt.aget)

    value, ticks, gap = run(lib, main)
    assert value == 1.5
    # a blocked loop shows one gap as long as the delay; allow for a busy shared machine
    assert ticks >= 15, ticks
    assert gap < 0.3, gap


@pytest.mark.parametrize("lib", LIBRARIES)
def test_aread_many_reads_endpoints_in_parallel(lib, ctrl, psu, echo_sim):
    volt = ctrl.tcp("127.0.0.1", psu.port).scpi().command("VOLT", type=float)
    idn = ctrl.tcp("127.0.0.1", psu.port).scpi().command("*IDN")
    echo = ctrl.tcp("127.0.0.1", echo_sim.port).lines().command(get="ECHO 7", type=int)
    lost = ctrl.tcp("127.0.0.1", echo_sim.port, timeout=0.2).lines().command(get="ECHO x")
    memory = ValueNode(42)
    psu.faults.delay = 0.3
    echo_sim.faults.delay = 0.3

    async def main():
        start = time.monotonic()
        results = await aread_many([volt, echo, memory, idn])
        return results, time.monotonic() - start

    (results, elapsed), ticks, gap = run(lib, lambda: alongside_ticker(lib, main))
    assert results[0] == 0.0 and results[1] == 7 and results[2] == 42
    assert results[3].startswith("iocgate,PSU-3005")
    assert elapsed < 0.9, elapsed  # 2 reads on the PSU in series, the echo in parallel
    assert gap < 0.3, gap
    echo_sim.faults.withhold = True
    mixed = run(lib, lambda: aread_many([lost, memory]))
    assert isinstance(mixed[0], DeviceTimeout) and mixed[1] == 42


@pytest.mark.parametrize("lib", LIBRARIES)
def test_cancelled_await_does_not_wedge_the_endpoint(lib, ctrl, echo_sim):
    lines = ctrl.tcp("127.0.0.1", echo_sim.port, timeout=2.0).lines()
    slow = lines.command(get="ECHO slow")
    queued = lines.command(get="ECHO queued")
    fast = lines.command(get="ECHO fast")
    echo_sim.faults.delay = 0.3

    async def main():
        pending = slow.endpoint.submit_call(slow.get)  # occupies the worker for 0.3 s
        assert await cancel_after(lib, 0.1, queued.aget)  # cancelled while still queued
        echo_sim.faults.delay = 0.0
        assert await wait_future(pending, 2.0) == "slow"
        return await fast.aget()

    assert run(lib, main) == "fast"
    assert "ECHO queued" not in echo_sim.received  # a job cancelled before it ran never runs


@pytest.mark.parametrize("lib", LIBRARIES)
def test_wait_future_timeout(lib):
    never: concurrent.futures.Future = concurrent.futures.Future()

    async def main():
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            await wait_future(never, 0.05)
        return time.monotonic() - start

    assert run(lib, main) < 1.0
    assert never.cancelled()


@pytest.mark.parametrize("lib", LIBRARIES)
def test_a_finished_job_is_returned_with_no_time_left(lib):
    # regression: on asyncio and trio a done future with timeout 0 raised TimeoutError, so
    # aread_many could fail endpoints that had answered, once the deadline was reached
    done: concurrent.futures.Future = concurrent.futures.Future()
    done.set_result(42)

    async def main():
        return await wait_future(done, 0)

    assert run(lib, main) == 42


def test_a_job_done_in_time_but_collected_late_returns_quietly_on_curio(caplog):
    # Regression: another task holding the kernel past the deadline made curio log "took
    # longer than an enclosing timeout" for a wait whose job had ended in time.
    job: concurrent.futures.Future = concurrent.futures.Future()

    async def busy_neighbour():
        job.set_result(7)  # the waiter is ready to run, before its deadline...
        await curio.sleep(0)
        time.sleep(0.1)  # ...but this task keeps the kernel past it

    async def main():
        neighbour = await curio.spawn(busy_neighbour)
        result = await wait_future(job, 0.05)
        await neighbour.join()
        return result

    assert curio.run(main) == 7
    assert not [r for r in caplog.records if r.name == "curio.time"], caplog.text


def test_current_library_outside_a_loop():
    with pytest.raises(RuntimeError):
        current_library()


def test_read_many_sync_returns_errors_in_place(ctrl, psu, echo_sim):
    volt = ctrl.tcp("127.0.0.1", psu.port).scpi().command("VOLT", type=float)
    bad = ctrl.tcp("127.0.0.1", echo_sim.port).lines().command(get="ECHO x", type=float)
    results = read_many([volt, bad, ValueNode("v")])
    assert results[0] == 0.0 and results[2] == "v"
    assert "ECHO x" in str(results[1]) or "'x'" in str(results[1])
    assert type(results[1]).__name__ == "DeviceProtocolError"


@pytest.mark.parametrize("lib", LIBRARIES)
def test_aget_timeout_covers_queueing(lib, ctrl, echo_sim):
    lines = ctrl.tcp("127.0.0.1", echo_sim.port, timeout=2.0).lines()
    echo_sim.faults.delay = 0.4
    busy = lines.endpoint.submit_call(lines.command(get="ECHO busy").get)

    async def main():
        start = time.monotonic()
        with pytest.raises(DeviceTimeout) as info:
            await lines.command(get="ECHO late").aget(timeout=0.1)
        return info.value, time.monotonic() - start

    error, elapsed = run(lib, main)
    assert elapsed < 0.35 and error.timeout == 0.1 and error.command.endswith("ECHO late")
    assert busy.result(2) == "busy"


@pytest.mark.parametrize("lib", LIBRARIES)
def test_in_memory_and_derived_nodes_async(lib, ctrl, psu):
    memory = ValueNode(3)
    volt = ctrl.tcp("127.0.0.1", psu.port).scpi().command("VOLT", type=float)
    limited = volt.setpoint(limits=(0, 5))

    async def main():
        await memory.aset(4)
        await limited.aset(2.0)
        return await memory.aget(), await volt.readonly().aget(), await limited.aget()

    assert run(lib, main) == (4, 2.0, 2.0)


@pytest.mark.parametrize("lib", LIBRARIES)
def test_aget_timeout_while_the_read_runs_keeps_the_loop_free(lib, ctrl, echo_sim):
    # Regression: under curio the timeout of a job already running on the worker was
    # ignored and the loop then blocked in ``fut.result()`` until the device answered.
    lines = ctrl.tcp("127.0.0.1", echo_sim.port, timeout=2.0).lines()
    slow, after = lines.command(get="ECHO slow"), lines.command(get="ECHO after")
    echo_sim.faults.delay = 0.6

    async def work():
        start = time.monotonic()
        with pytest.raises(DeviceTimeout) as info:
            await slow.aget(timeout=0.1)
        return info.value, time.monotonic() - start

    (error, elapsed), ticks, gap = run(lib, lambda: alongside_ticker(lib, work))
    assert error.timeout == 0.1 and elapsed < 0.4, elapsed
    assert gap < 0.3, gap
    echo_sim.faults.delay = 0.0
    assert run(lib, after.aget) == "after"  # its own reply, not the late "slow"


@pytest.mark.parametrize("lib", LIBRARIES)
def test_a_job_ending_after_the_loop_closed_logs_nothing(lib, caplog):
    # Regression: under curio the kernel's wake-up callback stayed on the future and raised
    # "Bad file descriptor" (logged by concurrent.futures) when the job finished after the run.
    late: concurrent.futures.Future = concurrent.futures.Future()
    late.set_running_or_notify_cancel()  # already running: a timeout cannot cancel it

    async def main():
        with pytest.raises(TimeoutError):
            await wait_future(late, 0.05)

    run(lib, main)
    late.set_result("too late")
    assert not [r for r in caplog.records if r.name == "concurrent.futures"], caplog.text


@pytest.mark.parametrize("lib", LIBRARIES)
def test_device_timeout_passes_through_an_unlimited_await(lib, ctrl, echo_sim):
    # Regression: on asyncio (3.11+, where asyncio.TimeoutError is TimeoutError) the job's own
    # DeviceTimeout was taken for the await's timeout and reformatted with None: a TypeError.
    lines = ctrl.tcp("127.0.0.1", echo_sim.port, timeout=0.2).lines()
    echo_sim.faults.withhold = True

    async def main():
        with pytest.raises(DeviceTimeout) as info:
            await lines.command(get="ECHO hung").aget()
        return info.value

    error = run(lib, main)
    assert error.timeout == 0.2 and error.command.endswith("ECHO hung")
