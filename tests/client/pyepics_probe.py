"""Child process: run pyepics calls and print their results (pickled, base64) on the last line.

Usage: ``python pyepics_probe.py CASES_JSON``; each case is ``[kind, target, kwargs]`` with kind
``caget``, ``caget_many``, ``caput`` (kwargs: ``value``, ``wait``), ``pv`` (attributes),
``ctrlvars``, ``timevars``, ``get`` (kwargs: ``pv_count``, ``auto_monitor``, ``get``),
``with_metadata`` (kwargs of ``get_with_metadata``) or ``alarm_names``; cases run in order.
"""

from __future__ import annotations

import base64
import json
import pickle
import sys

import epics

PV_ATTRS = ("count", "nelm", "type", "ftype", "host", "access", "read_access", "write_access",
            "enum_strs", "units", "precision", "upper_disp_limit", "lower_disp_limit",
            "upper_alarm_limit", "lower_alarm_limit", "upper_warning_limit",
            "lower_warning_limit", "upper_ctrl_limit", "lower_ctrl_limit", "status",
            "severity", "timestamp", "char_value")


def run(kind: str, target, kwargs: dict):
    if kind == "caget":
        return epics.caget(target, timeout=10, connection_timeout=10, **kwargs)
    if kind == "caput":
        return epics.caput(target, kwargs["value"], wait=kwargs.get("wait", False), timeout=10)
    if kind == "caget_many":
        return epics.caget_many(target, timeout=10, connection_timeout=10, **kwargs)
    if kind == "get":  # a fresh PV (own count / monitor) and one get()
        pv = epics.PV(target, count=kwargs.get("pv_count"),
                      auto_monitor=kwargs.get("auto_monitor"))
        if not pv.wait_for_connection(timeout=10):
            raise RuntimeError(f"{target} did not connect")
        return pv.get(**kwargs.get("get", {}))
    if kind == "with_metadata":
        pv = epics.PV(target, auto_monitor=False)
        if not pv.wait_for_connection(timeout=10):
            raise RuntimeError(f"{target} did not connect")
        md = pv.get_with_metadata(**kwargs)
        return {key: value for key, value in md.items()
                if key not in ("timestamp", "posixseconds", "nanoseconds")}
    if kind == "alarm_names":
        pv = epics.PV(target)
        return pv.char_status, pv.char_severity
    pv = epics.get_pv(target, form=kwargs.get("form", "time"))
    if not pv.wait_for_connection(timeout=10):
        raise RuntimeError(f"{target} did not connect")
    if kind == "ctrlvars":
        return pv.get_ctrlvars()
    if kind == "timevars":
        return pv.get_timevars()
    pv.get()
    pv.get_ctrlvars()
    return {attr: getattr(pv, attr) for attr in PV_ATTRS}


if __name__ == "__main__":
    results = [run(*case) for case in json.loads(sys.argv[1])]
    sys.stdout.write("\n" + base64.b64encode(pickle.dumps(results)).decode() + "\n")
    sys.stdout.flush()
