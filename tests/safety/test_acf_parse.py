"""The ACF parser and evaluator, without sockets; accept/reject checked against EPICS base's
own ``ascheck`` on every case."""

from __future__ import annotations

import subprocess

import pytest

from iocgate.security import AccessConfig, AcfError, parse_acf
from iocgate.security._acf import tokens
from iocgate.testing import epics_tool

GOOD = [
    "ASG(DEFAULT) {RULE(1, READ)}",
    "ASG(DEFAULT)",
    "ASG(DEFAULT) ASG(DEFAULT)",  # an empty DEFAULT may be given twice
    'UAG(u) {alice, "bob smith"} ASG(A) {RULE(1, WRITE) {UAG(u)}}',
    "HAG(h) {Host.Example.COM} ASG(A) {RULE(0, WRITE, TRAPWRITE) {HAG(h)}}",
    "ASG(A) {INPA(X:Y) INPB(\"Z\") RULE(1, READ) {CALC(\"A>1\")}}",
    "ASG(A) {RULE(1, READ) {CALC(A>1)}}",  # '>' is a name character
    "# comment\nUAG(x) {a,a}\n\nASG(A) {RULE(1, NONE, NOTRAPWRITE)}",
    "UAG(x) {1a}",  # longest match: a name, not the number 1
]
BAD = [
    ("", "syntax error"),
    ("FOO(x)", "syntax error"),
    ("ASG(A) {}", "syntax error"),
    ("UAG(x) {}", "syntax error"),
    ("ASG(A) {RULE(1, READ) {}}", "syntax error"),
    ("ASG(A) {RULE(1, RPC)}", "Access rights must be NONE, READ or WRITE"),
    ("ASG(A) {RULE(1, write)}", "Access rights must be NONE, READ or WRITE"),
    ("ASG(A) {RULE(1.5, READ)}", "syntax error"),
    ("ASG(A) {RULE(-1, READ)}", "LEVEL must be positive"),
    ("ASG(A) {RULE(1, READ, LOG)}", "Log options must be TRAPWRITE or NOTRAPWRITE"),
    ("ASG(A) {RULE(1, READ) {UAG(x)}} UAG(x)", "No User Access Group named 'x'"),
    ("ASG(A) {RULE(1, READ) {HAG(h)}}", "No Host Access Group named 'h'"),
    ("UAG(a) UAG(a)", "Duplicate User Access Group named 'a'"),
    ("ASG(DEFAULT) {RULE(1, READ)} ASG(DEFAULT)", "Duplicate Access Security Group"),
    ("ASG(A) {RULE(1, READ) {METHOD(\"x\")}}", "syntax error"),
    ('UAG(x) {"a\n}', "Newline in quoted string"),
    ("UAG(x) {a!}", "Invalid character '!'"),
    ("ASG(CALC) {RULE(1, READ)}", "syntax error"),  # keywords are not names
]


def _ascheck(text: str) -> bool:
    result = subprocess.run([str(epics_tool("ascheck"))], input=text + "\n",
                            capture_output=True, text=True, timeout=20)
    return result.returncode == 0


@pytest.mark.parametrize("text", GOOD)
def test_accepted_as_ascheck_accepts(text):
    assert _ascheck(text)
    assert isinstance(parse_acf(text), AccessConfig)


@pytest.mark.parametrize("text, message", BAD)
def test_rejected_as_ascheck_rejects(text, message):
    assert not _ascheck(text)
    with pytest.raises(AcfError, match=message):
        parse_acf(text)


def test_errors_name_the_line():
    with pytest.raises(AcfError, match="at line 3$"):
        parse_acf("UAG(a) {x}\n\nASG(A) {RULE(1, READ) {UAG(b)}}")


def test_tokens_whole_and_with_comments():
    kinds = [t.kind for t in tokens('RULE(1,WRITE) # x\n{ INPA(a) "q" 2.5 }')]
    assert kinds == ["RULE", "(", "INT", ",", "STRING", ")", "{", "INP", "(", "STRING", ")",
                     "STRING", "FLOAT", "}"]


LAB = """
UAG(ops) {alice, bob}
UAG(experts) {carol}
HAG(control) {CTL-host}
ASG(DEFAULT) {
    RULE(1, READ)
    RULE(1, WRITE) {UAG(ops, experts)}
}
ASG(EXPERT) {
    RULE(1, READ) {HAG(control)}
    RULE(0, WRITE) {UAG(experts) HAG(control)}
}
ASG(RO) {RULE(1, READ)}
ASG(GATED) {INPA(X:ENABLE) RULE(1, WRITE) {CALC("A=1")} RULE(1, READ)}
"""


@pytest.mark.parametrize("group, level, user, host, rights", [
    ("DEFAULT", 0, "alice", "anywhere", 3),
    ("DEFAULT", 1, "carol", "anywhere", 3),
    ("DEFAULT", 0, "mallory", "anywhere", 1),
    ("DEFAULT", 0, "Alice", "anywhere", 1),         # users match exactly
    ("EXPERT", 0, "carol", "ctl-HOST", 3),          # hosts in any case
    ("EXPERT", 1, "carol", "ctl-host", 1),          # a field (level 1) above RULE(0, ..)
    ("EXPERT", 0, "carol", "elsewhere", 0),
    ("EXPERT", 0, "alice", "ctl-host", 1),
    ("RO", 0, "carol", "ctl-host", 1),
    ("UNDEFINED", 0, "alice", "x", 3),              # an unknown group is DEFAULT
    ("GATED", 0, "alice", "x", 1),                  # CALC rules never grant
])
def test_rights(group, level, user, host, rights):
    assert parse_acf(LAB).ca_rights(group, level, user, host) == rights


def test_default_without_rules_grants_nothing():
    assert parse_acf("ASG(OTHER) {RULE(1, WRITE)}").ca_rights("NOPE", 0, "u", "h") == 0


def test_check_client_ip_resolves_hag_hosts():
    config = parse_acf("HAG(h) {localhost, no.such.host} ASG(DEFAULT) {RULE(1, WRITE) {HAG(h)}}",
                       resolve={"localhost": "127.0.0.1"}.get)
    assert config.hags["h"] == frozenset({"127.0.0.1", "unresolved:no.such.host"})
    assert config.ca_rights("DEFAULT", 0, "u", "127.0.0.1") == 3
    assert "Unable to resolve host 'no.such.host'" in config.warnings
