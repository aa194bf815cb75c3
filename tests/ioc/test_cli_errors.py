"""Bad options end an IOC at once with one line on stderr and exit code 2, never a traceback.

All cases run as real ``python -m iocs.<name>`` processes, started together (one module-wide
fixture) so the suite waits for the slowest, not the sum.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Dict, Iterator

import pytest

from iocgate.testing import LOOPBACK, free_port, subprocess_env

#: seconds a refused start may take (imports on a loaded machine)
EXIT_TIMEOUT = 60.0

CASES = {
    "interface-absent": (["iocs.power_supply", "--interfaces", "10.9.9.9"],
                         "--interfaces 10.9.9.9: this host has no such address (its addresses: "),
    "interface-not-ip": (["iocs.power_supply", "--interfaces", "notanip"],
                         "--interfaces notanip: not an IPv4 address"),
    "port-without-host": (["iocs.power_supply", "--port", "5481"],
                          "--port 5481 needs --host (the instrument's address)"),
    "serial-missing": (["iocs.temperature_controller", "--serial", "/dev/ttyIOCGATE-NONE"],
                       "--serial /dev/ttyIOCGATE-NONE: no such device (serial ports on this host:"),
    "visa-unparsable": (["iocs.power_supply", "--resource", "TCPIP::x::SOCKET"],
                        "--resource TCPIP::x::SOCKET: not a VISA resource name"),
    "log-dir-absent": (["iocs.power_supply", "--log-file", "/nonexistent-iocgate/x.log"],
                       "--log-file /nonexistent-iocgate/x.log: No such file or directory"),
    "prefix-with-space": (["iocs.power_supply", "--prefix", "MY PSU:"],
                          '--prefix "MY PSU:": a PV name cannot contain spaces'),
    "timeout-negative": (["iocs.power_supply", "--timeout", "-1"],
                         "argument --timeout: expected seconds > 0, not '-1' (--help lists"),
    "async-lib-unknown": (["iocs.power_supply", "--async-lib", "foo"],
                          "argument --async-lib: invalid choice: 'foo'"),
    "interface-env-absent": (["iocs.power_supply"],
                             "EPICS_CAS_INTF_ADDR_LIST=10.9.9.9: this host has no such address"),
    "server-port-env-not-a-number": (["iocs.power_supply"],
                                     "Environment variable EPICS_CA_SERVER_PORT misconfigured"),
    "udp-port-in-use": (["iocs.random_walk"], "UDP port {port} on 127.0.0.1 is in use by pid "
                                              "{pid} ("),
}

#: environment variables set for a case, over the loopback test environment
ENVIRONMENT = {"interface-env-absent": {"EPICS_CAS_INTF_ADDR_LIST": "10.9.9.9"},
               "server-port-env-not-a-number": {"EPICS_CA_SERVER_PORT": "abc"}}


@pytest.fixture(scope="module")
def refused() -> Iterator[Dict[str, tuple]]:
    """``{case: (stderr, stdout, exit code, CA port)}`` for every case of CASES."""
    # a plain UDP socket without SO_REUSEADDR: the IOC's search socket cannot share its port
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind((LOOPBACK, 0))
    busy = holder.getsockname()[1]
    try:
        started = {}
        for case, (args, _) in CASES.items():
            port = busy if case == "udp-port-in-use" else free_port()
            started[case] = (subprocess.Popen(
                [sys.executable, "-m", *args],
                env=subprocess_env(port, **ENVIRONMENT.get(case, {})),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), port)
        results = {}
        for case, (process, port) in started.items():
            out, err = process.communicate(timeout=EXIT_TIMEOUT)
            results[case] = (err, out, process.returncode, port)
        yield results
    finally:
        holder.close()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_option_is_one_line_and_exit_code_2(case, refused):
    err, out, code, port = refused[case]
    module = CASES[case][0][0]
    expected = CASES[case][1].format(port=port, pid=os.getpid())
    assert code == 2, err
    assert "Traceback" not in err and out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"python -m {module}: error: {expected}"), err
