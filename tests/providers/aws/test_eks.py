"""EKS clusters on moto's HTTP server: collect and facts, tags, delete in dependency order
with a bounded wait, quarantine (node groups to zero, endpoint closed) and release.

What happened is read back from moto (clusters, node groups, tags, scaling configs) and
from the requests the kind's own boto3 client sent, in order, recorded at its HTTP edge
by ``Edge``. ``CountingProxy`` counts EKS requests only by HTTP method (EKS is a REST-JSON
API with no ``X-Amz-Target``), cannot tell their order, and answers a fault with an XML
document from which botocore reads the HTTP status as the error code; so faults are
injected at the client's edge too, as JSON error documents EKS would send. The kind's
bounded wait for dependants keeps its production length (60 s, polls every 5 s) and runs
on ``Edge``'s clock, where sleeping takes no time.

Moto gaps the tests work around, each where it matters: node groups and Fargate profiles
are deleted instantly (the "still deleting" path is driven by injected
``ResourceInUseException``), TagResource/UntagResource do not accept node group ARNs
(answered at the edge as EKS would), and UntagResource removes only the first of several
keys (``Edge`` sends the others one by one).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from signing import SIGNER, signed
from sweep_support import run_sweep

from reaper import lifecycle
from reaper.config import AwsSettings, Settings, TagKeys, parse_settings
from reaper.errors import ProviderError
from reaper.model import Action, Decision, PortRange, Reason, Resource, ResourceRef, Result, Scope
from reaper.policy import decide
from reaper.providers.aws import eks as eks_module
from reaper.providers.aws.clients import AwsClients
from reaper.providers.aws.ec2 import Ec2Instances
from reaper.providers.aws.eks import (
    ORIGINAL_ENDPOINT,
    ORIGINAL_SCALING,
    ClusterFacts,
    EksClusters,
    Scaling,
    decode_scaling,
    encode_scaling,
)
from reaper.providers.aws.eks_isolation import nodegroup_ref
from reaper.sandbox.demo import demo_settings
from reaper.sandbox.estate_eks import ClusterSpec, cluster_specimens, cluster_specs, seed_clusters
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy

REGION = "us-east-1"
SCOPE = Scope("ci", REGION)
PIPELINE = {"reaper-pipeline": "gitlab-ci-4711", "reaper-owner": "team-platform"}
REAPER_KEYS = (*lifecycle.ALL_KEYS, ORIGINAL_SCALING, ORIGINAL_ENDPOINT)
ConfigFactory = Callable[..., dict[str, Any]]


# -- the client's HTTP edge --------------------------------------------------------------


@dataclass
class _Rule:
    operation: str
    match: str
    status: int
    body: dict[str, Any]
    times: int | None
    served: int = 0

    def matches(self, operation: str, url: str) -> bool:
        return (
            self.operation == operation
            and self.match in url
            and (self.times is None or self.served < self.times)
        )


class _Body:
    """What botocore reads a response body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class Edge:
    """The kind's outside world: the HTTP edge of its boto3 EKS client, which records
    every request sent, in order, and answers chosen ones itself with the status and JSON
    document EKS would send; and its clock, on which sleeping takes no time."""

    def __init__(self, client: Any) -> None:
        self.sent: list[tuple[str, str]] = []
        """(operation, URL with its path decoded) in the order sent, and ("sleep", seconds)."""
        self.bodies: list[tuple[str, str, bytes]] = []
        """(operation, URL, body) of every request sent, in order."""
        self.now = 0.0
        """The kind's monotonic clock, in seconds."""
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        client.meta.events.register("before-send.eks", self._before_send)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sent.append(("sleep", f"{seconds:g}"))
            self.now += seconds

    def fail(
        self,
        operation: str,
        code: str,
        status: int = 409,
        match: str = "",
        times: int | None = None,
    ) -> None:
        """Answer ``operation`` (on URLs containing ``match``) with an EKS error."""
        body = {"__type": code, "message": f"{code} injected by the test"}
        with self._lock:
            self._rules.append(_Rule(operation, match, status, body, times))

    def succeed(self, operation: str, match: str) -> None:
        """Answer ``operation`` with an empty success, as EKS does where moto cannot."""
        with self._lock:
            self._rules.append(_Rule(operation, match, 200, {}, None))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def payloads(self, operation: str, match: str = "") -> list[dict[str, Any]]:
        """The JSON bodies of ``operation`` requests on URLs containing ``match``, in order."""
        return [json.loads(b) for op, url, b in self.bodies if op == operation and match in url]

    def ops(self, *operations: str, match: str = "") -> list[str]:
        """The operations sent (all, or those named), on URLs containing ``match``, in order."""
        return [
            op
            for op, url in self.sent
            if (op in operations if operations else op != "sleep") and match in url
        ]

    def _before_send(
        self, request: AWSPreparedRequest, event_name: str, **_: Any
    ) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        url = unquote(request.url)
        with self._lock:
            self.sent.append((operation, url))
            body = request.body
            self.bodies.append((operation, url, body if isinstance(body, bytes) else b""))
            for rule in self._rules:
                if rule.matches(operation, url):
                    rule.served += 1
                    data = json.dumps(rule.body).encode()
                    headers = HTTPHeaders()
                    headers["Content-Type"] = "application/json"
                    return AWSResponse(request.url, rule.status, headers, _Body(data))
        if operation == "UntagResource":
            _untag_one_by_one(request)
        return None


def _untag_one_by_one(request: AWSPreparedRequest) -> None:
    """Moto removes only the first of several ``tagKeys``: send it the others one at a time."""
    parts = urlsplit(request.url)
    keys = [v for k, v in parse_qsl(parts.query) if k == "tagKeys"]
    for key in keys[1:]:
        conn = http.client.HTTPConnection(parts.netloc, timeout=10)
        try:
            conn.request(
                "DELETE",
                f"{parts.path}?{urlencode({'tagKeys': key})}",
                headers={k: str(v) for k, v in request.headers.items()},
            )
            assert conn.getresponse().status == 200
        finally:
            conn.close()


# -- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture
def settings(make_config: ConfigFactory) -> Settings:
    """One account, one region, applied, acting on first sight, no brake in the way.

    ``providers.aws.kinds`` stays ``[ec2_instance]``: config does not know ``eks_cluster``
    yet, and the kind does not read that list.
    """
    data = make_config(
        accounts=("ci",),
        regions=(REGION,),
        dry_run=False,
        grace_period="0s",
        safety={"max_fraction": 1.0},
    )
    return parse_settings(data, "tests/eks.yaml")


@pytest.fixture
def aws_settings(settings: Settings) -> AwsSettings:
    assert settings.providers.aws is not None
    return settings.providers.aws


@pytest.fixture
def eks(aws_session: boto3.Session, sandbox: MotoServer) -> Any:
    """An EKS client straight to moto, for seeding and for reading back."""
    return aws_session.client("eks", region_name=REGION, endpoint_url=sandbox.endpoint_url)


KindFactory = Callable[..., tuple[EksClusters, Edge]]


@pytest.fixture
def make_kind(
    aws_settings: AwsSettings, aws_session: boto3.Session, sandbox: MotoServer
) -> KindFactory:
    """``make_kind(endpoint_url=None, **options)`` -> the kind and its outside world.

    The kind keeps its production wait (60 s, polling every 5 s) on the edge's clock.
    """

    def make(endpoint_url: str | None = None, **options: Any) -> tuple[EksClusters, Edge]:
        clients = AwsClients(aws_settings, aws_session, endpoint_url or sandbox.endpoint_url)
        edge = Edge(clients.client(SCOPE, "eks"))
        options.setdefault("signer", SIGNER)
        kind = EksClusters(
            clients, TagKeys(), sleep=edge.sleep, monotonic=edge.monotonic, **options
        )
        return kind, edge

    return make


def _seed(sandbox: MotoServer, session: boto3.Session, *specs: ClusterSpec) -> dict[str, str]:
    """Seed clusters; returns name -> ARN."""
    seeded = seed_clusters(sandbox, session, REGION, datetime.now(UTC), specs)
    return {s.name: s.arn for s in seeded}


def _cluster(name: str, **spec: Any) -> ClusterSpec:
    spec.setdefault("tags", PIPELINE)
    spec.setdefault("version", "1.99")  # unknown to the calendar: never "unpatched"
    return ClusterSpec(name, **spec)


def _resource(name: str, created_at: datetime | None = None) -> Resource:
    return Resource(ResourceRef("aws", "eks_cluster", SCOPE, name), name, created_at, PIPELINE)


def _quarantine(name: str) -> Decision:
    """A first quarantine: the cluster as a plan that never saw it quarantined has it."""
    return Decision(_resource(name), Action.QUARANTINE, (Reason.TTL_EXPIRED,))


def _collected(kind: EksClusters, name: str) -> Resource:
    """The cluster as the next sweep's collector reads it (signed tags, isolation)."""
    (resource,) = kind.get(SCOPE, [name]).resources
    return resource


def _quarantine_again(kind: EksClusters, name: str) -> Decision:
    """The next sweep's quarantine of a cluster, from its tags as collected."""
    return Decision(_collected(kind, name), Action.QUARANTINE, (Reason.TTL_EXPIRED,))


def _clusters(eks: Any) -> set[str]:
    return set(eks.list_clusters()["clusters"])


def _nodegroups(eks: Any, cluster: str) -> set[str]:
    return set(eks.list_nodegroups(clusterName=cluster)["nodegroups"])


def _sizes(eks: Any, cluster: str) -> dict[str, str]:
    """Each node group's ``min:desired:max``."""
    sizes = {}
    for name in _nodegroups(eks, cluster):
        config = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
        sizes[name] = Scaling(
            config["scalingConfig"]["minSize"],
            config["scalingConfig"]["desiredSize"],
            config["scalingConfig"]["maxSize"],
        ).encode()
    return sizes


def _tags(eks: Any, cluster: str) -> dict[str, str]:
    return dict(eks.describe_cluster(name=cluster)["cluster"]["tags"])


def _reaper_tags(eks: Any, cluster: str) -> dict[str, str]:
    return {k: v for k, v in _tags(eks, cluster).items() if k in REAPER_KEYS}


def _endpoint(eks: Any, cluster: str) -> tuple[bool, bool]:
    """(public, private) endpoint access."""
    vpc = eks.describe_cluster(name=cluster)["cluster"]["resourcesVpcConfig"]
    return vpc["endpointPublicAccess"], vpc["endpointPrivateAccess"]


def _results(outcomes: list[Any]) -> dict[str, tuple[Result, str]]:
    return {o.ref.id: (o.result, o.message) for o in outcomes}


# -- collect and get -----------------------------------------------------------------------


def test_collect_returns_pipeline_clusters_with_their_facts(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    _seed(
        sandbox,
        aws_session,
        _cluster("ci-public", version="1.28", nodegroups={"workers": (1, 2, 3)}),
        _cluster("ci-private", version="1.34", endpoint_public=False),
        _cluster("platform", tags={"team": "platform"}),
    )
    kind, _ = make_kind()

    collected = kind.collect(SCOPE)

    by_name = {r.ref.id: r for r in collected.resources}
    assert sorted(by_name) == ["ci-private", "ci-public"]
    assert collected.skipped == 0
    public = by_name["ci-public"]
    created = eks.describe_cluster(name="ci-public")["cluster"]["createdAt"]
    assert public.ref == ResourceRef("aws", "eks_cluster", SCOPE, "ci-public")
    assert public.name == "ci-public"
    assert public.created_at == created
    assert public.created_at is not None
    assert public.created_at.tzinfo is not None
    assert public.state == "ACTIVE"
    assert public.tags == PIPELINE
    assert (public.pipeline_run, public.owner) == ("gitlab-ci-4711", "team-platform")
    assert (public.kubernetes_version, public.public) == ("1.28", True)
    assert public.open_to_world == (PortRange("tcp", 443, 443),)
    private = by_name["ci-private"]
    assert (private.kubernetes_version, private.public, private.open_to_world) == (
        "1.34",
        False,
        (),
    )
    assert kind.facts[public.ref] == ClusterFacts("1.28", True, False, ("0.0.0.0/0",))
    assert kind.facts[public.ref].open_to_internet
    assert kind.facts[private.ref] == ClusterFacts("1.34", False, True, ())
    assert not kind.facts[private.ref].open_to_internet


def test_collect_follows_pages_and_forgets_the_facts_of_clusters_gone(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    eks: Any,
    make_kind: KindFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(eks_module, "PAGE_SIZE", 2)
    names = [f"ci-{n}" for n in range(3)]
    _seed(sandbox, aws_session, *(_cluster(n) for n in names))
    kind, edge = make_kind()

    first = kind.collect(SCOPE)

    assert sorted(r.ref.id for r in first.resources) == names
    assert edge.ops("ListClusters") == ["ListClusters"] * 2
    assert len(edge.ops("DescribeCluster")) == 3
    eks.delete_cluster(name="ci-1")
    second = kind.collect(SCOPE)
    assert sorted(r.ref.id for r in second.resources) == ["ci-0", "ci-2"]
    assert sorted(ref.id for ref in kind.facts) == ["ci-0", "ci-2"]


def test_a_reply_nested_too_deeply_to_parse_is_a_provider_error(
    sandbox: MotoServer, proxy: CountingProxy, make_kind: KindFactory
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    proxy.add_unparseable(REGION, "GET", body=deep, service="eks")
    kind, _ = make_kind(proxy.endpoint_url)

    with pytest.raises(ProviderError) as raised:
        kind.collect(SCOPE)

    assert str(raised.value) == (
        "eks ListClusters in ci/us-east-1 failed: unparseable response: RecursionError: "
        "maximum recursion depth exceeded while decoding a JSON array from a unicode string"
    )


def test_get_rereads_named_clusters_and_leaves_out_missing_ones(
    sandbox: MotoServer, aws_session: boto3.Session, make_kind: KindFactory
) -> None:
    _seed(sandbox, aws_session, _cluster("ci-a"), _cluster("ci-b"))
    kind, _ = make_kind()

    got = kind.get(SCOPE, ["ci-b", "ci-gone"])

    assert [r.ref.id for r in got.resources] == ["ci-b"]
    assert kind.facts[got.resources[0].ref].version == "1.99"


# -- tags --------------------------------------------------------------------------------


def test_tag_and_untag_act_on_each_cluster_on_its_own(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    _seed(sandbox, aws_session, _cluster("ci-a"), _cluster("ci-b"), _cluster("ci-c"))
    kind, edge = make_kind()
    resources = [_resource(n) for n in ("ci-a", "ci-b", "ci-c", "ci-gone")]
    edge.fail("TagResource", "AccessDeniedException", status=403, match="cluster/ci-b")
    marks = lifecycle.mark_tags(datetime.now(UTC), "delete", "ttl-expired")

    tagged = _results(kind.tag(SCOPE, resources, marks, Action.MARK))

    assert {name: result for name, (result, _) in tagged.items()} == {
        "ci-a": Result.DONE,
        "ci-b": Result.FAILED,
        "ci-c": Result.DONE,
        "ci-gone": Result.ALREADY_GONE,
    }
    assert "AccessDeniedException" in tagged["ci-b"][1]
    assert _reaper_tags(eks, "ci-a") == marks
    assert _reaper_tags(eks, "ci-b") == {}
    assert edge.ops("TagResource") == ["TagResource"] * 3  # one call per cluster

    untagged = _results(kind.untag(SCOPE, resources, lifecycle.MARK_KEYS, Action.UNMARK))

    assert untagged["ci-a"][0] is untagged["ci-c"][0] is Result.DONE
    assert untagged["ci-gone"][0] is Result.ALREADY_GONE
    assert _tags(eks, "ci-a") == PIPELINE
    assert _tags(eks, "ci-c") == PIPELINE


# -- delete --------------------------------------------------------------------------------


def test_delete_removes_node_groups_and_fargate_profiles_before_the_cluster(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    eks: Any,
    make_kind: KindFactory,
    proxy: CountingProxy,
) -> None:
    # Moto refuses DeleteCluster while node groups exist, as EKS does, but not while
    # Fargate profiles do (EKS refuses both): the order is checked on the wire.
    _seed(
        sandbox,
        aws_session,
        _cluster(
            "ci-full", nodegroups={"ng-a": (1, 2, 3), "ng-b": (0, 1, 2)}, fargate_profiles=("jobs",)
        ),
        _cluster("ci-bare"),
        _cluster("ci-kept", nodegroups={"ng-a": (1, 1, 1)}),
    )
    kind, edge = make_kind(proxy.endpoint_url)

    outcomes = _results(kind.delete(SCOPE, [_resource("ci-full"), _resource("ci-bare")]))

    assert outcomes == {
        "ci-full": (
            Result.DONE,
            "state ACTIVE; deleted first: 2 node groups, 1 Fargate profile",
        ),
        "ci-bare": (Result.DONE, "state ACTIVE"),
    }
    assert _clusters(eks) == {"ci-kept"}
    assert _nodegroups(eks, "ci-kept") == {"ng-a"}
    deletes = ("DeleteNodegroup", "DeleteFargateProfile", "DeleteCluster")
    order = edge.ops(*deletes, match="/clusters/ci-full")
    assert sorted(order[:3]) == ["DeleteFargateProfile", "DeleteNodegroup", "DeleteNodegroup"]
    assert order[3:] == ["DeleteCluster"]
    assert edge.ops(*deletes, match="/clusters/ci-bare") == ["DeleteCluster"]
    # The fewest requests: the sweep has just described the clusters, and DeleteCluster
    # itself tells whether the dependants went.
    for name in ("ci-full", "ci-bare"):
        reads = edge.ops("DescribeCluster", "ListNodegroups", "ListFargateProfiles", match=name)
        assert reads == ["ListNodegroups", "ListFargateProfiles"]
    # What the edge saw is what went over the wire (the proxy counts EKS by HTTP method).
    assert proxy.count("eks", "DELETE") == len(edge.ops(*deletes)) == 5


def test_deleting_a_cluster_again_finds_it_gone(
    sandbox: MotoServer, aws_session: boto3.Session, make_kind: KindFactory
) -> None:
    _seed(sandbox, aws_session, _cluster("ci-a", nodegroups={"ng": (1, 1, 1)}))
    kind, _ = make_kind()

    first = _results(kind.delete(SCOPE, [_resource("ci-a")]))
    again = _results(kind.delete(SCOPE, [_resource("ci-a")]))

    assert first["ci-a"][0] is Result.DONE
    assert again == {"ci-a": (Result.ALREADY_GONE, "cluster does not exist")}


def test_node_groups_still_deleting_leave_their_cluster_in_progress_for_a_later_call(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    _seed(
        sandbox,
        aws_session,
        _cluster("ci-slow", nodegroups={"ng-a": (1, 2, 3), "ng-b": (1, 1, 1)}),
        _cluster("ci-quick", nodegroups={"ng-a": (1, 1, 1)}),
    )
    kind, edge = make_kind()
    # What EKS answers for a node group whose deletion is under way.
    edge.fail("DeleteNodegroup", "ResourceInUseException", match="/clusters/ci-slow/")

    first = _results(kind.delete(SCOPE, [_resource("ci-slow"), _resource("ci-quick")]))

    assert first == {
        "ci-slow": (Result.SKIPPED, "in progress: 2 node groups still deleting"),
        "ci-quick": (Result.DONE, "state ACTIVE; deleted first: 1 node group"),
    }
    # Waited the bound, 60 s in polls of 5 s, asking again each time; the quick cluster
    # was deleted before the first wait.
    assert edge.ops("sleep") == ["sleep"] * 12
    assert edge.now == 60.0
    assert len(edge.ops("DeleteNodegroup", match="/clusters/ci-slow/")) == 2 * 13
    assert edge.ops("DeleteCluster", "sleep")[0] == "DeleteCluster"
    assert edge.ops("DeleteCluster", match="/clusters/ci-slow") == []
    assert _clusters(eks) == {"ci-slow"}
    assert _nodegroups(eks, "ci-slow") == {"ng-a", "ng-b"}

    edge.clear()
    later = _results(kind.delete(SCOPE, [_resource("ci-slow")]))

    assert later == {"ci-slow": (Result.DONE, "state ACTIVE; deleted first: 2 node groups")}
    assert _clusters(eks) == set()


def test_a_cluster_that_refuses_deletion_is_in_progress_not_failed(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    _seed(sandbox, aws_session, _cluster("ci-busy", nodegroups={"ng": (1, 1, 1)}))
    kind, edge = make_kind()
    edge.fail("DeleteCluster", "ResourceInUseException", match="/clusters/ci-busy")

    first = _results(kind.delete(SCOPE, [_resource("ci-busy")]))

    result, message = first["ci-busy"]
    assert result is Result.SKIPPED
    assert message.startswith("in progress: cluster busy: ")
    assert "ResourceInUseException" in message
    assert _clusters(eks) == {"ci-busy"}
    assert _nodegroups(eks, "ci-busy") == set()  # the dependants went
    assert len(edge.ops("DeleteCluster")) == 13  # asked again on every poll

    edge.clear()
    later = _results(kind.delete(SCOPE, [_resource("ci-busy")]))

    assert later == {"ci-busy": (Result.DONE, "state ACTIVE")}
    assert _clusters(eks) == set()


def test_a_dependant_that_cannot_be_deleted_fails_its_cluster_without_waiting(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    _seed(
        sandbox,
        aws_session,
        _cluster("ci-denied", nodegroups={"ng": (1, 1, 1)}),
        _cluster("ci-fine", nodegroups={"ng": (1, 1, 1)}),
    )
    kind, edge = make_kind()
    edge.fail("DeleteNodegroup", "AccessDeniedException", status=403, match="/ci-denied/")

    outcomes = _results(kind.delete(SCOPE, [_resource("ci-denied"), _resource("ci-fine")]))

    assert edge.ops("sleep") == []
    assert outcomes["ci-denied"][0] is Result.FAILED
    assert "DeleteNodegroup" in outcomes["ci-denied"][1]
    assert "AccessDeniedException" in outcomes["ci-denied"][1]
    assert outcomes["ci-fine"][0] is Result.DONE
    assert _clusters(eks) == {"ci-denied"}


# -- quarantine and release --------------------------------------------------------------


def test_quarantine_scales_node_groups_to_zero_and_closes_the_endpoint_and_release_undoes_it(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    arns = _seed(
        sandbox,
        aws_session,
        _cluster("ci-q", nodegroups={"ng-a": (1, 2, 3), "ng-b": (0, 1, 2)}),
        _cluster("ci-other", nodegroups={"ng-a": (1, 2, 3)}),
    )
    eks.tag_resource(resourceArn=arns["ci-q"], tags={lifecycle.FAILURES: "2"})
    kind, _ = make_kind(restrict_public_endpoint=True)
    now = datetime.now(UTC)

    (outcome,) = kind.quarantine(SCOPE, [_quarantine("ci-q")], now)

    assert (outcome.result, outcome.message) == (
        Result.DONE,
        "scaled 2 node groups to zero; public endpoint closed",
    )
    assert _sizes(eks, "ci-q") == {"ng-a": "0:0:3", "ng-b": "0:0:2"}
    assert _endpoint(eks, "ci-q") == (False, True)
    assert _reaper_tags(eks, "ci-q") == {
        **lifecycle.quarantine_tags(now, "ttl-expired"),
        ORIGINAL_SCALING: "ng-a=1:2:3 ng-b=0:1:2",
        ORIGINAL_ENDPOINT: "public",
    }
    assert _sizes(eks, "ci-other") == {"ng-a": "1:2:3"}
    assert SIGNER.verify(_resource("ci-q").ref, _tags(eks, "ci-q"))
    assert _collected(kind, "ci-q").isolated is True

    released = kind.release(SCOPE, _collected(kind, "ci-q"))

    assert (released.result, released.message) == (
        Result.DONE,
        "released; restored 2 node groups; public endpoint reopened",
    )
    assert _sizes(eks, "ci-q") == {"ng-a": "1:2:3", "ng-b": "0:1:2"}
    assert _endpoint(eks, "ci-q") == (True, False)
    assert _tags(eks, "ci-q") == PIPELINE


def test_quarantine_leaves_the_endpoint_alone_unless_asked(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    _seed(sandbox, aws_session, _cluster("ci-q", nodegroups={"ng": (2, 2, 2)}))
    kind, edge = make_kind()

    (outcome,) = kind.quarantine(SCOPE, [_quarantine("ci-q")], datetime.now(UTC))

    assert (outcome.result, outcome.message) == (Result.DONE, "scaled 1 node group to zero")
    assert _endpoint(eks, "ci-q") == (True, False)
    assert ORIGINAL_ENDPOINT not in _tags(eks, "ci-q")
    assert edge.ops("UpdateClusterConfig") == []


def test_a_retried_quarantine_never_records_zeros_as_the_original_sizes(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    _seed(sandbox, aws_session, _cluster("ci-q", nodegroups={"ng-a": (1, 2, 3), "ng-b": (2, 2, 4)}))
    kind, edge = make_kind(restrict_public_endpoint=True)
    # ng-b cannot be scaled this time: ng-a is at zero, ng-b still running, endpoint open.
    edge.fail("UpdateNodegroupConfig", "ResourceInUseException", match="/node-groups/ng-b")
    now = datetime.now(UTC)

    (first,) = kind.quarantine(SCOPE, [_quarantine("ci-q")], now)

    assert first.result is Result.FAILED
    assert "UpdateNodegroupConfig ci-q/ng-b" in first.message
    assert _sizes(eks, "ci-q") == {"ng-a": "0:0:3", "ng-b": "2:2:4"}
    # The originals are recorded (signed); the state is not: it was not isolated.
    recorded = {ORIGINAL_SCALING: "ng-a=1:2:3 ng-b=2:2:4", ORIGINAL_ENDPOINT: "public"}
    assert _reaper_tags(eks, "ci-q") == recorded
    assert SIGNER.verify(_resource("ci-q").ref, _tags(eks, "ci-q"))

    edge.clear()
    retry_at = now + timedelta(minutes=5)
    (retry,) = kind.quarantine(SCOPE, [_quarantine_again(kind, "ci-q")], retry_at)

    assert (retry.result, retry.message) == (
        Result.DONE,
        "scaled 1 node group to zero; public endpoint closed",
    )
    assert _sizes(eks, "ci-q") == {"ng-a": "0:0:3", "ng-b": "0:0:4"}
    assert _reaper_tags(eks, "ci-q") == {
        **lifecycle.quarantine_tags(retry_at, "ttl-expired"),
        **recorded,
    }
    assert len(edge.ops("UpdateNodegroupConfig", match="ng-a")) == 1  # not scaled twice

    # A third attempt, with everything already done, changes nothing and records nothing.
    edge.sent.clear()
    third_at = now + timedelta(minutes=10)
    (third,) = kind.quarantine(SCOPE, [_quarantine_again(kind, "ci-q")], third_at)
    assert (third.result, third.message) == (Result.DONE, "scaled 0 node groups to zero")
    assert edge.ops("UpdateNodegroupConfig", "UpdateClusterConfig") == []
    # Quarantined already: its quarantine time stays, so the quarantine TTL is not reset.
    assert _tags(eks, "ci-q")[lifecycle.QUARANTINED_AT] == lifecycle.epoch(retry_at)

    released = kind.release(SCOPE, _collected(kind, "ci-q"))

    assert released.result is Result.DONE
    assert _sizes(eks, "ci-q") == {"ng-a": "1:2:3", "ng-b": "2:2:4"}
    assert _endpoint(eks, "ci-q") == (True, False)


def _long_names() -> dict[str, tuple[int, int, int]]:
    """Node groups whose sizes do not fit in one tag value together (63-char names)."""
    return {f"ng-{n}-".ljust(63, "x"): (1, n, 9) for n in range(1, 5)}


def test_sizes_too_long_for_one_tag_are_recorded_on_the_node_groups_before_any_change(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    nodegroups = _long_names()
    assert len(encode_scaling({n: Scaling(*s) for n, s in nodegroups.items()})) > 256
    _seed(sandbox, aws_session, _cluster("ci-q", nodegroups=nodegroups))
    kind, edge = make_kind()
    now = datetime.now(UTC)

    # Moto tags clusters only (ResourceNotFoundException for a node group), like a deny.
    (refused,) = kind.quarantine(SCOPE, [_quarantine("ci-q")], now)

    assert refused.result is Result.FAILED
    assert "TagResource" in refused.message
    assert _sizes(eks, "ci-q") == {n: f"1:{d}:9" for n, (_, d, _) in nodegroups.items()}
    assert _reaper_tags(eks, "ci-q") == {}  # not quarantined: the policy will try again
    assert edge.ops("UpdateNodegroupConfig") == []

    edge.sent.clear()
    edge.succeed("TagResource", match=":nodegroup/ci-q/")  # as EKS answers
    (outcome,) = kind.quarantine(SCOPE, [_quarantine("ci-q")], now)

    assert outcome.result is Result.DONE
    assert edge.ops("TagResource", match=":nodegroup/ci-q/") == ["TagResource"] * 4
    assert ORIGINAL_SCALING not in _tags(eks, "ci-q")
    assert set(_sizes(eks, "ci-q").values()) == {"0:0:9"}
    # Every record went out before the first node group was scaled, each signed as its
    # node group's own; the quarantine state only once the sizes read back zero.
    sent = edge.ops("TagResource", "UpdateNodegroupConfig")
    assert sent == ["TagResource"] * 4 + ["UpdateNodegroupConfig"] * 4 + ["TagResource"]
    cluster = _resource("ci-q").ref
    records = {
        url.split(":nodegroup/ci-q/")[1].split("/")[0]: json.loads(body)["tags"]
        for op, url, body in edge.bodies
        if op == "TagResource" and ":nodegroup/ci-q/" in url
    }
    assert {name: tags[ORIGINAL_SCALING] for name, tags in records.items()} == {
        name: f"1:{desired}:9" for name, (_, desired, _) in nodegroups.items()
    }
    for name, tags in records.items():
        assert SIGNER.verify(nodegroup_ref(cluster, name), tags)
    assert _reaper_tags(eks, "ci-q")[lifecycle.STATE] == "quarantined"


def _cluster_quarantined_with_nodegroup_records(
    sandbox: MotoServer, aws_session: boto3.Session, records: dict[str, dict[str, str]]
) -> None:
    """A cluster as a quarantine with per-node-group records leaves it in EKS."""
    now = datetime.now(UTC)
    cluster = _resource("ci-q").ref
    _seed(
        sandbox,
        aws_session,
        _cluster(
            "ci-q",
            tags=signed(cluster, {**PIPELINE, **lifecycle.quarantine_tags(now, "ttl-expired")}),
            nodegroups={"ng-a": (0, 0, 3), "ng-b": (0, 0, 5)},
            nodegroup_tags=records,
        ),
    )


def test_release_restores_sizes_recorded_on_the_node_groups(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    cluster = _resource("ci-q").ref
    _cluster_quarantined_with_nodegroup_records(
        sandbox,
        aws_session,
        {
            "ng-a": signed(nodegroup_ref(cluster, "ng-a"), {ORIGINAL_SCALING: "1:2:3"}),
            "ng-b": signed(nodegroup_ref(cluster, "ng-b"), {ORIGINAL_SCALING: "2:4:5"}),
        },
    )
    kind, edge = make_kind()
    edge.succeed("UntagResource", match=":nodegroup/ci-q/")  # moto cannot; EKS can

    released = kind.release(SCOPE, _collected(kind, "ci-q"))

    assert (released.result, released.message) == (
        Result.DONE,
        "released; restored 2 node groups",
    )
    assert _sizes(eks, "ci-q") == {"ng-a": "1:2:3", "ng-b": "2:4:5"}
    assert edge.ops("UntagResource", match=":nodegroup/ci-q/") == ["UntagResource"] * 2
    assert _tags(eks, "ci-q") == PIPELINE


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param({ORIGINAL_SCALING: "50:50:50"}, id="unsigned"),
        pytest.param(
            signed(nodegroup_ref(_resource("ci-q").ref, "ng-a"), {ORIGINAL_SCALING: "50:50:50"}),
            id="signed-for-another-node-group",
        ),
        pytest.param(
            signed(_resource("ci-q").ref, {ORIGINAL_SCALING: "50:50:50"}),
            id="signed-for-the-cluster",
        ),
    ],
)
def test_a_forged_node_group_record_is_not_restored(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    eks: Any,
    make_kind: KindFactory,
    forged: dict[str, str],
) -> None:
    cluster = _resource("ci-q").ref
    _cluster_quarantined_with_nodegroup_records(
        sandbox,
        aws_session,
        {
            "ng-a": signed(nodegroup_ref(cluster, "ng-a"), {ORIGINAL_SCALING: "1:2:3"}),
            "ng-b": forged,
        },
    )
    kind, edge = make_kind()
    edge.succeed("UntagResource", match=":nodegroup/ci-q/")

    released = kind.release(SCOPE, _collected(kind, "ci-q"))

    assert (released.result, released.message) == (Result.DONE, "released; restored 1 node group")
    assert _sizes(eks, "ci-q") == {"ng-a": "1:2:3", "ng-b": "0:0:5"}
    sizes = [b["scalingConfig"] for b in edge.payloads("UpdateNodegroupConfig")]
    assert sizes == [{"minSize": 1, "desiredSize": 2, "maxSize": 3}]


def test_a_forged_node_group_record_is_not_taken_for_the_original_size(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    _seed(
        sandbox,
        aws_session,
        _cluster(
            "ci-q",
            nodegroups={"ng-a": (1, 2, 3)},
            nodegroup_tags={"ng-a": {ORIGINAL_SCALING: "50:50:50"}},
        ),
    )
    kind, edge = make_kind()
    edge.succeed("UntagResource", match=":nodegroup/ci-q/")  # moto cannot; EKS can
    now = datetime.now(UTC)

    (quarantined,) = kind.quarantine(SCOPE, [_quarantine("ci-q")], now)

    assert quarantined.result is Result.DONE
    assert _tags(eks, "ci-q")[ORIGINAL_SCALING] == "ng-a=1:2:3"

    released = kind.release(SCOPE, _collected(kind, "ci-q"))

    assert _sizes(eks, "ci-q") == {"ng-a": "1:2:3"}
    assert released.message == "released; restored 1 node group"


def test_quarantine_and_release_of_a_missing_cluster_find_it_gone(
    sandbox: MotoServer, make_kind: KindFactory
) -> None:
    kind, _ = make_kind(restrict_public_endpoint=True)

    (quarantined,) = kind.quarantine(SCOPE, [_quarantine("ci-gone")], datetime.now(UTC))
    released = kind.release(SCOPE, _resource("ci-gone"))

    assert quarantined.result is released.result is Result.ALREADY_GONE


# -- the kind in a sweep, and what it declares -------------------------------------------


def test_a_sweep_deletes_expired_clusters_quarantines_outdated_ones_and_keeps_protected_ones(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    eks: Any,
    make_kind: KindFactory,
    settings: Settings,
    audit_path: Path,
) -> None:
    # Moto stamps createdAt at creation and cannot age clusters: the sweep runs 2 days on.
    _seed(
        sandbox,
        aws_session,
        _cluster("ci-expired", nodegroups={"ng": (1, 2, 3)}),
        _cluster("ci-protected", tags={**PIPELINE, "reaper-protect": "true"}),
        _cluster(
            "ci-outdated",
            version="1.23",
            tags={**PIPELINE, "reaper-ttl": "7d"},
            nodegroups={"ng": (1, 2, 3)},
        ),
    )
    kind, _ = make_kind()

    report = run_sweep(settings, [kind], audit_path, datetime.now(UTC) + timedelta(days=2), False)

    assert {(o.ref.id, o.action, o.result) for o in report.outcomes} == {
        ("ci-expired", Action.DELETE, Result.DONE),
        ("ci-outdated", Action.QUARANTINE, Result.DONE),
    }
    assert _clusters(eks) == {"ci-protected", "ci-outdated"}
    assert _sizes(eks, "ci-outdated") == {"ng": "0:0:3"}
    assert _reaper_tags(eks, "ci-outdated")[lifecycle.STATE] == "quarantined"


def test_a_quarantined_cluster_someone_scales_up_again_is_quarantined_again(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    eks: Any,
    make_kind: KindFactory,
    settings: Settings,
    audit_path: Path,
) -> None:
    _seed(
        sandbox,
        aws_session,
        _cluster(
            "ci-outdated",
            version="1.23",
            tags={**PIPELINE, "reaper-ttl": "7d"},
            nodegroups={"ng": (1, 2, 3)},
        ),
        _cluster("ci-fresh", tags={**PIPELINE, "reaper-ttl": "7d"}, nodegroups={"ng": (1, 2, 3)}),
    )
    kind, edge = make_kind()
    now = datetime.now(UTC)
    run_sweep(settings, [kind], audit_path, now, False)
    quarantined = _reaper_tags(eks, "ci-outdated")
    assert quarantined[lifecycle.STATE] == "quarantined"
    assert _sizes(eks, "ci-outdated") == {"ng": "0:0:3"}

    # An ordinary sweep reads the node groups of the quarantined cluster only.
    edge.sent.clear()
    quiet = run_sweep(settings, [kind], audit_path, now + timedelta(hours=1), False)

    assert quiet.outcomes == ()
    assert {d.ref.id: d.resource.isolated for d in quiet.plan.decisions} == {
        "ci-outdated": True,
        "ci-fresh": None,
    }
    assert edge.ops("ListNodegroups", "DescribeNodegroup", match="ci-fresh") == []
    assert edge.ops("ListNodegroups", "DescribeNodegroup", match="ci-outdated") == [
        "ListNodegroups",
        "DescribeNodegroup",
    ]

    # Someone scales the node group back up.
    eks.update_nodegroup_config(
        clusterName="ci-outdated",
        nodegroupName="ng",
        scalingConfig={"minSize": 2, "desiredSize": 2, "maxSize": 3},
    )
    report = run_sweep(settings, [kind], audit_path, now + timedelta(days=1), False)

    (decision,) = [d for d in report.plan.decisions if d.ref.id == "ci-outdated"]
    assert (decision.action, decision.reasons) == (
        Action.QUARANTINE,
        (Reason.QUARANTINE_INCOMPLETE,),
    )
    assert {(o.ref.id, o.result) for o in report.outcomes} == {("ci-outdated", Result.DONE)}
    assert _sizes(eks, "ci-outdated") == {"ng": "0:0:3"}
    # The same quarantine: its time, and the sizes it recorded first, are kept.
    assert _reaper_tags(eks, "ci-outdated") == quarantined
    assert decode_scaling(quarantined[ORIGINAL_SCALING]) == {"ng": Scaling(1, 2, 3)}
    assert _sizes(eks, "ci-fresh") == {"ng": "1:2:3"}


def test_a_quarantine_whose_sizes_do_not_read_back_zero_is_not_recorded(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any, make_kind: KindFactory
) -> None:
    _seed(sandbox, aws_session, _cluster("ci-q", nodegroups={"ng": (1, 2, 3)}))
    kind, edge = make_kind()
    # EKS accepts the change (an empty success) but the node group keeps its size.
    edge.succeed("UpdateNodegroupConfig", match="/node-groups/ng")

    (outcome,) = kind.quarantine(SCOPE, [_quarantine("ci-q")], datetime.now(UTC))

    assert outcome.result is Result.FAILED
    assert "node group ng runs at 1:2:3" in outcome.message
    assert _reaper_tags(eks, "ci-q") == {ORIGINAL_SCALING: "ng=1:2:3"}


def _protected_dependant_cluster(
    sandbox: MotoServer, aws_session: boto3.Session, which: str
) -> None:
    past = str(int((datetime.now(UTC) - timedelta(hours=1)).timestamp()))
    expired = {**PIPELINE, "reaper-expires-at": past}
    protect = {"Reaper_Protect": "true"}  # spelled as people do: matched loosely
    _seed(
        sandbox,
        aws_session,
        _cluster(
            "ci-kept",
            tags=expired,
            nodegroups={"ng-a": (1, 1, 1), "ng-b": (1, 1, 1)},
            nodegroup_tags={"ng-b": protect} if which == "node-group" else {},
            fargate_profiles=("jobs",),
            fargate_tags={"jobs": protect} if which == "fargate-profile" else {},
        ),
        _cluster("ci-gone", tags=expired, nodegroups={"ng": (1, 1, 1)}),
    )


@pytest.mark.parametrize(
    ("which", "named"),
    [
        pytest.param("node-group", "node group ng-b", id="node-group"),
        pytest.param("fargate-profile", "Fargate profile jobs", id="fargate-profile"),
    ],
)
def test_a_protected_dependant_keeps_its_cluster_which_fails_and_is_escalated(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    eks: Any,
    make_config: ConfigFactory,
    make_kind: KindFactory,
    audit_path: Path,
    which: str,
    named: str,
) -> None:
    _protected_dependant_cluster(sandbox, aws_session, which)
    data = make_config(
        accounts=("ci",),
        regions=(REGION,),
        dry_run=False,
        grace_period="0s",
        safety={"max_fraction": 1.0},
    )
    data["policy"]["retry"] = {"backoff": "30m", "escalate_after": 2}
    settings = parse_settings(data, "tests/eks.yaml")
    kind, edge = make_kind()
    now = datetime.now(UTC)

    first = run_sweep(settings, [kind], audit_path, now, False)

    outcomes = {o.ref.id: o for o in first.outcomes}
    assert outcomes["ci-gone"].result is Result.DONE
    kept = outcomes["ci-kept"]
    assert kept.result is Result.FAILED
    assert f"its {named} carries the protect tag" in kept.message
    # Nothing of it was deleted: not the cluster, not a single dependant.
    assert _clusters(eks) == {"ci-kept"}
    assert _nodegroups(eks, "ci-kept") == {"ng-a", "ng-b"}
    assert eks.list_fargate_profiles(clusterName="ci-kept")["fargateProfileNames"] == ["jobs"]
    deletes = ("DeleteNodegroup", "DeleteFargateProfile", "DeleteCluster")
    assert edge.ops(*deletes, match="ci-kept") == []
    assert _tags(eks, "ci-kept")[lifecycle.FAILURES] == "1"

    # Failing again after the backoff escalates it for a person to decide.
    second = run_sweep(settings, [kind], audit_path, now + timedelta(minutes=31), False)
    third = run_sweep(settings, [kind], audit_path, now + timedelta(minutes=92), False)

    assert [o.result for o in second.outcomes] == [Result.FAILED]
    (decision,) = third.plan.decisions
    assert (decision.action, decision.failures, decision.escalated) == (Action.DELETE, 2, True)
    assert _clusters(eks) == {"ci-kept"}


def test_every_eks_call_the_kind_makes_is_a_declared_permission(
    sandbox: MotoServer, aws_session: boto3.Session, make_kind: KindFactory
) -> None:
    _seed(
        sandbox,
        aws_session,
        _cluster("ci-a", nodegroups={"ng": (1, 2, 3)}, fargate_profiles=("jobs",)),
    )
    kind, edge = make_kind(restrict_public_endpoint=True)
    now = datetime.now(UTC)
    (resource,) = kind.collect(SCOPE).resources
    kind.tag(SCOPE, [resource], lifecycle.mark_tags(now, "quarantine", "ttl-expired"), Action.MARK)
    kind.untag(SCOPE, [resource], lifecycle.MARK_KEYS, Action.UNMARK)
    kind.quarantine(SCOPE, [_quarantine("ci-a")], now)
    kind.release(SCOPE, resource)
    kind.delete(SCOPE, [resource])

    used = {f"eks:{op}" for op in edge.ops()}
    declared = {p for p in EksClusters.permissions if p.startswith("eks:")}
    assert used == declared


def test_clusters_are_deleted_before_ec2_instances() -> None:
    assert EksClusters.delete_order < Ec2Instances.delete_order


# -- tag values and versions -------------------------------------------------------------


def test_sizes_round_trip_through_their_tag_value() -> None:
    sizes = {"ng-b": Scaling(0, 1, 2), "ng-a": Scaling(1, 2, 3)}

    encoded = encode_scaling(sizes)

    assert encoded == "ng-a=1:2:3 ng-b=0:1:2"
    assert decode_scaling(encoded) == sizes
    assert decode_scaling("") == {}


@pytest.mark.parametrize(
    "value",
    ["ng-a", "ng-a=1:2", "ng-a=1:2:x", "=1:2:3", "ng-a=1:2:3:4", "ng-a=-1:2:3"],
)
def test_a_malformed_sizes_tag_is_an_error(value: str) -> None:
    with pytest.raises(ProviderError, match=ORIGINAL_SCALING):
        decode_scaling(value)


# -- the sandbox estate ------------------------------------------------------------------


def test_seed_clusters_builds_clusters_with_dependants_and_ages_them_through_a_control(
    sandbox: MotoServer, aws_session: boto3.Session, eks: Any
) -> None:
    now = datetime.now(UTC)
    aged: list[tuple[str, str, dict[str, datetime]]] = []

    def age(account_id: str, region: str, created: Any) -> int:
        aged.append((account_id, region, dict(created)))
        return len(created)

    specs = cluster_specs(now)[:2]  # the second has a Fargate profile

    seeded = seed_clusters(sandbox, aws_session, REGION, now, specs, age=age)

    assert [s.name for s in seeded] == [s.name for s in specs]
    assert _clusters(eks) == {s.name for s in specs}
    assert aged == [("123456789012", REGION, {s.name: now - s.age for s in specs})]
    assert specs[1].fargate_profiles
    for spec in specs:
        assert _tags(eks, spec.name) == dict(spec.tags)
        assert _sizes(eks, spec.name) == {"workers": "1:2:3"}
        profiles = eks.list_fargate_profiles(clusterName=spec.name)["fargateProfileNames"]
        assert profiles == list(spec.fargate_profiles)


def test_cluster_specimens_agree_with_the_demo_policy() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    settings = demo_settings("unused-audit.jsonl")
    wrong = []
    for n, specimen in enumerate(cluster_specimens(now)):
        resource = Resource(
            ResourceRef("aws", "eks_cluster", SCOPE, f"specimen-{n}"),
            specimen.label,
            now - specimen.age,
            specimen.tags,
        )
        decision = decide(resource, settings.policy, settings.tags, now)
        deleted = decision.action is Action.DELETE or (
            decision.action is Action.MARK and decision.intended is Action.DELETE
        )
        if deleted != specimen.expect_deleted:
            wrong.append(specimen.label)
    assert wrong == []
    assert any(s.expect_deleted for s in cluster_specimens(now))
    assert any(not s.expect_deleted for s in cluster_specimens(now))
