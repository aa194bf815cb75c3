"""A simulated {{ cookiecutter.instrument_name }}, made from the IOC's declaration.

``ScpiSimulator`` answers every declared command as the instrument does (out-of-range sets
are refused with SCPI error -222). Behaviour the declaration cannot say is written here:
the measured level is 0 while the output is off.

Standalone, with the fault and state backdoor on a second port::

    python -m {{ cookiecutter.package_name }}.simulator --port {{ cookiecutter.tcp_port }} --control-port 5026
"""

from __future__ import annotations

from iocgate.sim import ScpiSimulator


class {{ cookiecutter.__simulator }}(ScpiSimulator):
    """State variables (the backdoor's names): ``level``, ``level_rbv``, ``output``."""

    idn = "Example,{{ cookiecutter.class_name }},SIM0001,1.0"

    def read_level_rbv(self) -> float:
        return self.state.get("level_rbv") if self.state.get("output") else 0.0


if __name__ == "__main__":
    from iocgate.ioc import command_specs
    from iocgate.sim import run_standalone

    from .ioc import {{ cookiecutter.class_name }}

    raise SystemExit(run_standalone(
        "Simulated {{ cookiecutter.instrument_name }}",
        lambda: {{ cookiecutter.__simulator }}(command_specs({{ cookiecutter.class_name }}))))
