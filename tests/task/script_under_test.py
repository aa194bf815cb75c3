"""The script the script-IOC tests serve: every kind of export, commands, a failing loop."""

import asyncio
import time

from iocgate.nodes import ControlNode, ValueNode

gain = ValueNode(initial_value=1.5)
count = ValueNode(initial_value=0)
label = ValueNode(initial_value="idle")
fail = ValueNode(initial_value=False)
seen_params = ValueNode(initial_value="")
total = ValueNode(initial_value=0)


class LimitedVoltage(ControlNode):
    """A node that declares units, limits and a doc."""

    units = "V"
    limits = (0.0, 10.0)
    doc = "A limited voltage"

    def __init__(self):
        super().__init__(name="volt")
        self._value = 1.0

    def get(self):
        return self._value

    def set(self, value):
        self._value = value


def _export():
    return [
        ("GAIN", gain),
        ("COUNT", count, {"period": 0}),
        ("LABEL", label),
        ("FAIL", fail),
        ("VOLT", LimitedVoltage()),
        ("PARAMS", seen_params),
        ("TOTAL", total, {"period": 600}),  # shown at once after a command anyway
    ]


def _initialize(params):
    seen_params.set(",".join(f"{key}={value}:{type(value).__name__}"
                             for key, value in sorted(params.items())))


async def _loop():
    if fail.get():
        raise RuntimeError("asked to fail")
    count.set(count.get() + 1)
    await count.deliver()
    await asyncio.sleep(0.05)


def add(a: float, b: float = 1.0):
    return a + b


def accumulate(n: int):
    total.set(total.get() + n)


def boom():
    raise ValueError("boom in a command")


async def greet(name: str):
    await asyncio.sleep(0.01)
    return f"hello {name}"


def nap(seconds: float):
    time.sleep(seconds)
    return "rested"
