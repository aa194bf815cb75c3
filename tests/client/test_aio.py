"""The asyncio face: same values and errors as the sync face, monitors as async iterators."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from iocgate.client import CAPutError, CATimeoutError, aio, caget

from .conftest import arun


def test_async_caget_matches_sync(servers):
    names = [servers.p + n for n in ("ao", "long", "str", "mode", "wave", "text")] + [
        servers.s + "label"]

    async def main():
        plain = [await aio.caget(n) for n in names]
        strings = [await aio.caget(n, as_string=True) for n in names]
        return plain, strings, await aio.caget_many(names)

    plain, strings, many = arun(main())
    for name, value, string, value2 in zip(names, plain, strings, many):
        expected = caget(name)
        if isinstance(expected, np.ndarray):
            np.testing.assert_array_equal(value, expected)
            np.testing.assert_array_equal(value2, expected)
            assert value.dtype == expected.dtype
        else:
            assert value == expected == value2 and type(value) is type(expected)
        assert string == caget(name, as_string=True)


def test_async_pv_metadata_put_and_monitor(servers):
    async def main():
        pv = aio.PV(servers.p + "mode_w")
        await pv.wait_for_connection(timeout=10)
        assert pv.enum_strs == ("Off", "Slow", "Fast") and pv.type == "time_enum"
        await pv.put("Slow", wait=True)
        assert await pv.get() == 1 and await pv.get(as_string=True) == "Slow"
        seen = []
        async for change in pv.monitor():
            seen.append(change["char_value"])
            if len(seen) == 1:
                await aio.caput(pv.pvname, "Fast", wait=True)
            else:
                break
        return seen

    assert arun(main()) == ["Slow", "Fast"]


def test_async_pv_connection_and_access_callbacks(servers):
    async def main():
        connections, rights, both = [], [], asyncio.Event()

        async def on_access(read_access, write_access, pv):  # a coroutine function
            rights.append((read_access, write_access, pv.pvname))
            both.set()

        def on_connection(pvname, conn, pv):
            connections.append((pvname, conn, pv.connected))

        pv = aio.PV(servers.p + "readonly", connection_callback=on_connection,
                    access_callback=on_access)
        await pv.wait_for_connection(timeout=10)
        await asyncio.wait_for(both.wait(), 10)
        await pv.disconnect()
        return connections, rights

    connections, rights = arun(main())
    name = servers.p + "readonly"
    assert connections[0] == (name, True, True)
    assert rights == [(True, False, name)]  # the ACF's read-only group


def test_async_camonitor_and_callbacks(servers):
    async def main():
        values = []
        async for change in aio.camonitor(servers.p + "counter"):
            values.append(change["value"])
            if len(values) == 3:
                break
        got = asyncio.Event()
        pv = aio.PV(servers.p + "ao_w")
        await pv.wait_for_connection()

        async def on_change(value=None, **kw):
            if value == 3.25:
                got.set()
        pv.add_callback(on_change)
        await pv.put(3.25, wait=True)
        await asyncio.wait_for(got.wait(), 10)
        await pv.disconnect()
        return values

    values = arun(main())
    assert values == sorted(values) and len(set(values)) == 3


def test_async_callback_added_before_connecting_gets_events(servers):
    # regression: a callback added before wait_for_connection never started the monitor
    async def main():
        got = asyncio.Event()
        pv = aio.PV(servers.p + "counter")
        pv.add_callback(lambda **kw: got.set())
        await pv.wait_for_connection(timeout=10)
        await asyncio.wait_for(got.wait(), 10)
        await pv.disconnect()

    arun(main())


def test_async_waiting_put_is_not_failed_by_an_earlier_refused_put(servers):
    async def main():
        pv = aio.PV(servers.s + "picky")
        await pv.wait_for_connection(10)
        for value in (1.0, 2.0, 3.0):
            await pv.put(-1.0)  # refused by the server, reported later
            assert await pv.put(value, wait=True, timeout=5) == 1
            assert await pv.get(use_monitor=False) == value

    arun(main())


def test_async_errors(servers):
    async def main():
        with pytest.raises(CATimeoutError, match="ICT:absent.*0.2 s"):
            await aio.caget("ICT:absent", timeout=0.2)
        assert await aio.caget("ICT:absent", timeout=0.1, raise_on_error=False) is None
        with pytest.raises(CAPutError) as info:
            await aio.caput(servers.p + "disabled", 1, wait=True, timeout=5)
        assert info.value.status_name == "ECA_PUTFAIL"
        with pytest.raises(CAPutError) as info:  # the caproto IOC's putter raises
            await aio.caput(servers.s + "guarded", 1, wait=True, timeout=5)
        assert info.value.status == 160
        with pytest.raises(CAPutError, match="ECA_NOWTACCESS"):
            await aio.caput(servers.p + "readonly", 1)
        assert await aio.caput_many([servers.p + "ao_w", servers.p + "str_w"], [1.0, "x"],
                                    wait=True) == [1, 1]
        text = await aio.cainfo(servers.p + "alarmed", print_out=False)
        assert "units      = degC" in text
        assert await aio.cainfo(servers.p + "alarmed") is None  # printed, as pyepics does

    arun(main())
