"""EPICS access security configuration (``.acf``) files: a pure parser and evaluator.

Follows EPICS base's asLib (``asLib_lex.l``, ``asLib.y``, ``asLibRoutines.c``):

* ``UAG(name) {user, ...}``, ``HAG(name) {host, ...}``, ``ASG(name) {INPx(pv) RULE(level,
  NONE|READ|WRITE[, TRAPWRITE|NOTRAPWRITE]) {UAG(..) HAG(..) CALC("..")}}``;
* a UAG or HAG must be defined before a rule names it; duplicate group names are errors
  (except an empty ``DEFAULT``, which always exists, with no rules unless the file gives some);
* a member whose group is not defined falls in ``DEFAULT``; with no rule matching, no access;
* user names match exactly; host names are compared in lower case (with ``check_client_ip``,
  HAG hosts are resolved to IPv4 addresses and compared with the client's address);
* rules are tried in order; the first granting WRITE ends the search, and a rule applies to a
  channel only if the channel's level (0 for a record's value, 1 for its other fields) is at
  most the rule's level.

Not evaluated: ``CALC`` (and ``INPx``) conditions. asLib grants a CALC rule only while its
inputs are connected and the expression is 1; iocgate does not connect INPx links, so a rule
with ``CALC`` never grants (as in an IOC whose INPx links are disconnected) and the parser
says so in :attr:`AccessConfig.warnings`.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, FrozenSet, Iterator, List, NamedTuple, Optional, Tuple

NONE, READ, WRITE = 0, 1, 2
"""asLib access levels (``asNOACCESS``, ``asREAD``, ``asWRITE``)."""
ACCESS_NAMES = {"NONE": NONE, "READ": READ, "WRITE": WRITE}
CA_READ, CA_WRITE = 1, 2
"""Bits of the CA ACCESS_RIGHTS message."""
DEFAULT = "DEFAULT"


class AcfError(ValueError):
    """The configuration is invalid; the message names the line, as asLib does."""


class Rule(NamedTuple):
    level: int
    access: int
    trap_write: bool
    uags: Tuple[str, ...]
    hags: Tuple[str, ...]
    calc: Optional[str]


class AccessConfig:
    """A parsed configuration. Use :meth:`access` or :meth:`ca_rights` to evaluate it.

    Attributes:
        uags: ``{name: frozenset of users}``.
        hags: ``{name: frozenset of lower-case hosts}`` (or IPv4 addresses).
        asgs: ``{name: [Rule, ...]}``; always has ``DEFAULT``.
        inputs: ``{asg name: {"A": pv name, ...}}`` (parsed, not connected).
        warnings: what was accepted but is not enforced as written.
    """

    def __init__(self) -> None:
        self.uags: Dict[str, FrozenSet[str]] = {}
        self.hags: Dict[str, FrozenSet[str]] = {}
        self.asgs: Dict[str, List[Rule]] = {DEFAULT: []}
        self.inputs: Dict[str, Dict[str, str]] = {}
        self.warnings: List[str] = []

    def access(self, group: str, level: int, user: str, host: str) -> int:
        """The asLib access (NONE/READ/WRITE) of ``user`` on ``host`` to a member of
        ``group`` at ``level`` (0: a record's value, 1: its other fields)."""
        rules = self.asgs.get(group)
        if rules is None:
            rules = self.asgs[DEFAULT]
        host = host.lower()
        access = NONE
        for rule in rules:
            if access == WRITE:
                break
            if access >= rule.access or level > rule.level:
                continue
            if rule.uags and not any(user in self.uags[name] for name in rule.uags):
                continue
            if rule.hags and not any(host in self.hags[name] for name in rule.hags):
                continue
            if rule.calc is None:
                access = rule.access
        return access

    def ca_rights(self, group: str, level: int, user: str, host: str) -> int:
        """:meth:`access` as the CA ACCESS_RIGHTS bits (read 1, write 2)."""
        access = self.access(group, level, user, host)
        return (CA_READ if access >= READ else 0) | (CA_WRITE if access >= WRITE else 0)


# -- lexer: the token rules of asLib_lex.l, longest match first, then rule order ----------
_KEYWORDS = ("UAG", "HAG", "ASG", "RULE", "CALC", "METHOD", "AUTHORITY", "PROTOCOL")
_PATTERNS = [
    ("INP", re.compile(r"INP[A-U]")),
    ("FLOAT", re.compile(r"[-+]?[0-9]*\.[0-9]+([eE][-+]?[0-9]+)?")),
    ("INT", re.compile(r"[-+]?[0-9]+")),
    ("STRING", re.compile(r"[a-zA-Z0-9_\-+:.\[\]<>;]+")),
    ("QUOTED", re.compile(r'"(?:[^"\n\\]|\\.)*"')),
]
_BAD_QUOTE = re.compile(r'"(?:[^"\n\\]|\\.)*\n')


class _Token(NamedTuple):
    kind: str  # a keyword, INP, FLOAT, INT, STRING, or the punctuation character
    text: str
    line: int


def tokens(text: str) -> Iterator[_Token]:
    """Split ACF text into tokens as asLib's lexer does.

    Raises:
        AcfError: an invalid character or an unterminated quoted string.
    """
    pos, line, end = 0, 1, len(text)
    while pos < end:
        char = text[pos]
        if char == "\n":
            line += 1
            pos += 1
        elif char in " \t\r":
            pos += 1
        elif char == "#":
            newline = text.find("\n", pos)
            pos = end if newline < 0 else newline
        elif char in "(){},":
            yield _Token(char, char, line)
            pos += 1
        else:
            best: Optional[Tuple[str, str]] = None
            for kind, pattern in _PATTERNS:
                match = pattern.match(text, pos)
                if match and (best is None or len(match.group()) > len(best[1])):
                    best = (kind, match.group())
            if best is None:
                if _BAD_QUOTE.match(text, pos):
                    raise AcfError(f"Newline in quoted string, closing quote missing at line "
                                   f"{line}")
                raise AcfError(f"Invalid character {char!r} at line {line}")
            kind, word = best
            pos += len(word)
            if kind == "STRING" and word in _KEYWORDS:
                kind = word
            elif kind == "QUOTED":
                kind, word = "STRING", word[1:-1]
            yield _Token(kind, word, line)


# -- parser -------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str, resolve: Optional[Callable[[str], Optional[str]]]):
        self.tokens = list(tokens(text))
        self.pos = 0
        self.config = AccessConfig()
        self.resolve = resolve

    def fail(self, message: str = "syntax error") -> AcfError:
        token = self.peek()
        line = token.line if token else (self.tokens[-1].line if self.tokens else 1)
        return AcfError(f"{message} at line {line}")

    def peek(self) -> Optional[_Token]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, *kinds: str) -> _Token:
        token = self.peek()
        if token is None or token.kind not in kinds:
            raise self.fail()
        self.pos += 1
        return token

    def accept(self, kind: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == kind:
            self.pos += 1
            return True
        return False

    def name_list(self) -> List[str]:
        names = [self.take("STRING").text]
        while self.accept(","):
            names.append(self.take("STRING").text)
        return names

    def head(self) -> str:
        self.take("(")
        name = self.take("STRING").text
        self.take(")")
        return name

    def parse(self) -> AccessConfig:
        if not self.tokens:
            raise self.fail()
        while self.peek() is not None:
            kind = self.take("UAG", "HAG", "ASG").kind
            if kind == "ASG":
                self.asg()
            else:
                self.member_group(kind)
        return self.config

    def member_group(self, kind: str) -> None:
        name = self.head()
        table = self.config.uags if kind == "UAG" else self.config.hags
        if name in table:
            what = "User" if kind == "UAG" else "Host"
            raise self.fail(f"Duplicate {what} Access Group named '{name}'")
        members: List[str] = []
        if self.accept("{"):
            members = self.name_list()
            self.take("}")
        if kind == "HAG":
            members = [self.host(member) for member in members]
        table[name] = frozenset(members)

    def host(self, host: str) -> str:
        if self.resolve is None:
            return host.lower()
        address = self.resolve(host)
        if address is None:
            self.config.warnings.append(f"Unable to resolve host '{host}'")
            return "unresolved:" + host
        return address

    def asg(self) -> None:
        name = self.head()
        asgs = self.config.asgs
        if name in asgs and not (name == DEFAULT and not asgs[DEFAULT]
                                 and not self.config.inputs.get(DEFAULT)):
            raise self.fail(f"Duplicate Access Security Group named '{name}'")
        rules = asgs[name] = []
        if not self.accept("{"):
            return
        while True:
            token = self.take("INP", "RULE")
            if token.kind == "INP":
                self.config.inputs.setdefault(name, {})[token.text[3]] = self.head()
            else:
                rules.append(self.rule())
            if self.accept("}"):
                return

    def rule(self) -> Rule:
        self.take("(")
        level_token = self.take("INT")
        level = int(level_token.text)
        self.take(",")
        access_token = self.take("STRING")
        access = ACCESS_NAMES.get(access_token.text)
        if access is None:
            raise AcfError("Access rights must be NONE, READ or WRITE at line "
                           f"{access_token.line}")
        trap = False
        if self.accept(","):
            option = self.take("STRING").text
            if option not in ("TRAPWRITE", "NOTRAPWRITE"):
                raise self.fail("Log options must be TRAPWRITE or NOTRAPWRITE")
            trap = option == "TRAPWRITE"
        self.take(")")
        if level < 0:
            raise AcfError(f"RULE: LEVEL must be positive: {level} at line {level_token.line}")
        uags: List[str] = []
        hags: List[str] = []
        calc: Optional[str] = None
        if self.accept("{"):
            while True:
                kind = self.take("UAG", "HAG", "CALC").kind
                self.take("(")
                if kind == "CALC":
                    calc = self.take("STRING").text
                else:
                    table = self.config.uags if kind == "UAG" else self.config.hags
                    for group in self.name_list():
                        if group not in table:
                            what = "User" if kind == "UAG" else "Host"
                            raise self.fail(f"No {what} Access Group named '{group}' defined")
                        (uags if kind == "UAG" else hags).append(group)
                self.take(")")
                if self.accept("}"):
                    break
        if calc is not None:
            self.config.warnings.append(f"CALC(\"{calc}\") is not evaluated: that RULE "
                                        "never grants access")
        return Rule(level, access, trap, tuple(uags), tuple(hags), calc)


def parse_acf(text: str, *, resolve: Optional[Callable[[str], Optional[str]]] = None
              ) -> AccessConfig:
    """Parse the text of an ``.acf`` file.

    Args:
        text: the file's content.
        resolve: for asLib's ``asCheckClientIP`` mode, a function giving the IPv4 address of
            a HAG host name (None when it cannot be resolved); HAG entries are then
            addresses. None (the default): HAG entries are lower-case host names.

    Raises:
        AcfError: the text is not a valid configuration; the message names the line.
    """
    return _Parser(text, resolve).parse()
