"""Contract tests every instrument IOC passes, made in one line::

    TestDmm = contract_tests(DmmIOC)

Checks, over Channel Access with caproto's client: every PV has an upper-case name, a doc,
and (if numeric) units and, for floating point, a precision; every writable bound PV
round-trips its limits (or every state) into its ``_RBV``; a put outside the limits (or an
unknown state) is refused and changes nothing; each simulator fault raises the readbacks'
alarm to INVALID with the status in :data:`FAULTS`, and the IOC recovers when it is cleared:

* freeze (the instrument reads commands and never answers): TIMEOUT;
* garbage (it answers rubbish): COMM where the driver parses the rubbish and refuses it (a
  line protocol, a web API's JSON), or TIMEOUT where the protocol's library drops a frame it
  cannot parse and goes on waiting for the reply (pymodbus does, for Modbus TCP);
* cut (every link hung up, new connections refused): COMM, or TIMEOUT where the link's
  library reports the lost link as a reply that did not come.

A fault that raises no alarm, or one with another status, fails the test.

By default the IOC runs on its simulator. ``pytest --host H [--port P]``, ``--serial PATH``,
``--resource VISA`` or ``--url URL`` run the same suite against real hardware as an
acceptance test: read-only (put tests skipped) unless ``--allow-writes``, and without the
fault tests, which need the simulator's backdoor.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Optional, Tuple

import pytest

from ..ioc._device import ADDRESS_OPTIONS
from ._environment import free_port, loopback_env
from ._ioc import RunningIOC

#: seconds a contract check waits for a state that only a poll can observe
SETTLE = 10.0
_NUMERIC = {"DOUBLE", "FLOAT", "LONG", "INT", "SHORT"}
_FLOAT = {"DOUBLE", "FLOAT"}
#: simulator fault -> (how to switch it on, the alarm statuses it may cause at INVALID)
FAULTS: Dict[str, Tuple[Callable[[Any], Any], Tuple[str, ...]]] = {
    "freeze": (lambda faults: setattr(faults, "withhold", True), ("TIMEOUT",)),
    "garbage": (lambda faults: setattr(faults, "garbage", True), ("COMM", "TIMEOUT")),
    "cut": (lambda faults: (setattr(faults, "refuse", True), faults.drop_connections()),
            ("COMM", "TIMEOUT")),
}


def device_options(config: pytest.Config) -> Dict[str, Any]:
    """The real-hardware address given on the pytest command line (empty: simulator)."""
    options = {key: config.getoption(f"iocgate_{key}", None)
               for key in ("host", "port", "serial", "resource", "url")}
    return {key: value for key, value in options.items() if value}


def _address_for(ioc_class: type, options: Dict[str, Any]) -> Dict[str, Any]:
    """``options`` checked as the IOC's command line checks them (port filled in).

    Raises:
        pytest.UsageError: the IOC has no such transport (``--host`` for a web API), or the
            address is incomplete or ambiguous, with the reason.
    """
    config = ioc_class.device_config
    accepted = set() if config is None else {ADDRESS_OPTIONS[t] for t in config.transports}
    if "host" in accepted:
        accepted.add("port")
    wrong = sorted(set(options) - accepted)
    if wrong:
        takes = " or ".join(f"--{key}" for key in sorted(accepted - {"port"})) or "no address"
        raise pytest.UsageError(f"{ioc_class.__name__} takes {takes}, not --{wrong[0]}")
    try:
        return dict(config.given_options(argparse.Namespace(
            baudrate=config.default_baudrate, **options)))
    except ValueError as exc:
        raise pytest.UsageError(f"{ioc_class.__name__}: {exc}") from None


def wait_for(probe: Callable[[], Any], timeout: float = SETTLE, what: str = "") -> Any:
    """Poll ``probe`` until truthy; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what or 'condition'} not met within {timeout} s (last: {result!r})")
        time.sleep(0.02)


class InstrumentContract:
    """The contract tests; :func:`contract_tests` makes a subclass per IOC class."""

    ioc_class: ClassVar[type]
    #: seconds between scans while testing
    scan_period: ClassVar[float] = 0.1
    #: device reply timeout while testing, s: short for fast freeze alarms, long enough that
    #: a busy machine does not take the link down (0.25 s did, in a full parallel run)
    reply_timeout: ClassVar[float] = 0.5

    @pytest.fixture(scope="class")
    @classmethod
    def ioc(cls, request: pytest.FixtureRequest,
            ca_repeater_env: Dict[str, str]) -> Iterator[RunningIOC]:
        port = free_port()
        env = {**ca_repeater_env, **loopback_env(port)}  # no stray caRepeater from caput
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        config = cls.ioc_class.device_config
        options = device_options(request.config)
        if options:
            options = _address_for(cls.ioc_class, options)
        simulation = None
        if config is None:  # an IOC that makes its own device (e.g. shell commands)
            device = None
        elif options:
            device = config.open(options, config.timeout)
        else:
            simulation = config.start_simulator(cls.ioc_class)
            device = config.open(simulation.options, cls.reply_timeout)
        group = cls.ioc_class(device=device, scan_period=cls.scan_period)
        running = RunningIOC(group, port, simulation=simulation).start()
        try:
            wait_for(lambda: running.value("CONNECTED") == "Connected", what="CONNECTED")
            yield running
        finally:
            running.stop()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    @staticmethod
    def wait(probe: Callable[[], Any], timeout: float = SETTLE) -> Any:
        """Poll ``probe`` until truthy (for checks added in a subclass)."""
        return wait_for(probe, timeout)

    @pytest.fixture
    def writes(self, request: pytest.FixtureRequest, ioc: RunningIOC) -> None:
        if ioc.simulation is None and not request.config.getoption("iocgate_allow_writes",
                                                                   False):
            pytest.skip("real hardware: puts need --allow-writes")

    @pytest.fixture
    def simulator(self, ioc: RunningIOC) -> Any:
        """The simulator's handle (``.model``, ``.state``); skips on real hardware."""
        if ioc.simulation is None:
            pytest.skip("needs the simulator (real hardware given)")
        return ioc.simulation.handle

    @pytest.fixture
    def faults(self, simulator: Any) -> Any:
        """The simulator's faults, cleared after the test; skips on real hardware."""
        yield simulator.faults
        simulator.faults.clear()

    # ------------------------------------------------------------------ the contract
    def test_every_pv_is_named_documented_with_units_and_precision(self, ioc: RunningIOC):
        problems: List[str] = []
        for attr, prop in type(ioc.group)._pvs_.items():
            spec, suffix = prop.pvspec, ioc.group.attr_to_pvname[attr][len(ioc.prefix):]
            reply = ioc.get(suffix, data_type="control")
            kind = reply.data_type.name.replace("CTRL_", "")
            if suffix != suffix.upper():
                problems.append(f"{suffix}: name not upper case")
            if not (spec.doc or "").strip():
                problems.append(f"{suffix}: no doc")
            if kind in _NUMERIC and spec.max_length in (None, 1) and not reply.metadata.units:
                problems.append(f"{suffix}: no units (EGU)")
            if kind in _FLOAT and "precision" not in (spec.cls_kwargs or {}):
                problems.append(f"{suffix}: no precision (PREC)")
        assert not problems, "\n".join(problems)

    def test_bound_readbacks_have_no_alarm(self, ioc: RunningIOC):
        for bound in ioc.group.walk_bound_pvs():
            suffix = bound.name[len(ioc.prefix):]
            wait_for(lambda s=suffix: ioc.get(s, data_type="time").metadata.severity == 0,
                     what=f"{suffix} without alarm")

    def test_writable_pvs_round_trip_their_limits(self, ioc: RunningIOC, writes: None):
        for bound, values in _writable(ioc):
            suffix = bound.name[len(ioc.prefix):]
            for value in values:
                reply = ioc.put(suffix, value if isinstance(value, str) else [value])
                assert reply.status.success == 1, f"put {suffix} = {value!r}: {reply.status}"
                if bound.readback is not None and bound.binding.readback is True:
                    rbv = bound.readback.name[len(ioc.prefix):]
                    wait_for(lambda r=rbv, v=value: _same(ioc.value(r), v),
                             what=f"{rbv} == {value!r}")

    def test_out_of_limits_puts_are_refused_and_change_nothing(self, ioc: RunningIOC,
                                                               writes: None):
        for bound, _ in _writable(ioc):
            suffix = bound.name[len(ioc.prefix):]
            before = ioc.value(suffix)
            bad = _outside(bound)
            result = ioc.caput(suffix, bad)
            assert result.returncode != 0, f"put {suffix} = {bad} was accepted"
            assert _same(ioc.value(suffix), before), f"{suffix} changed by a refused put"

    @pytest.mark.parametrize("fault", sorted(FAULTS))
    def test_fault_raises_alarm_and_recovers(self, ioc: RunningIOC, faults: Any, fault: str):
        check_fault_alarm(ioc, faults, fault)


def check_fault_alarm(ioc: RunningIOC, faults: Any, fault: str, timeout: float = SETTLE
                      ) -> None:
    """Switch ``fault`` (a key of :data:`FAULTS`) on; the first bound read-only PV must go
    INVALID with one of the fault's statuses; clear the faults; it must lose its alarm.

    Raises:
        pytest.fail.Exception: either did not happen within ``timeout`` s (each).
    """
    switch_on, statuses = FAULTS[fault]
    accepted = {_status(name) for name in statuses}
    watched = [b.name[len(ioc.prefix):] for b in ioc.group.walk_bound_pvs()
               if b.channel.pvspec.read_only][:1]
    assert watched, "no bound read-only PV to watch"
    suffix = watched[0]

    def alarm() -> tuple:
        md = ioc.get(suffix, data_type="time").metadata
        return md.status, md.severity

    def invalid() -> bool:
        status, severity = alarm()
        return severity == 3 and status in accepted

    switch_on(faults)
    wait_for(invalid, timeout,
             what=f"{suffix} INVALID ({' or '.join(statuses)}) on {fault}")
    faults.clear()
    wait_for(lambda: alarm() == (0, 0), timeout, what=f"{suffix} recovered after {fault}")


def _status(name: str) -> int:
    from caproto import AlarmStatus

    return int(AlarmStatus[name])


def _writable(ioc: RunningIOC) -> Iterator[tuple]:
    """``(bound PV, values to put)`` for every writable bound PV: its limits, or its states."""
    for bound in ioc.group.walk_bound_pvs():
        channel = bound.channel
        if channel.pvspec.read_only:
            continue
        if bound.binding.enum_type is not None:
            yield bound, [m.name for m in bound.binding.enum_type][::-1]
        else:
            low, high = channel.lower_ctrl_limit, channel.upper_ctrl_limit
            if low < high:
                yield bound, [high, low]


def _outside(bound: Any) -> Any:
    if bound.binding.enum_type is not None:
        return len(bound.binding.enum_type)
    low, high = bound.channel.lower_ctrl_limit, bound.channel.upper_ctrl_limit
    return high + max(1.0, abs(high - low))


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) or isinstance(got, float):
        try:
            return math.isclose(float(got), float(want), rel_tol=1e-6, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return got == want


def contract_tests(ioc_class: type, name: Optional[str] = None) -> type:
    """A pytest test class running the contract against ``ioc_class``; assign it to a
    module-level name starting with ``Test`` (one IOC, simulator and CA client per class)."""
    return type(name or f"Test{ioc_class.__name__}", (InstrumentContract,),
                {"ioc_class": ioc_class})
