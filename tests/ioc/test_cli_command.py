"""The ``iocgate`` command: ``--version``, ``list``, ``run`` and ``doctor``, against an IOC
started here with ``python -m iocgate iocs.random_walk:RandomWalkIOC`` (no ``main()`` used)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import iocs
from iocgate._command._catalogue import catalogue, ioc_classes, resolve
from iocgate._command._doctor import Environment, Server, explain, report
from iocgate.testing import LOOPBACK, free_port

from ._cli_process import TOOL_TIMEOUT, IocProcess


def iocgate(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iocgate", *args], capture_output=True,
                          text=True, timeout=TOOL_TIMEOUT * 2, env=env)


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    ioc = IocProcess("iocgate", "CMD:X", tmp_path_factory.mktemp("walk"), command=[
        "-m", "iocgate", "iocs.random_walk:RandomWalkIOC", "--prefix", "CMD:", "-vv"])
    ioc.start()
    try:
        yield ioc
    finally:
        ioc.stop()


def test_console_script_version():
    script = shutil.which("iocgate", path=str(Path(sys.executable).parent))
    assert script is not None, "pip install -e . installs the iocgate command"
    result = subprocess.run([script, "--version"], capture_output=True, text=True,
                            timeout=TOOL_TIMEOUT)
    assert result.returncode == 0
    assert result.stdout.startswith("iocgate 0.1.0 (caproto "), result.stdout


def test_list_shows_every_ioc_module_with_prefix_and_description():
    result = iocgate("list")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    for info in pkgutil.iter_modules(iocs.__path__):
        module = importlib.import_module(f"iocs.{info.name}")
        for cls in ioc_classes(module):
            names = [name for name in rows if name in (info.name, f"iocs.{info.name}:"
                                                                  f"{cls.__name__}")]
            assert names, (info.name, result.stdout)
            assert cls.default_prefix in rows[names[0]].split()
    assert "Bench DC power supply" in rows["power_supply"]


def test_catalogue_finds_a_module_added_later(tmp_path, monkeypatch):
    package = tmp_path / "lab_iocs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "oven.py").write_text(
        "from iocgate import PVGroup, pvproperty\n\n\n"
        "class OvenIOC(PVGroup):\n    \"\"\"Lab oven: a temperature.\n\n    More.\"\"\"\n\n"
        "    default_prefix = \"OVEN:\"\n"
        "    temp = pvproperty(name=\"TEMP\", value=20.0, units=\"C\", doc=\"Temperature\")\n")
    (package / "broken.py").write_text("import no_such_module_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    entries = {entry.name: entry for entry in catalogue("lab_iocs")}
    assert entries["oven"].prefix == "OVEN:"
    assert entries["oven"].description == "Lab oven: a temperature."
    assert entries["broken"].ioc_class is None
    assert "no_such_module_here" in entries["broken"].description


def test_run_takes_a_module_class_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "my_walk_ioc.py").write_text("from iocs.random_walk import RandomWalkIOC\n\n\n"
                                             "class MyWalk(RandomWalkIOC):\n"
                                             "    default_prefix = \"MW:\"\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd())])
    assert resolve("my_walk_ioc:MyWalk").default_prefix == "MW:"
    assert resolve("random_walk").__name__ == "RandomWalkIOC"
    with pytest.raises(LookupError, match="no module iocs.nope"):
        resolve("nope")


def test_run_help_and_unknown_ioc():
    helped = iocgate("run", "random_walk", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: iocgate run random_walk")
    unknown = iocgate("run", "no_such_ioc")
    assert unknown.returncode == 2
    assert unknown.stderr == ("iocgate run: error: no IOC 'no_such_ioc': no module "
                              "iocs.no_such_ioc (`iocgate list` shows the IOCs)\n")


@pytest.mark.parametrize("args", [["bogus"], ["doctor", "--timeout", "1"], []])
def test_usage_error_is_one_line(args):
    result = iocgate(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("iocgate: error: ") and result.stderr.count("\n") == 1, (
        result.stderr)


def test_run_serves_and_vv_traces_requests(walk):
    assert float(walk.caget("CMD:DT")) == 1.0
    log = walk.log()
    assert (f"RandomWalkIOC: 3 PVs, prefix CMD:, on 127.0.0.1, TCP port {walk.port}, UDP port "
            f"{walk.port}; no device\n") in log
    assert "<- CREATE_CHAN CMD:DT" in log and "<- READ_NOTIFY CMD:DT" in log


def test_doctor_finds_the_ioc_and_explains_an_unknown_pv(walk):
    result = iocgate("doctor", "CMD:X", "CMD:NOPE", env=walk.env)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert f"CMD:X: found at 127.0.0.1 TCP port {walk.port}." in out
    assert "CMD:NOPE: NOT FOUND. No CA server on this host has it" in out
    assert f"EPICS_CA_SERVER_PORT       {walk.port}" in out
    me = next(line for line in out.splitlines() if f"pid {walk.process.pid} " in line)
    assert f"TCP 127.0.0.1:{walk.port}; UDP 127.0.0.1:{walk.port}" in me
    assert "CA repeater: UDP port" in out and "caRepeater" in out


def test_doctor_explains_a_port_mismatch(walk):
    other = free_port()
    lines, found = report(["CMD:X"], dict(walk.env, EPICS_CA_SERVER_PORT=str(other)))
    text = "\n".join(lines)
    assert not found
    assert f"CMD:X: NOT FOUND by searching 127.0.0.1:{other}, but served on this host by " \
           f"pid {walk.process.pid}" in text
    assert f"that IOC answers searches on UDP port {walk.port}, your client searches port " \
           f"{other}. Set EPICS_CA_SERVER_PORT={walk.port}" in text


def test_doctor_explains_an_empty_address_list(walk):
    lines, found = report(["CMD:X"], dict(walk.env, EPICS_CA_ADDR_LIST=""))
    assert not found
    assert lines[-1].startswith("CMD:X: NOT FOUND. No search address at all: "
                                "EPICS_CA_AUTO_ADDR_LIST=NO and EPICS_CA_ADDR_LIST is empty.")


ENV = Environment(addr_list=["127.0.0.1"], auto=False, port=5064, repeater_port=5065)


def test_explain_interface_binding():
    ioc = Server(42, "softIoc", udp=[("192.0.2.7", 5064)], tcp=[("192.0.2.7", 5064)])
    lines = explain("A:B", [], [ioc], ENV, [ioc])
    assert "listens on 192.0.2.7 only" in lines[1] and "Add 192.0.2.7 to EPICS_CA_ADDR_LIST" \
        in lines[1]


def test_explain_second_ioc_on_the_same_port():
    first = Server(1, "python -m iocs.power_supply", [("127.0.0.1", 5064)], [("127.0.0.1", 5064)])
    second = Server(2, "softIoc", [("127.0.0.1", 5064)], [("127.0.0.1", 40000)])
    lines = explain("A:B", [], [first], ENV, [first, second])
    assert lines[1].startswith("  Second IOC: pid 2 (softIoc), TCP 127.0.0.1:40000 shares UDP "
                               "port 5064")


def test_explain_duplicate_answers():
    lines = explain("A:B", [("127.0.0.1", 5064), ("127.0.0.1", 40000)], [], ENV, [])
    assert "answered by 2 servers" in lines[0] and "--prefix" in lines[0]


def test_doctor_flags_a_port_clash(walk):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind((LOOPBACK, 0))
        port = stranger.getsockname()[1]
        lines, found = report([], dict(walk.env, EPICS_CA_SERVER_PORT=str(port)))
    clash = next(line for line in lines if line.startswith("Search port:"))
    assert found  # no PV asked for
    assert f"PORT CLASH: pid {os.getpid()} (" in clash and "is not a Channel Access" in clash


def test_explain_a_server_whose_search_port_is_unknown():
    ioc = Server(7, "softIoc", udp=[], tcp=[("127.0.0.1", 40000)])
    lines = explain("A:B", [], [ioc], ENV, [ioc])
    assert "search port is not known" in lines[1] and "(5064)" in lines[1]
