"""The demo's Kubernetes cluster: pipeline namespaces left behind, and some that must stay.

Each namespace carries what the demo policy should do with it (``expect_deleted``,
``expect_quarantined``), so tests and the demo check outcomes in the fake cluster instead
of trusting the sweep's report. ``kube-system`` gets a pipeline label and an expired TTL
and must come out untouched: reaper never touches it, whatever its labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reaper.providers.kubernetes.clients import KubeConnection
from reaper.providers.kubernetes.metadata import conditions_of
from reaper.sandbox.estate import Specimen
from reaper.sandbox.kube import KubeFake

CLUSTER = "ci"
"""The demo cluster's name in reaper's config (and its kubeconfig context)."""
UNTOUCHABLE = "kube-system"
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class NamespaceSpecimen(Specimen):
    """One namespace to seed: ``tags`` is what the policy sees (labels and annotations
    together); ``labels`` and ``annotations`` say where each one goes."""

    name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    service: str = "ClusterIP"
    """The type of its Service ``web``."""
    stuck: bool = False
    """Holds an object with a finalizer nothing removes: its deletion never finishes."""
    expect_isolated: bool = False


def _namespace(
    name: str,
    label: str,
    age: timedelta,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
    **facts: object,
) -> NamespaceSpecimen:
    notes = dict(annotations or {})
    return NamespaceSpecimen(
        label,
        age,
        {**labels, **notes},
        name=name,
        labels=labels,
        annotations=notes,
        **facts,  # type: ignore[arg-type]
    )


def namespace_specimens(now: datetime) -> list[NamespaceSpecimen]:
    """The demo cluster's namespaces, for the default tag keys and a 24h namespace TTL."""

    def run(n: int, owner: str = "team-payments") -> dict[str, str]:
        return {"reaper-pipeline": f"gitlab-ci-{n}", "reaper-owner": owner}

    past = (now - HOUR).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        _namespace("ci-4801-review", "fresh", 2 * HOUR, run(4801)),
        _namespace("ci-4802-e2e", "fresh", 5 * HOUR, run(4802, "team-search")),
        _namespace("ci-4803-e2e", "fresh", 9 * HOUR, run(4803, "team-search")),
        _namespace("ci-4711-review", "ttl-expired", 2 * 24 * HOUR, run(4711), expect_deleted=True),
        _namespace(
            "ci-4760-smoke",
            "short-ttl-expired",
            5 * HOUR,
            {**run(4760), "reaper-ttl": "2h"},
            expect_deleted=True,
        ),
        # RFC 3339 cannot be a label value: the expiry is an annotation.
        _namespace(
            "ci-4770-load",
            "expiry-passed",
            3 * HOUR,
            run(4770),
            {"reaper-expires-at": past},
            expect_deleted=True,
        ),
        _namespace(
            "ci-4600-perf",
            "protected",
            6 * 24 * HOUR,
            run(4600, "team-search"),
            {"reaper-protect": "true"},
        ),
        _namespace("team-shared", "unlabelled", 40 * 24 * HOUR, {"team": "platform"}),
        _namespace(
            "ci-4790-preview",
            "exposed",
            3 * HOUR,
            run(4790),
            service="LoadBalancer",
            expect_quarantined=True,
            expect_isolated=True,
        ),
        _namespace(
            "ci-4650-stuck",
            "stuck-finalizer",
            3 * 24 * HOUR,
            run(4650),
            stuck=True,
            expect_deleted=True,
        ),
    ]


def seed_cluster(fake: KubeFake, now: datetime) -> list[NamespaceSpecimen]:
    """Seed the demo cluster: every specimen with a Deployment, a StatefulSet, a CronJob
    and a Service; and ``kube-system`` with a pipeline label and an expired TTL."""
    specimens = namespace_specimens(now)
    for spec in specimens:
        fake.seed_namespace(
            spec.name,
            labels=spec.labels,
            annotations=spec.annotations,
            created=now - spec.age,
        )
        fake.seed_deployment(spec.name, "web", replicas=2, created=now - spec.age)
        fake.seed_statefulset(spec.name, "db", replicas=1, created=now - spec.age)
        fake.seed_cronjob(spec.name, "nightly", created=now - spec.age)
        fake.seed_service(spec.name, "web", type=spec.service, created=now - spec.age)
        if spec.stuck:
            fake.seed_stuck_finalizer(spec.name)
    fake.seed_deployment(UNTOUCHABLE, "coredns", replicas=2)

    def expired(obj: dict[str, Any]) -> None:
        obj["metadata"].setdefault("labels", {}).update(
            {"reaper-pipeline": "gitlab-ci-1", "reaper-ttl": "1h"}
        )

    fake.change("namespaces", UNTOUCHABLE, expired)
    return specimens


def connection(fake: KubeFake) -> KubeConnection:
    """How the demo's kinds reach the fake cluster (its kubeconfig, as ``ci``)."""
    return KubeConnection({CLUSTER: fake.kubeconfig()})


def summary(fake: KubeFake, specimens: Sequence[NamespaceSpecimen]) -> str:
    """What the sweeps left in the fake cluster, for the demo's closing lines.

    The namespace controller runs first, so deleted namespaces go unless held.
    """
    fake.settle()
    names = [s.name for s in specimens]
    gone = [s.label for s in specimens if fake.namespace_phase(s.name) is None]
    stuck = [s for s in specimens if fake.namespace_phase(s.name) == "Terminating"]
    isolated = [
        s.name for s in specimens if fake.get("networkpolicies", "reaper-quarantine", s.name)
    ]
    untouched = fake.get("namespaces", UNTOUCHABLE)
    lines = [
        f"Kubernetes: {len(names) - len(gone)} of {len(names)} namespaces left, {len(gone)} "
        f"deleted ({', '.join(sorted(set(gone))) or 'none'}); quarantined "
        f"({', '.join(isolated) or 'none'}): deny-all NetworkPolicy, workloads at 0, CronJobs "
        "suspended."
    ]
    for spec in stuck:
        held = "; ".join(conditions_of(fake.get("namespaces", spec.name) or {}))
        lines.append(
            f"{spec.name} is still Terminating ({held or 'finalizers remain'}); reaper never "
            "removes finalizers, and escalates it after providers.kubernetes.stuck_after."
        )
    if untouched is not None and not (untouched.get("metadata") or {}).get("deletionTimestamp"):
        lines.append(f"{UNTOUCHABLE} carries a pipeline label and an expired TTL: untouched.")
    return "\n".join(lines)
