"""Parity: the same calls through pyepics (libca, in a child process) and iocgate.client give
the same values, types and metadata, against the softIoc and the caproto IOC."""

from __future__ import annotations

import base64
import json
import math
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest

from iocgate.client import PV, caget, caget_many, caput, get_pv

PROBE = Path(__file__).parent / "pyepics_probe.py"
PV_ATTRS = ("count", "nelm", "type", "ftype", "host", "access", "read_access", "write_access",
            "enum_strs", "units", "precision", "upper_disp_limit", "lower_disp_limit",
            "upper_alarm_limit", "lower_alarm_limit", "upper_warning_limit",
            "lower_warning_limit", "upper_ctrl_limit", "lower_ctrl_limit", "status",
            "severity", "timestamp", "char_value")

# (kind, server ('p' softIoc / 's' caproto), name(s), kwargs)
CAGETS = [
    ("p", "ao", {}), ("p", "ao", {"as_string": True}), ("p", "alarmed", {}),
    ("p", "alarmed", {"as_string": True}), ("p", "long", {}), ("p", "long", {"as_string": True}),
    ("p", "str", {}), ("p", "mode", {}), ("p", "mode", {"as_string": True}),
    ("p", "switch", {}), ("p", "switch", {"as_string": True}), ("p", "wave", {}),
    ("p", "wave", {"as_string": True}), ("p", "wave", {"count": 2}),
    ("p", "wave", {"as_numpy": False}), ("p", "text", {}), ("p", "text", {"as_string": True}),
    ("p", "readonly", {}), ("s", "setpoint", {}), ("s", "setpoint", {"as_string": True}),
    ("s", "mode", {}), ("s", "mode", {"as_string": True}), ("s", "label", {}),
    ("s", "out1:u1:V", {}),
    # regressions: STRING waveforms gave lists (and str for one element), SHORT was "int"
    ("p", "strwave", {}), ("p", "strwave", {"as_string": True}), ("p", "strwave", {"count": 1}),
    ("p", "strwave1", {}), ("p", "strwave1", {"as_string": True}), ("p", "shortwave", {}),
    ("p", "shortwave", {"as_string": True}),
]
PV_NAMES = [("p", "ao"), ("p", "alarmed"), ("p", "long"), ("p", "str"), ("p", "mode"),
            ("p", "switch"), ("p", "wave"), ("p", "text"), ("p", "readonly"),
            ("s", "setpoint"), ("s", "mode"), ("s", "label"), ("p", "strwave"),
            ("p", "strwave1"), ("p", "shortwave")]
FORMS = [("ao", "ctrl"), ("mode", "ctrl"), ("long", "native"), ("text", "native"),
         ("shortwave", "ctrl"), ("shortwave", "native")]
# (name, PV kwargs, get kwargs): counts asked of the server, monitored or not
GETS = [("wave", {"pv_count": 2}, {}), ("wave", {"pv_count": 32, "auto_monitor": False}, {}),
        ("wave", {}, {"count": 1}), ("wave", {"auto_monitor": False}, {"count": 2}),
        ("strwave", {"pv_count": 1}, {}), ("shortwave", {}, {"count": 2})]
WITH_METADATA = [("ao", {"form": "ctrl"}), ("ao", {"form": "time"}),
                 ("mode", {"form": "ctrl", "as_string": True}), ("wave", {"count": 2})]
ALARM_NAMES = ["ao", "alarmed", "disabled"]
MANY = [("p", n) for n in ("ao", "long", "str", "mode", "wave", "text", "alarmed",
                           "shortwave")]


def _name(servers: Any, server: str, suffix: str) -> str:
    return getattr(servers, server) + suffix


def _cases(servers: Any) -> List[list]:
    cases: List[list] = [["caget", _name(servers, srv, n), kw] for srv, n, kw in CAGETS]
    cases += [["pv", _name(servers, srv, n), {}] for srv, n in PV_NAMES]
    cases += [["pv", servers.p + n, {"form": form}] for n, form in FORMS]
    many = [_name(servers, srv, n) for srv, n in MANY]
    cases += [["caget_many", many, {}], ["caget_many", many, {"as_string": True}]]
    cases += [[kind, servers.p + n, {}] for kind in ("ctrlvars", "timevars")
              for n in ("ao", "alarmed", "mode")]
    cases += [["get", servers.p + n, {**pv_kw, "get": get_kw}] for n, pv_kw, get_kw in GETS]
    cases += [["with_metadata", servers.p + n, kw] for n, kw in WITH_METADATA]
    cases += [["alarm_names", servers.p + n, {}] for n in ALARM_NAMES]
    return cases


def run_pyepics(servers: Any, cases: List[list]) -> List[Any]:
    """Run ``cases`` through pyepics in a child process; their results, in order."""
    proc = subprocess.run([sys.executable, str(PROBE), json.dumps(cases)],
                          env=servers.child_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return pickle.loads(base64.b64decode(proc.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def pyepics_results(servers: Any) -> dict:
    cases = _cases(servers)
    results = run_pyepics(servers, cases)
    return {json.dumps(case): result for case, result in zip(cases, results)}


def assert_same(ours: Any, theirs: Any, what: str) -> None:
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), what
        assert ours.dtype == theirs.dtype, what
        np.testing.assert_array_equal(ours, theirs, err_msg=what)
    elif isinstance(theirs, float) and math.isnan(theirs):
        assert isinstance(ours, float) and math.isnan(ours), (what, ours)
    elif isinstance(theirs, (list, tuple)) and theirs and not isinstance(theirs[0], str):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), (what, ours, theirs)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{what}[{i}]")
    else:
        assert ours == theirs, (what, ours, theirs)
        assert type(ours) is type(theirs) or isinstance(theirs, bool), (what, ours, theirs)


@pytest.mark.parametrize("server,suffix,kwargs", CAGETS,
                         ids=[f"{s}:{n}:{','.join(kw) or 'plain'}" for s, n, kw in CAGETS])
def test_caget_parity(servers, pyepics_results, server, suffix, kwargs):
    name = _name(servers, server, suffix)
    theirs = pyepics_results[json.dumps(["caget", name, kwargs])]
    assert_same(caget(name, **kwargs), theirs, f"caget({name}, {kwargs})")


@pytest.mark.parametrize("server,suffix", PV_NAMES, ids=[f"{s}:{n}" for s, n in PV_NAMES])
def test_pv_attribute_parity(servers, pyepics_results, server, suffix):
    name = _name(servers, server, suffix)
    theirs = pyepics_results[json.dumps(["pv", name, {}])]
    pv = get_pv(name, connect=True)
    pv.get()
    for attr in PV_ATTRS:
        ours = getattr(pv, attr)
        if attr == "type" or attr == "ftype" or attr == "count":
            assert ours == theirs[attr], (name, attr, ours, theirs[attr])
        elif attr in ("precision", "units", "enum_strs") and theirs[attr] is None:
            assert ours in (None, 0, ""), (name, attr, ours)
        else:
            assert_same(ours, theirs[attr], f"{name}.{attr}")


@pytest.mark.parametrize("suffix,form", FORMS, ids=[f"{n}:{f}" for n, f in FORMS])
def test_pv_form_parity(servers, pyepics_results, suffix, form):
    name = servers.p + suffix
    theirs = pyepics_results[json.dumps(["pv", name, {"form": form}])]
    pv = get_pv(name, form=form, connect=True)
    pv.get()
    for attr in ("type", "ftype", "count", "nelm", "char_value", "units", "precision",
                 "enum_strs", "status", "severity"):
        assert getattr(pv, attr) == theirs[attr], (name, form, attr)


@pytest.mark.parametrize("as_string", [False, True])
def test_caget_many_parity(servers, pyepics_results, as_string):
    names = [_name(servers, srv, n) for srv, n in MANY]
    kwargs = {"as_string": True} if as_string else {}
    theirs = pyepics_results[json.dumps(["caget_many", names, kwargs])]
    ours = caget_many(names, **kwargs)
    for name, a, b in zip(names, ours, theirs):
        assert_same(a, b, f"caget_many {name}")


@pytest.mark.parametrize("kind", ["ctrlvars", "timevars"])
@pytest.mark.parametrize("suffix", ["ao", "alarmed", "mode"])
def test_metadata_parity(servers, pyepics_results, kind, suffix):
    name = servers.p + suffix
    theirs = pyepics_results[json.dumps([kind, name, {}])]
    pv = get_pv(name, connect=True)
    ours = pv.get_ctrlvars() if kind == "ctrlvars" else pv.get_timevars()
    assert set(ours) == set(theirs), (name, sorted(ours), sorted(theirs))
    for key, value in theirs.items():
        if key == "posixseconds":  # pyepics gives a float here, iocgate an int
            assert ours[key] == value
        else:
            assert_same(ours[key], value, f"{name} {kind}[{key}]")


@pytest.mark.parametrize("suffix,pv_kw,get_kw", GETS,
                         ids=[f"{n}:{pv}:{get}" for n, pv, get in GETS])
def test_count_parity(servers, pyepics_results, suffix, pv_kw, get_kw):
    name = servers.p + suffix
    theirs = pyepics_results[json.dumps(["get", name, {**pv_kw, "get": get_kw}])]
    pv = PV(name, count=pv_kw.get("pv_count"), auto_monitor=pv_kw.get("auto_monitor"))
    assert_same(pv.get(**get_kw), theirs, f"PV({name}, {pv_kw}).get({get_kw})")


@pytest.mark.parametrize("suffix,kw", WITH_METADATA, ids=[f"{n}:{kw}" for n, kw in WITH_METADATA])
def test_get_with_metadata_parity(servers, pyepics_results, suffix, kw):
    name = servers.p + suffix
    theirs = pyepics_results[json.dumps(["with_metadata", name, kw])]
    ours = PV(name, auto_monitor=False).get_with_metadata(**kw)
    ours = {k: v for k, v in ours.items() if k not in ("timestamp", "posixseconds",
                                                        "nanoseconds")}
    assert set(ours) == set(theirs), (name, kw, sorted(ours), sorted(theirs))
    for key, value in theirs.items():
        assert_same(ours[key], value, f"{name} get_with_metadata({kw})[{key}]")


@pytest.mark.parametrize("suffix", ALARM_NAMES)
def test_alarm_name_parity(servers, pyepics_results, suffix):
    name = servers.p + suffix
    pv = PV(name)
    assert (pv.char_status, pv.char_severity) == tuple(
        pyepics_results[json.dumps(["alarm_names", name, {}])])


def test_caput_parity(servers):
    """Values put by iocgate read the same in pyepics, and values put by pyepics (enum name,
    str into a CHAR waveform, list into a waveform) read the same in iocgate."""
    p = servers.p
    first = {"ao_w": 1.75, "mode_w": "Fast", "text_w": "put by iocgate", "wave_w": [1, 2, 3],
             "str_w": "iocgate"}
    second = {"ao_w": -2.5, "mode_w": "Slow", "text_w": "put by pyepics", "wave_w": [4.5, 5.5],
              "str_w": "pyepics"}
    for suffix, value in first.items():
        assert caput(p + suffix, value, wait=True) == 1
    reads = [["caget", p + s, {"as_string": s in ("mode_w", "text_w")}] for s in first]
    puts = [["caput", p + s, {"value": v, "wait": True}] for s, v in second.items()]
    results = run_pyepics(servers, reads + puts)
    theirs_first, put_status = results[:len(reads)], results[len(reads):]
    assert theirs_first[0] == 1.75 and theirs_first[1] == "Fast"
    assert theirs_first[2] == "put by iocgate" and theirs_first[4] == "iocgate"
    np.testing.assert_array_equal(theirs_first[3], [1.0, 2.0, 3.0])
    assert put_status == [1] * len(second)
    assert caget(p + "ao_w") == -2.5 and caget(p + "mode_w", as_string=True) == "Slow"
    assert caget(p + "text_w", as_string=True) == "put by pyepics"
    assert caget(p + "str_w") == "pyepics"
    np.testing.assert_array_equal(caget(p + "wave_w"), [4.5, 5.5])
