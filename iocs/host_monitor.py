"""This computer's health over shell commands: load, memory and disk; no instrument and no
simulator needed (Linux ``/proc`` and ``df``).

PVs (default prefix ``HOST:``): ``LOAD_1``/``LOAD_5``/``LOAD_15`` (runnable tasks, averaged),
``MEM_USED`` (%), ``MEM_AVAILABLE`` (MiB), ``DISK_USED`` (%), ``DISK_FREE`` (GiB) of ``/``,
health PVs. Run: ``python -m iocs.host_monitor --list-pvs``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from iocgate import DeviceGroup, reading, run_ioc
from iocgate.nodes import ControlSystem

#: the file system whose usage is served
DISK = "/"


def _loadavg(index: int) -> Callable[[Any], Any]:
    return lambda cs: cs.shell("cat", "/proc/loadavg").value(
        parse=lambda text: float(text.split()[index]))


def _meminfo(text: str) -> Dict[str, float]:
    """``/proc/meminfo`` as ``{name: kB}``."""
    return {line.split(":")[0]: float(line.split()[1]) for line in text.splitlines()}


def _memory(compute: Callable[[Dict[str, float]], float]) -> Callable[[Any], Any]:
    return lambda cs: cs.shell("cat", "/proc/meminfo").value(
        parse=lambda text: compute(_meminfo(text)))


def _disk(compute: Callable[[float, float], float]) -> Callable[[Any], Any]:
    """``df -P -k``: compute(used kB, available kB)."""
    return lambda cs: cs.shell("df", "-P", "-k", DISK).value(
        parse=lambda text: compute(*map(float, text.splitlines()[-1].split()[2:4])))


class HostMonitorIOC(DeviceGroup):
    """Host monitor (shell commands on this computer): load, memory, disk."""

    default_prefix = "HOST:"
    scan_period = 2.0

    load_1 = reading(_loadavg(0), units="tasks", precision=2, doc="Load average, 1 min")
    load_5 = reading(_loadavg(1), units="tasks", precision=2, doc="Load average, 5 min")
    load_15 = reading(_loadavg(2), units="tasks", precision=2, doc="Load average, 15 min")
    mem_used = reading(_memory(lambda m: 100 * (1 - m["MemAvailable"] / m["MemTotal"])),
                       units="%", precision=1, doc="Memory in use (not available)")
    mem_available = reading(_memory(lambda m: m["MemAvailable"] / 1024), units="MiB",
                            precision=0, doc="Memory available for new programs")
    disk_used = reading(_disk(lambda used, free: 100 * used / (used + free)), units="%",
                        precision=1, doc=f"Space used on {DISK}")
    disk_free = reading(_disk(lambda used, free: free / 2**20), units="GiB", precision=2,
                        doc=f"Space free on {DISK}")

    def __init__(self, *args: Any, device: Any = None, **kwargs: Any):
        super().__init__(*args, device=device or ControlSystem(), **kwargs)


if __name__ == "__main__":
    run_ioc(HostMonitorIOC)
