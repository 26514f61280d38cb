"""The fake's Compute list-filter parser, as a pure function over resource JSON."""

from __future__ import annotations

from typing import Any

import pytest

from reaper.sandbox.gcp.filters import FilterSyntaxError, parse_filter

VM: dict[str, Any] = {
    "name": "ci-runner-7",
    "status": "RUNNING",
    "labels": {"reaper-pipeline": "gl-7", "env": "ci"},
    "tags": {"items": ["ssh", "web"]},
    "networkInterfaces": [
        {"network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/ci"}
    ],
    "scheduling": {"automaticRestart": True},
    "creationTimestamp": "2024-01-02T03:04:05.678-08:00",
}


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        pytest.param("labels.reaper-pipeline:*", True, id="has-key"),
        pytest.param("labels.owner:*", False, id="missing-key"),
        pytest.param('labels.env = "ci"', True, id="equals-double-quoted"),
        pytest.param("labels.env = 'ci'", True, id="equals-single-quoted"),
        pytest.param("labels.env != ci", False, id="not-equals"),
        pytest.param("labels.owner != x", True, id="not-equals-missing"),
        pytest.param("labels.env eq c.*", True, id="regex-eq"),
        pytest.param("labels.env eq c", False, id="regex-must-match-whole-field"),
        pytest.param("name ne .*-7", False, id="regex-ne"),
        pytest.param("(name eq ci-.*) (status ne TERM.*)", True, id="regex-conjunction"),
        pytest.param("(labels.env = ci) (status = RUNNING)", True, id="juxtaposition-is-and"),
        pytest.param("labels.env = ci AND status = TERMINATED", False, id="explicit-and"),
        pytest.param("status = TERMINATED OR labels.env = ci", True, id="or"),
        pytest.param(
            "status = RUNNING AND name = x OR name = ci-runner-7", True, id="or-binds-tighter"
        ),
        pytest.param("NOT status = RUNNING", False, id="not"),
        pytest.param("-labels.env:*", False, id="minus-negates"),
        pytest.param("tags.items:ssh", True, id="has-in-list"),
        pytest.param("networkInterfaces.network eq .*/networks/ci", True, id="through-a-list"),
        pytest.param("scheduling.automaticRestart = true", True, id="boolean"),
        pytest.param('creationTimestamp < "2024-02-01"', True, id="string-order"),
        pytest.param("name:ci-*", True, id="has-wildcard"),
    ],
)
def test_expressions(expression: str, matches: bool) -> None:
    assert parse_filter(expression)(VM) is matches


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("labels.env", id="no-operator"),
        pytest.param("(status = RUNNING", id="unclosed-paren"),
        pytest.param("= ci", id="no-field"),
        pytest.param('name = "open', id="unterminated-string"),
        pytest.param("(name eq a) (status = RUNNING)", id="mixed-forms"),
        pytest.param("name eq (", id="bad-regex"),
    ],
)
def test_malformed_expressions_are_refused(expression: str) -> None:
    with pytest.raises(FilterSyntaxError):
        parse_filter(expression)
