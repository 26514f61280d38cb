"""The sandbox's IAM evaluation on its own (``reaper.sandbox._moto_iam.decide``): the
least-privilege tests trust it to apply resources and conditions as AWS documents."""

from __future__ import annotations

from typing import Any

import pytest

from reaper.sandbox._moto_iam import Authorization, Unsupported, decide

INSTANCE = "arn:aws:ec2:us-east-1:123456789012:instance/i-1"


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": INSTANCE}
    if condition is not None:
        statement["Condition"] = condition
    return {**statement, **extra}


def _decide(statement: dict[str, Any], context: dict[str, tuple[str, ...]] | None = None) -> str:
    keys = {k.lower(): v for k, v in (context or {}).items()}
    return decide([_policy(statement)], Authorization("ec2:TerminateInstances", INSTANCE, keys))


TAG, REGION, KEYS = "ec2:ResourceTag/p", "aws:RequestedRegion", "aws:TagKeys"
ROLE = "arn:aws:iam::1:role/reaper"


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        pytest.param({"Null": {TAG: "false"}}, {TAG: ("x",)}, "allow", id="null-false-present"),
        pytest.param({"Null": {TAG: "false"}}, {}, "implicit", id="null-false-absent"),
        pytest.param({"Null": {TAG: "true"}}, {}, "allow", id="null-true-absent"),
        pytest.param(
            {"StringEquals": {REGION: ["a", "b"]}}, {REGION: ("b",)}, "allow", id="any-of"
        ),
        pytest.param({"StringEquals": {REGION: "a"}}, {}, "implicit", id="equals-absent"),
        pytest.param({"StringNotEquals": {REGION: "a"}}, {}, "allow", id="negated-absent"),
        pytest.param(
            {"StringNotEquals": {REGION: ["a", "b"]}}, {REGION: ("b",)}, "implicit", id="nor"
        ),
        pytest.param({"StringEqualsIfExists": {REGION: "a"}}, {}, "allow", id="if-exists"),
        pytest.param(
            {"StringNotEqualsIgnoreCase": {TAG: ["false"]}},
            {TAG: ("FALSE",)},
            "implicit",
            id="case",
        ),
        pytest.param(
            {"StringLike": {"s3:prefix": "a/*"}}, {"s3:prefix": ("a/",)}, "allow", id="like"
        ),
        pytest.param(
            {"StringLike": {"s3:prefix": "a/*"}}, {"s3:prefix": ("b/",)}, "implicit", id="unlike"
        ),
        pytest.param(
            {"ForAllValues:StringEquals": {KEYS: ["a", "b"]}}, {KEYS: ("a", "b")}, "allow", id="all"
        ),
        pytest.param(
            {"ForAllValues:StringEquals": {KEYS: ["a"]}},
            {KEYS: ("a", "c")},
            "implicit",
            id="not-all",
        ),
        pytest.param({"ForAllValues:StringEquals": {KEYS: ["a"]}}, {}, "allow", id="all-of-none"),
        pytest.param(
            {"ForAnyValue:StringEquals": {KEYS: ["a"]}}, {KEYS: ("c", "a")}, "allow", id="any"
        ),
        pytest.param({"ForAnyValue:StringEquals": {KEYS: ["a"]}}, {}, "implicit", id="any-of-none"),
        pytest.param(
            {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/reaper"}},
            {"aws:PrincipalArn": (ROLE,)},
            "implicit",
            id="arn-not-like",
        ),
        pytest.param(
            {"Null": {TAG: "false"}, "StringEquals": {TAG: "x"}},
            {TAG: ("y",)},
            "implicit",
            id="operators-and",
        ),
    ],
)
def test_conditions(
    condition: dict[str, Any], context: dict[str, tuple[str, ...]], expected: str
) -> None:
    assert _decide(_allow(condition), context) == expected


def test_an_explicit_deny_wins_over_any_allow() -> None:
    deny = {**_allow(), "Effect": "Deny"}
    request = Authorization("ec2:TerminateInstances", INSTANCE, {})

    assert decide([_policy(_allow(), deny)], request) == "deny"
    assert decide([_policy(_allow()), _policy(deny)], request) == "deny"


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        pytest.param(_allow(Resource="arn:aws:ec2:*:*:instance/*"), "allow", id="resource-glob"),
        pytest.param(_allow(Resource="arn:aws:ec2:*:*:volume/*"), "implicit", id="other-type"),
        pytest.param(_allow(Action="ec2:terminate*"), "allow", id="action-case-and-glob"),
        pytest.param(
            {"Effect": "Allow", "NotAction": "ec2:Describe*", "Resource": "*"},
            "allow",
            id="not-action",
        ),
        pytest.param(
            {"Effect": "Allow", "Action": "*", "NotResource": INSTANCE},
            "implicit",
            id="not-resource",
        ),
    ],
)
def test_actions_and_resources(statement: dict[str, Any], expected: str) -> None:
    assert _decide(statement) == expected


def test_what_it_cannot_evaluate_is_refused_not_waved_through() -> None:
    with pytest.raises(Unsupported):
        _decide(_allow({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}))
    with pytest.raises(Unsupported):
        _decide(_allow(Resource="arn:aws:ec2:*:*:instance/${aws:username}"))
