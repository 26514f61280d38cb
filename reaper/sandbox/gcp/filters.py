"""Compute Engine list filters: the AIP-160 form and the older regular-expression form.

What the ``filter`` parameter accepts, from the Compute reference: ``field op value`` with
``=``, ``!=``, ``>``, ``<``, ``<=``, ``>=`` or ``:`` (``labels.owner:*`` tests that a key is
set); parenthesised expressions joined by whitespace (AND) or explicit ``AND``/``OR``
(AIP-160 binds OR tighter than AND); or ``field eq|ne literal`` where the literal is an
RE2 expression that must match the whole field, and which cannot be mixed with the
other form. Fields are dotted paths into the resource's JSON (``labels.env``,
``scheduling.automaticRestart``); a path through a list matches if any element does.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from typing import Any

Resource = Mapping[str, Any]
Predicate = Callable[[Resource], bool]

_OPERATORS = ("!=", ">=", "<=", "=", ":", ">", "<")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_MISSING = object()


class FilterSyntaxError(ValueError):
    """The filter is not an expression Compute Engine would accept."""


def parse_filter(text: str) -> Predicate:
    """A predicate over resource JSON for ``text``; raises FilterSyntaxError. Pure."""
    parser = _Parser(text)
    predicate = parser.sequence(depth=0)
    parser.skip_space()
    if not parser.at_end():
        raise FilterSyntaxError(f"unexpected {text[parser.pos :]!r}")
    if parser.regex_form and parser.aip_form:
        raise FilterSyntaxError("regular-expression and AIP-160 expressions cannot be mixed")
    return predicate


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.regex_form = False
        self.aip_form = False

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_space(self) -> None:
        while not self.at_end() and self.text[self.pos].isspace():
            self.pos += 1

    def keyword(self, word: str) -> bool:
        self.skip_space()
        end = self.pos + len(word)
        if self.text[self.pos : end] == word and (
            end >= len(self.text) or self.text[end].isspace() or self.text[end] == "("
        ):
            self.pos = end
            return True
        return False

    def sequence(self, depth: int) -> Predicate:
        parts = [self.factor(depth)]
        while True:
            self.skip_space()
            if self.at_end() or self.text[self.pos] == ")":
                break
            if self.keyword("AND"):
                self.aip_form = True
            parts.append(self.factor(depth))
        if len(parts) == 1:
            return parts[0]
        return lambda resource: all(part(resource) for part in parts)

    def factor(self, depth: int) -> Predicate:
        parts = [self.term(depth)]
        while self.keyword("OR"):
            self.aip_form = True
            parts.append(self.term(depth))
        if len(parts) == 1:
            return parts[0]
        return lambda resource: any(part(resource) for part in parts)

    def term(self, depth: int) -> Predicate:
        self.skip_space()
        negate = False
        if self.keyword("NOT"):
            negate = True
        elif not self.at_end() and self.text[self.pos] == "-":
            negate = True
            self.pos += 1
        if negate:
            self.aip_form = True
        inner = self.simple(depth)
        if negate:
            return lambda resource: not inner(resource)
        return inner

    def simple(self, depth: int) -> Predicate:
        self.skip_space()
        if self.at_end():
            raise FilterSyntaxError("expression expected")
        if self.text[self.pos] == "(":
            self.pos += 1
            inner = self.sequence(depth + 1)
            self.skip_space()
            if self.at_end() or self.text[self.pos] != ")":
                raise FilterSyntaxError("')' expected")
            self.pos += 1
            return inner
        return self.comparison(depth)

    def comparison(self, depth: int) -> Predicate:
        match = _FIELD.match(self.text, self.pos)
        if match is None:
            raise FilterSyntaxError(f"field name expected at {self.text[self.pos :]!r}")
        path = match.group().split(".")
        self.pos = match.end()
        self.skip_space()
        for word in ("eq", "ne"):
            if self.keyword(word):
                self.regex_form = True
                return _regex_predicate(path, word == "ne", self.regex_literal(depth))
        operator = next((op for op in _OPERATORS if self.text.startswith(op, self.pos)), None)
        if operator is None:
            raise FilterSyntaxError(f"operator expected after {'.'.join(path)!r}")
        self.aip_form = True
        self.pos += len(operator)
        self.skip_space()
        if operator == ":" and self.text.startswith("*", self.pos):
            self.pos += 1
            return lambda resource: bool(_values(resource, path))
        return _aip_predicate(path, operator, self.value())

    def value(self) -> str:
        if self.at_end():
            raise FilterSyntaxError("value expected")
        if self.text[self.pos] in "\"'":
            return self.quoted()
        start = self.pos
        while (
            not self.at_end() and not self.text[self.pos].isspace() and self.text[self.pos] != ")"
        ):
            self.pos += 1
        if start == self.pos:
            raise FilterSyntaxError("value expected")
        return self.text[start : self.pos]

    def regex_literal(self, depth: int) -> str:
        self.skip_space()
        if not self.at_end() and self.text[self.pos] in "\"'":
            return self.quoted()
        start = self.pos
        stop = self.text.find(")", start) if depth > 0 else len(self.text)
        self.pos = len(self.text) if stop < 0 else stop
        literal = self.text[start : self.pos].strip()
        if not literal:
            raise FilterSyntaxError("literal expected")
        return literal

    def quoted(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        chars: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and not self.at_end():
                chars.append(self.text[self.pos])
                self.pos += 1
            elif char == quote:
                return "".join(chars)
            else:
                chars.append(char)
        raise FilterSyntaxError("unterminated string")


def _values(resource: Resource, path: list[str]) -> list[object]:
    """Every value at ``path``; a list on the way fans out, a missing key yields none."""
    current: list[object] = [resource]
    for key in path:
        found: list[object] = []
        for node in current:
            items = node if isinstance(node, list) else [node]
            for item in items:
                if isinstance(item, Mapping) and key in item:
                    found.append(item[key])
        current = found
    flat: list[object] = []
    for value in current:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(candidate: object, operator: str, wanted: str) -> bool:
    text = _text(candidate)
    if operator in ("=", "!="):
        return text == wanted
    if operator == ":":
        return fnmatch.fnmatchcase(text, wanted) if "*" in wanted else text == wanted
    left, right = _number(text), _number(wanted)
    pair: tuple[Any, Any] = (
        (left, right) if left is not None and right is not None else (text, wanted)
    )
    if operator == ">":
        return bool(pair[0] > pair[1])
    if operator == "<":
        return bool(pair[0] < pair[1])
    if operator == ">=":
        return bool(pair[0] >= pair[1])
    return bool(pair[0] <= pair[1])


def _aip_predicate(path: list[str], operator: str, wanted: str) -> Predicate:
    if operator == "!=":
        return lambda resource: not any(_compare(v, "=", wanted) for v in _values(resource, path))
    return lambda resource: any(_compare(v, operator, wanted) for v in _values(resource, path))


def _regex_predicate(path: list[str], negate: bool, literal: str) -> Predicate:
    try:
        pattern = re.compile(literal)
    except re.error as exc:
        raise FilterSyntaxError(f"bad regular expression {literal!r}: {exc}") from exc

    def matches(resource: Resource) -> bool:
        hit = any(pattern.fullmatch(_text(v)) for v in _values(resource, path))
        return hit != negate

    return matches
