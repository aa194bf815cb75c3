"""Child process: drive ``MC:M1`` with ophyd's EpicsMotor, a bluesky scan, pyepics' Motor and
iocgate.client.Motor; print one JSON object with what each saw (the parent asserts)."""

from __future__ import annotations

import json
import sys


def ophyd_and_bluesky(record: str) -> dict:
    from bluesky import RunEngine
    from bluesky.plans import scan
    from ophyd import EpicsMotor

    motor = EpicsMotor(record, name="m1")
    motor.wait_for_connection(timeout=10)
    status = motor.move(1.5, wait=True, timeout=30)
    found = {"ophyd_success": status.success, "ophyd_position": motor.position,
             "ophyd_egu": motor.egu, "ophyd_limits": list(motor.limits),
             "ophyd_precision": motor.precision}
    events = []
    engine = RunEngine({})
    engine(scan([motor], motor, -1.0, 1.0, 3),
           lambda name, doc: events.append(doc["data"]["m1"]) if name == "event" else None)
    found["scan_positions"] = events
    motor.destroy()
    return found


def pyepics(record: str) -> dict:
    import epics

    motor = epics.Motor(record, timeout=10)
    code = motor.move(-2.0, wait=True, timeout=30)
    return {"pyepics_move": code, "pyepics_position": motor.get_position(readback=True),
            "pyepics_dmov": motor.get("DMOV"),
            "pyepics_desc": motor.DESC}


def iocgate_client(record: str) -> dict:
    from iocgate.client import Motor

    motor = Motor(record, timeout=10)
    motor.move(0.5, wait=True, timeout=30)
    return {"iocgate_position": motor.get_position()}


if __name__ == "__main__":
    record = sys.argv[1]
    result = {}
    for step in (ophyd_and_bluesky, pyepics, iocgate_client):
        result.update(step(record))
    print(json.dumps(result), flush=True)
