"""Random walk: a value taking random steps; no hardware needed.

PVs (default prefix ``RW:``): ``X`` the walking value, ``DT`` the step period in seconds,
``STEP`` the largest step. Run: ``python -m iocs.random_walk --list-pvs``.

Not an instrument, so not declared with ``setting()``/``reading()``: there are no commands
to derive a simulator from. Soft PVs and a startup hook that walks.
"""

import random
from typing import Any

from iocgate import PVGroup, pvproperty, run_ioc


class RandomWalkIOC(PVGroup):
    """Random walk: X takes a random step of ±STEP every DT seconds."""

    default_prefix = "RW:"

    x = pvproperty(name="X", value=0.0, units="a.u.", precision=3, read_only=True,
                   doc="The walking value")
    dt = pvproperty(name="DT", value=1.0, units="s", precision=3, limits=(0.01, 3600.0),
                    doc="Step period; puts outside 0.01-3600 s are refused")
    step = pvproperty(name="STEP", value=1.0, units="a.u.", precision=3, limits=(0.0, 1e6),
                      doc="Largest step size")

    @x.startup
    async def x(self, instance: Any, async_lib: Any) -> None:
        rng = random.Random()
        while True:
            await async_lib.library.sleep(self.dt.value)
            await instance.write(instance.value + rng.uniform(-1, 1) * self.step.value,
                                 verify_value=False)


if __name__ == "__main__":
    run_ioc(RandomWalkIOC)
