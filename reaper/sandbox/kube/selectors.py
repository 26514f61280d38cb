"""Label and field selectors, parsed and matched as apimachinery does. Pure.

The label-selector lexer and parser follow ``k8s.io/apimachinery/pkg/labels/selector.go``
token for token: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``,
``a notin (x,y)``, ``a>1``, ``a<1``, comma meaning AND, and the same error texts
(``unable to parse requirement: ...``, ``found 'x', expected: ...``). Field selectors follow
``k8s.io/apimachinery/pkg/fields/selector.go``: ``f=v``, ``f==v``, ``f!=v`` with ``\\``
escapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, auto

from reaper.sandbox.kube.validation import label_key, label_value


class SelectorError(ValueError):
    """A selector that does not parse; the message is the server's."""


class _Token(Enum):
    ERROR = auto()
    END = auto()
    CLOSE_PAREN = auto()
    COMMA = auto()
    NOT = auto()
    DOUBLE_EQUALS = auto()
    EQUALS = auto()
    GREATER = auto()
    IDENTIFIER = auto()
    IN = auto()
    LESS = auto()
    NOT_EQUALS = auto()
    NOT_IN = auto()
    OPEN_PAREN = auto()


_LITERALS = {
    ")": _Token.CLOSE_PAREN,
    ",": _Token.COMMA,
    "!": _Token.NOT,
    "==": _Token.DOUBLE_EQUALS,
    "=": _Token.EQUALS,
    ">": _Token.GREATER,
    "in": _Token.IN,
    "<": _Token.LESS,
    "!=": _Token.NOT_EQUALS,
    "notin": _Token.NOT_IN,
    "(": _Token.OPEN_PAREN,
}
_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")
_BINARY_OPERATORS = ("in", "notin", "=", "==", "!=", "gt", "lt")


class Operator(Enum):
    """``selection.Operator``."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER = "gt"
    LESS = "lt"


@dataclass(frozen=True)
class Requirement:
    """One ANDed term of a label selector."""

    key: str
    """The label key."""
    operator: Operator
    """How the key's value is compared."""
    values: tuple[str, ...] = ()
    """The values compared against (one for equality, a set for in/notin)."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        """``Requirement.Matches``."""
        present = self.key in labels
        if self.operator in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if self.operator is Operator.EXISTS:
            return present
        if self.operator is Operator.DOES_NOT_EXIST:
            return not present
        if not present:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.operator is Operator.GREATER else have < want


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: every requirement must match. Empty matches everything."""

    requirements: tuple[Requirement, ...] = ()
    """The terms, sorted by key as the server sorts them."""

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(r.matches(labels or {}) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _read(self) -> str:
        if self.pos < len(self.text):
            ch = self.text[self.pos]
            self.pos += 1
            return ch
        return ""

    def _unread(self) -> None:
        self.pos -= 1

    def lex(self) -> tuple[_Token, str]:
        ch = self._read()
        while ch in _WHITESPACE and ch:
            ch = self._read()
        if not ch:
            return _Token.END, ""
        self._unread()
        if ch in _SPECIAL:
            return self._special()
        return self._identifier()

    def _identifier(self) -> tuple[_Token, str]:
        buffer = []
        while True:
            ch = self._read()
            if not ch:
                break
            if ch in _SPECIAL or ch in _WHITESPACE:
                self._unread()
                break
            buffer.append(ch)
        word = "".join(buffer)
        return _LITERALS.get(word, _Token.IDENTIFIER), word

    def _special(self) -> tuple[_Token, str]:
        buffer = ""
        last: tuple[_Token, str] | None = None
        while True:
            ch = self._read()
            if not ch:
                break
            if ch in _SPECIAL:
                buffer += ch
                if buffer in _LITERALS:
                    last = (_LITERALS[buffer], buffer)
                elif last is not None:
                    self._unread()
                    break
            else:
                self._unread()
                break
        if last is None:
            return _Token.ERROR, f"error expected: keyword found '{buffer}'"
        return last


class _Parser:
    def __init__(self, text: str) -> None:
        lexer = _Lexer(text)
        self.items: list[tuple[_Token, str]] = []
        while True:
            token = lexer.lex()
            self.items.append(token)
            if token[0] is _Token.END:
                break
        self.position = 0

    def _look(self, values: bool) -> tuple[_Token, str]:
        token, literal = self.items[self.position]
        if values and token in (_Token.IN, _Token.NOT_IN):
            token = _Token.IDENTIFIER
        return token, literal

    def _take(self, values: bool) -> tuple[_Token, str]:
        item = self._look(values)
        self.position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._look(values=True)
            if token in (_Token.IDENTIFIER, _Token.NOT):
                try:
                    requirements.append(self._requirement())
                except SelectorError as err:
                    raise SelectorError(f"unable to parse requirement: {err}") from None
                after, text = self._take(values=True)
                if after is _Token.END:
                    return requirements
                if after is _Token.COMMA:
                    nxt, nxt_text = self._look(values=True)
                    if nxt not in (_Token.IDENTIFIER, _Token.NOT):
                        raise SelectorError(f"found '{nxt_text}', expected: identifier after ','")
                    continue
                raise SelectorError(f"found '{text}', expected: ',' or 'end of string'")
            if token is _Token.END:
                return requirements
            raise SelectorError(f"found '{literal}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> Requirement:
        key, operator = self._key_and_inferred_operator()
        if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            return _requirement(key, operator, [])
        operator = self._operator()
        if operator in (Operator.IN, Operator.NOT_IN):
            values = self._values()
        else:
            values = self._exact_value()
        return _requirement(key, operator, sorted(values))

    def _key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        operator: Operator | None = None
        token, literal = self._take(values=True)
        if token is _Token.NOT:
            operator = Operator.DOES_NOT_EXIST
            token, literal = self._take(values=True)
        if token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        problems = label_key(literal)
        if problems:
            raise SelectorError(
                f"<nil>: Invalid value: {json.dumps(literal)}: {'; '.join(problems)}"
            )
        following, _ = self._look(values=True)
        if following in (_Token.END, _Token.COMMA) and operator is None:
            operator = Operator.EXISTS
        return literal, operator

    def _operator(self) -> Operator:
        token, literal = self._take(values=False)
        operators = {
            _Token.IN: Operator.IN,
            _Token.EQUALS: Operator.EQUALS,
            _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
            _Token.GREATER: Operator.GREATER,
            _Token.LESS: Operator.LESS,
            _Token.NOT_IN: Operator.NOT_IN,
            _Token.NOT_EQUALS: Operator.NOT_EQUALS,
        }
        if token not in operators:
            raise SelectorError(f"found '{literal}', expected: {', '.join(_BINARY_OPERATORS)}")
        return operators[token]

    def _values(self) -> set[str]:
        token, literal = self._take(values=True)
        if token is not _Token.OPEN_PAREN:
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self._look(values=True)
        if token in (_Token.IDENTIFIER, _Token.COMMA):
            values = self._identifiers()
            closing, _ = self._take(values=True)
            if closing is not _Token.CLOSE_PAREN:
                raise SelectorError(f"found '{literal}', expected: ')'")
            return values
        if token is _Token.CLOSE_PAREN:
            self._take(values=True)
            return {""}
        raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")

    def _identifiers(self) -> set[str]:
        found: set[str] = set()
        while True:
            token, literal = self._take(values=True)
            if token is _Token.IDENTIFIER:
                found.add(literal)
                nxt, nxt_text = self._look(values=True)
                if nxt is _Token.COMMA:
                    continue
                if nxt is _Token.CLOSE_PAREN:
                    return found
                raise SelectorError(f"found '{nxt_text}', expected: ',' or ')'")
            if token is _Token.COMMA:
                if not found:
                    found.add("")
                nxt, _ = self._look(values=True)
                if nxt in (_Token.CLOSE_PAREN, _Token.COMMA):
                    found.add("")
                if nxt is _Token.CLOSE_PAREN:
                    return found
                continue
            raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        token, _ = self._look(values=True)
        if token in (_Token.END, _Token.COMMA):
            return {""}
        token, literal = self._take(values=True)
        if token is _Token.IDENTIFIER:
            return {literal}
        raise SelectorError(f"found '{literal}', expected: identifier")


def _requirement(key: str, operator: Operator, values: Sequence[str]) -> Requirement:
    """``NewRequirement``: the checks on the value set, with its field paths."""
    problems: list[str] = []
    if operator in (Operator.IN, Operator.NOT_IN) and not values:
        problems.append(
            "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
        )
    if operator in (Operator.GREATER, Operator.LESS):
        for index, value in enumerate(values):
            try:
                int(value)
            except ValueError:
                problems.append(
                    f"values[{index}]: Invalid value: {json.dumps(value)}: "
                    "for 'Gt', 'Lt' operators, the value must be an integer"
                )
    for index, value in enumerate(values):
        issues = label_value(value)
        if issues:
            problems.append(
                f"values[{index}][{key}]: Invalid value: {json.dumps(value)}: {'; '.join(issues)}"
            )
    if problems:
        raise SelectorError(problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]")
    return Requirement(key, operator, tuple(values))


def parse_label_selector(text: str | None) -> LabelSelector:
    """``labels.Parse``; raises :class:`SelectorError` with the server's message. Pure."""
    if not text:
        return LabelSelector()
    requirements = _Parser(text).parse()
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


@dataclass(frozen=True)
class FieldTerm:
    """One ANDed term of a field selector."""

    field: str
    """The field label, e.g. ``metadata.name``."""
    value: str
    """The value, unescaped."""
    negated: bool
    """True for ``!=``."""


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector."""

    terms: tuple[FieldTerm, ...] = ()
    """The terms; all must hold."""

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all((fields.get(t.field, "") == t.value) != t.negated for t in self.terms)


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _split_term(term: str) -> tuple[str, str, str] | None:
    escaped = False
    for index in range(len(term)):
        if escaped:
            escaped = False
            continue
        if term[index] == "\\":
            escaped = True
            continue
        for operator in ("!=", "==", "="):
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator) :]
    return None


def _unescape(value: str) -> str:
    out, escaped = [], False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character: {ch}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: unterminated escape sequence")
    return "".join(out)


def parse_field_selector(text: str | None) -> FieldSelector:
    """``fields.ParseSelector``; raises :class:`SelectorError`. Pure."""
    if not text:
        return FieldSelector()
    terms = []
    for part in sorted(_split_unescaped(text, ",")):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, operator, value = split
        terms.append(FieldTerm(field, _unescape(value), operator == "!="))
    return FieldSelector(tuple(terms))
