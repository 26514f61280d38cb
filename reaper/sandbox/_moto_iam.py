"""The sandbox's IAM authorizer: moto's, with resources and conditions, for reaper's calls.

Loaded by :mod:`reaper.sandbox._moto_main` (the moto child process); it only acts while
moto enforces IAM (``MotoServer.iam_enforced()``, moto's ``INITIAL_NO_AUTH_ACTION_COUNT``).

What moto 5 does on its own, once it enforces IAM: it checks each request's signature,
finds the caller (an IAM user, or a role assumed through STS) and evaluates the caller's
identity policies: ``Action``/``NotAction`` and ``Effect``, an explicit Deny winning. It
does not evaluate

* ``Resource`` for EC2 or EKS: every such request is checked as if against ``*``, so a
  statement scoped to ARNs (``arn:aws:ec2:*:*:instance/*``) never matches (S3, STS, IAM
  and SQS requests do carry their resource);
* any ``Condition`` in an identity policy: no condition key is put in the request
  context, and a condition on a missing key counts as met, so conditional Allows allow
  and conditional Denies deny unconditionally. Only ``sts:ExternalId`` with
  ``StringEquals`` is read, in a role's trust policy, when assuming a role of the
  caller's own account. Operators other than ``StringEquals`` are ignored even there.

This module puts back what reaper's policy relies on, for the calls reaper makes. Each
request becomes one authorization per resource it touches (every instance of a
TerminateInstances, the interface and each group of a ModifyNetworkInterfaceAttribute,
the new group and its VPC of a CreateSecurityGroup, plus the ``ec2:CreateTags`` that AWS
authorizes for tags given at creation), each with its ARN and this context:

* ``aws:ResourceTag/*`` (and ``ec2:ResourceTag/*`` for EC2) from the resource's tags;
* ``aws:RequestTag/*`` and ``aws:TagKeys`` from the tags a request sets or removes;
* ``ec2:CreateAction`` for tags given at creation;
* ``aws:RequestedRegion``, ``aws:PrincipalArn``;
* ``s3:prefix`` (ListBucket), ``s3:object-lock-mode`` (PutObject and the
  ``s3:PutObjectRetention`` AWS also authorizes when a lock is asked for).

Every other condition key is absent from the context, as it would be in AWS for a key
that does not apply (so ``Null`` says true, ``StringEquals`` false, negated operators
and ``...IfExists`` true). Conditions are evaluated with the string, ARN, ``Null`` and
``Bool`` operators, ``IfExists`` and the ``ForAllValues``/``ForAnyValue`` qualifiers;
any other operator, or a policy variable, denies the request and logs why. Requests to
other EC2/EKS operations are checked against ``*`` as moto does. Not modelled: resource
policies (bucket policies, role trust across accounts), permission boundaries, SCPs,
session policies.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from moto.backends import get_backend
from moto.core.exceptions import JsonRESTError, _RESTError
from moto.iam.access_control import IAMPolicy, IAMRequestBase
from moto.utilities.utils import get_partition

log = logging.getLogger("reaper.sandbox.iam")

Context = Mapping[str, tuple[str, ...]]
"""Condition keys (lower case) and their values."""


class Unsupported(Exception):
    """A policy uses a condition operator or variable the sandbox does not evaluate."""


@dataclass(frozen=True)
class Authorization:
    """One action on one resource, as IAM authorizes it."""

    action: str
    resource: str
    context: Context = field(default_factory=dict)


# -- evaluation ---------------------------------------------------------------------------


def decide(policies: Sequence[Mapping[str, Any]], request: Authorization) -> str:
    """``allow``, ``deny`` (an explicit Deny) or ``implicit`` (no Allow). Pure."""
    allowed = False
    for policy in policies:
        statements = policy.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if not _applies(statement, request):
                continue
            if statement.get("Effect") == "Deny":
                return "deny"
            allowed = True
    return "allow" if allowed else "implicit"


def _applies(statement: Mapping[str, Any], request: Authorization) -> bool:
    if "NotAction" in statement:
        if _any_glob(statement["NotAction"], request.action, ignore_case=True):
            return False
    elif not _any_glob(statement.get("Action", []), request.action, ignore_case=True):
        return False
    if "NotResource" in statement:
        if _any_glob(statement["NotResource"], request.resource):
            return False
    elif not _any_glob(statement.get("Resource", []), request.resource):
        return False
    return all(
        _condition(operator, key, expected, request.context)
        for operator, keys in (statement.get("Condition") or {}).items()
        for key, expected in keys.items()
    )


def _listed(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in items]


def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    if "${" in pattern:
        raise Unsupported(f"policy variable in {pattern!r}")
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _any_glob(patterns: object, value: str, ignore_case: bool = False) -> bool:
    return any(_glob(p, ignore_case).fullmatch(value) for p in _listed(patterns))


def _equals(expected: str, actual: str) -> bool:
    return expected == actual


def _equals_ignoring_case(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


def _like(expected: str, actual: str) -> bool:
    return _glob(expected).fullmatch(actual) is not None


# operator -> (match one expected value against one actual value, negated)
_OPERATORS: Mapping[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (_equals, False),
    "StringNotEquals": (_equals, True),
    "StringEqualsIgnoreCase": (_equals_ignoring_case, False),
    "StringNotEqualsIgnoreCase": (_equals_ignoring_case, True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (_equals, False),
    "ArnNotEquals": (_equals, True),
    "ArnLike": (_like, False),
    "ArnNotLike": (_like, True),
    "Bool": (_equals_ignoring_case, False),
}


def _condition(operator: str, key: str, expected: object, context: Context) -> bool:
    qualifier, _, name = operator.rpartition(":")
    if qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise Unsupported(f"condition qualifier {qualifier!r}")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    values = _listed(expected)
    actual = context.get(key.lower()) or ()
    if name == "Null":
        return (not actual) == (values[0].lower() == "true")
    if name not in _OPERATORS:
        raise Unsupported(f"condition operator {operator!r}")
    match, negated = _OPERATORS[name]

    def one(value: str) -> bool:
        hit = any(match(e, value) for e in values)
        return not hit if negated else hit

    if not actual:
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return negated
    if qualifier == "ForAllValues":
        return all(one(v) for v in actual)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in actual)
    hits = [any(match(e, v) for e in values) for v in actual]
    return not any(hits) if negated else any(hits)


# -- what a request asks for --------------------------------------------------------------


def _indexed(data: Mapping[str, Any], prefix: str) -> list[str]:
    """``Prefix.1``, ``Prefix.2``, ... of an EC2 query request, in order."""
    found = []
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)")
    for key, value in data.items():
        m = pattern.fullmatch(key)
        if m:
            found.append((int(m.group(1)), value[0] if isinstance(value, list) else value))
    return [str(v) for _, v in sorted(found)]


def _one(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if isinstance(value, list):
        return str(value[0]) if value else None
    return None if value is None else str(value)


def _tag_pairs(data: Mapping[str, Any], prefix: str) -> dict[str, str]:
    """``Prefix.N.Key`` / ``Prefix.N.Value`` of an EC2 query request."""
    pairs = {}
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.Key")
    for key in data:
        m = pattern.fullmatch(key)
        if m:
            pairs[_one(data, key) or ""] = _one(data, f"{prefix}.{m.group(1)}.Value") or ""
    return pairs


def _request_tags(tags: Mapping[str, str], keys: Iterable[str] = ()) -> dict[str, tuple[str, ...]]:
    context: dict[str, tuple[str, ...]] = {
        f"aws:requesttag/{k}".lower(): (v,) for k, v in tags.items()
    }
    names = tuple(dict.fromkeys([*tags, *keys]))
    if names:
        context["aws:tagkeys"] = names
    return context


def _resource_tags(tags: Mapping[str, str], *prefixes: str) -> dict[str, tuple[str, ...]]:
    return {f"{p}/{k}".lower(): (str(v),) for p in prefixes for k, v in tags.items()}


_EC2_TYPES = {
    "i": "instance",
    "sg": "security-group",
    "eni": "network-interface",
    "vpc": "vpc",
    "subnet": "subnet",
    "vol": "volume",
    "ami": "image",
    "snap": "snapshot",
}


@dataclass(frozen=True)
class _Call:
    """What one moto request is, to the authorizer."""

    action: str
    account: str
    region: str
    partition: str
    data: Mapping[str, Any]
    path: str
    body: bytes
    headers: Mapping[str, str]
    base: Context

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return str(value)
        return None


def _ec2(call: _Call) -> list[Authorization]:
    backend = get_backend("ec2")[call.account][call.region]
    operation = call.action.split(":", 1)[1]

    def resource(resource_id: str) -> tuple[str, dict[str, tuple[str, ...]]]:
        kind = _EC2_TYPES.get(resource_id.split("-", 1)[0], "unknown")
        tags = backend.tags.get(resource_id, {})
        arn = f"arn:{call.partition}:ec2:{call.region}:{call.account}:{kind}/{resource_id}"
        return arn, _resource_tags(tags, "aws:ResourceTag", "ec2:ResourceTag")

    def on(ids: Iterable[str], extra: Context | None = None) -> list[Authorization]:
        found = []
        for resource_id in ids:
            arn, tags = resource(resource_id)
            found.append(Authorization(call.action, arn, {**call.base, **tags, **(extra or {})}))
        return found

    data = call.data
    if operation in ("TerminateInstances", "StopInstances", "StartInstances"):
        return on(_indexed(data, "InstanceId"))
    if operation == "CreateTags":
        return on(_indexed(data, "ResourceId"), _request_tags(_tag_pairs(data, "Tag")))
    if operation == "DeleteTags":
        names = list(_tag_pairs(data, "Tag"))
        return on(_indexed(data, "ResourceId"), _request_tags({}, names))
    if operation == "RevokeSecurityGroupEgress":
        return on([_one(data, "GroupId") or ""])
    if operation == "ModifyNetworkInterfaceAttribute":
        return on([_one(data, "NetworkInterfaceId") or "", *_indexed(data, "SecurityGroupId")])
    if operation == "CreateSecurityGroup":
        tags: dict[str, str] = {}
        for n in sorted(
            {m.group(1) for k in data if (m := re.match(r"TagSpecification\.(\d+)\.", k))}
        ):
            if _one(data, f"TagSpecification.{n}.ResourceType") == "security-group":
                tags.update(_tag_pairs(data, f"TagSpecification.{n}.Tag"))
        requested = {**call.base, **_request_tags(tags)}
        group = f"arn:{call.partition}:ec2:{call.region}:{call.account}:security-group/*"
        found = [Authorization(call.action, group, requested)]
        vpc_id = _one(data, "VpcId")
        if vpc_id:
            found += on([vpc_id])
        if tags:
            # AWS authorizes tags given at creation as ec2:CreateTags too.
            creating = {**requested, "ec2:createaction": ("CreateSecurityGroup",)}
            found.append(Authorization("ec2:CreateTags", group, creating))
        return found
    return [Authorization(call.action, "*", call.base)]


def _eks(call: _Call) -> list[Authorization]:
    backend = get_backend("eks")[call.account][call.region]
    parsed = urlparse(call.path)
    path = parsed.path
    query = parse_qs(parsed.query)

    def with_tags(arn: str, tags: Mapping[str, str] | None, extra: Context) -> Authorization:
        tagged = _resource_tags(tags or {}, "aws:ResourceTag")
        return Authorization(call.action, arn, {**call.base, **tagged, **extra})

    tagging = re.fullmatch(r"/tags/(.+)", path)
    if tagging:
        arn = unquote(tagging.group(1))
        if call.action == "eks:TagResource":
            body = json.loads(call.body or b"{}")
            extra: Context = _request_tags(
                {str(k): str(v) for k, v in body.get("tags", {}).items()}
            )
        else:
            extra = _request_tags({}, query.get("tagKeys", []))
        return [with_tags(arn, _eks_tags(backend, arn), extra)]
    m = re.fullmatch(
        r"/clusters/([^/]+)(?:/node-groups/([^/]+)|/fargate-profiles/([^/]+))?(?:/update-config)?",
        path,
    )
    if not m:
        return [Authorization(call.action, "*", call.base)]
    name, nodegroup, profile = (unquote(g) if g else None for g in m.groups())
    assert name is not None
    cluster: Any = backend.clusters.get(name)
    prefix = f"arn:{call.partition}:eks:{call.region}:{call.account}"
    if nodegroup is not None:
        group: Any = cluster.nodegroups.get(nodegroup) if cluster is not None else None
        if group is None:  # authorized by name, as AWS does for one that does not exist
            return [with_tags(f"{prefix}:nodegroup/{name}/{nodegroup}/*", None, {})]
        return [with_tags(group.arn, group.tags, {})]
    if profile is not None:
        found: Any = cluster.fargate_profiles.get(profile) if cluster is not None else None
        if found is None:
            return [with_tags(f"{prefix}:fargateprofile/{name}/{profile}/*", None, {})]
        return [with_tags(found.fargate_profile_arn, found.tags, {})]
    if cluster is None:
        return [with_tags(f"{prefix}:cluster/{name}", None, {})]
    return [with_tags(cluster.arn, cluster.tags, {})]


def _eks_tags(backend: Any, arn: str) -> Mapping[str, str] | None:
    for cluster in backend.clusters.values():
        if cluster.arn == arn:
            return dict(cluster.tags)
        for nodegroup in cluster.nodegroups.values():
            if nodegroup.arn == arn:
                return dict(nodegroup.tags)
        for profile in cluster.fargate_profiles.values():
            if profile.fargate_profile_arn == arn:
                return dict(profile.tags)
    return None


def _s3(call: _Call, resource: str) -> list[Authorization]:
    context = dict(call.base)
    if call.action == "s3:ListBucket":
        prefix = parse_qs(urlparse(call.path).query).get("prefix")
        if prefix is not None:
            context["s3:prefix"] = (prefix[0],)
    lock = call.header("x-amz-object-lock-mode")
    if lock is not None:
        context["s3:object-lock-mode"] = (lock,)
    found = [Authorization(call.action, resource, context)]
    if call.action == "s3:PutObject" and lock is not None:
        found.append(Authorization("s3:PutObjectRetention", resource, context))
    return found


def authorizations(call: _Call, resource: str) -> list[Authorization]:
    """Everything IAM authorizes for one request."""
    service = call.action.split(":", 1)[0]
    if service == "ec2":
        return _ec2(call)
    if service == "eks":
        return _eks(call)
    if service == "s3":
        return _s3(call, resource)
    return [Authorization(call.action, resource, call.base)]


# -- the hook into moto -----------------------------------------------------------------


def _principal_arn(arn: str) -> str:
    """An assumed-role session's ``aws:PrincipalArn`` is its role's ARN."""
    m = re.fullmatch(r"arn:([^:]+):sts::(\d+):assumed-role/([^/]+)/.+", arn)
    return f"arn:{m.group(1)}:iam::{m.group(2)}:role/{m.group(3)}" if m else arn


def _documents(policies: Iterable[Any]) -> list[Mapping[str, Any]]:
    return [IAMPolicy(p)._policy_json for p in policies]


def _denied(request: Any, authorization: Authorization, why: str) -> Exception:
    who = request._access_key.arn
    message = (
        f"User: {who} is not authorized to perform: {authorization.action} on resource: "
        f"{authorization.resource} ({why})"
    )
    print(f"reaper-sandbox iam: denied: {message}", file=sys.stderr, flush=True)
    service = authorization.action.split(":", 1)[0]
    if service == "ec2":
        error = _RESTError(
            "UnauthorizedOperation", f"You are not authorized to perform this operation. {message}"
        )
        error.code = 403
        return error
    if service == "eks":
        error = JsonRESTError("AccessDeniedException", message)
        error.code = 403
        return error
    try:
        request._raise_access_denied()
    except Exception as err:  # moto's own, per service
        return err
    return RuntimeError(message)


def check_action_permitted(self: Any, resource: str) -> None:
    """Replaces ``IAMRequestBase.check_action_permitted``: one decision per authorization."""
    if self._action == "sts:GetCallerIdentity":
        return  # AWS needs no permission for it either
    partition = get_partition(self._region)
    principal = _principal_arn(self._access_key.arn)
    call = _Call(
        action=self._action,
        account=self.account_id,
        region=self._region,
        partition=partition,
        data=self._data or {},
        path=self._path,
        body=self._body if isinstance(self._body, bytes) else str(self._body or "").encode(),
        headers=self._headers,
        base={"aws:requestedregion": (self._region,), "aws:principalarn": (principal,)},
    )
    policies = _documents(self._access_key.collect_policies())
    for authorization in authorizations(call, resource):
        try:
            verdict = decide(policies, authorization)
        except Unsupported as err:
            raise _denied(self, authorization, f"the sandbox cannot evaluate: {err}") from None
        if verdict != "allow":
            why = "explicit deny" if verdict == "deny" else "no statement allows it"
            raise _denied(self, authorization, why)
    if self._is_assuming_role_operation(resource) and not self._check_role_trust_relationship(
        resource
    ):
        self._raise_access_denied()


_moto_create_aws_request = IAMRequestBase._create_aws_request


def _create_aws_request(self: Any) -> Any:
    """moto's request to check the signature against, with the empty body a GET or DELETE
    had: moto puts the query parameters there instead, so every signed EKS ListClusters
    (``?maxResults=``) or UntagResource (``?tagKeys=``) fails SignatureDoesNotMatch."""
    request = _moto_create_aws_request(self)
    if not self._body and self._method in ("GET", "DELETE", "HEAD"):
        request.data = b""
    return request


def install() -> None:
    """Make moto's enforced IAM use this authorizer (in the moto child process)."""
    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]
    IAMRequestBase._create_aws_request = _create_aws_request  # type: ignore[method-assign]


__all__ = ["Authorization", "Unsupported", "authorizations", "decide", "install"]
