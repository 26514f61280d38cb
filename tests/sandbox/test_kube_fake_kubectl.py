"""The fake Kubernetes API server, checked by an independent client: ``kubectl``.

``kubectl`` runs with its default flags (discovery, server-side printing, chunked lists,
OpenAPI v3 field validation on apply) against the fake's generated kubeconfig. Without
``kubectl`` on PATH these tests skip, unless ``CI`` is set, where they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reaper.sandbox.kube import KubeFake, ManualClock

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
NETWORK_POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-ingress
  labels:
    reaper.example.com/quarantine: "true"
spec:
  podSelector: {}
  policyTypes:
  - Ingress
"""


@pytest.fixture(scope="module")
def kubectl_binary() -> str:
    found = shutil.which("kubectl")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is not on PATH, and CI is set: the kubectl checks must run")
        pytest.skip("kubectl is not on PATH")
    return found


@pytest.fixture
def fake() -> Iterator[KubeFake]:
    with KubeFake(clock=ManualClock(START)) as running:
        yield running


class Kubectl:
    """Runs kubectl against one fake, with its own HOME (so its discovery cache is fresh)."""

    def __init__(self, binary: str, kubeconfig: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "HOME": str(home),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.binary, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (
            f"kubectl {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        )
        return done


@pytest.fixture
def kubectl(kubectl_binary: str, fake: KubeFake, tmp_path: Path) -> Kubectl:
    home = tmp_path / "home"
    home.mkdir()
    return Kubectl(kubectl_binary, fake.write_kubeconfig(tmp_path / "kubeconfig"), home)


def test_get_namespaces_by_label_in_chunks(fake: KubeFake, kubectl: Kubectl) -> None:
    for name, owner in [
        ("ci-a", "ci"),
        ("ci-b", "ci"),
        ("ci-c", "ci"),
        ("qa-a", "qa"),
        ("ci-d", "ci"),
    ]:
        fake.seed_namespace(name, labels={"owner": owner})
    done = kubectl("get", "ns", "-l", "owner in (ci),!keep", "--chunk-size=2", "-o", "name")
    assert done.stdout.split() == [
        "namespace/ci-a",
        "namespace/ci-b",
        "namespace/ci-c",
        "namespace/ci-d",
    ]
    pages = [
        r for r in fake.requests() if r.info.verb == "list" and r.info.resource == "namespaces"
    ]
    # ci-a ci-b | ci-c ci-d (more keys follow, so a token) | nothing left that matches
    assert len(pages) == 3
    assert all("limit=2" in r.query for r in pages)
    assert ["continue=" in r.query for r in pages] == [False, True, True]


def test_delete_namespace_without_waiting(fake: KubeFake, kubectl: Kubectl) -> None:
    fake.seed_namespace("ci-gone")
    fake.seed_deployment("ci-gone", "web")
    done = kubectl("delete", "ns", "ci-gone", "--wait=false")
    assert done.stdout.strip() == 'namespace "ci-gone" deleted'
    assert fake.namespace_phase("ci-gone") == "Terminating"
    listed = kubectl("get", "ns", "ci-gone", "--no-headers")
    assert listed.stdout.split()[:2] == ["ci-gone", "Terminating"]
    fake.step()
    assert fake.namespace_phase("ci-gone") is None
    assert fake.objects("deployments", "ci-gone") == []


def test_apply_a_network_policy_then_get_it(
    fake: KubeFake, kubectl: Kubectl, tmp_path: Path
) -> None:
    fake.seed_namespace("ci-net")
    manifest = tmp_path / "networkpolicy.yaml"
    manifest.write_text(NETWORK_POLICY)
    created = kubectl("apply", "-f", str(manifest), "-n", "ci-net")
    assert created.stdout.strip() == "networkpolicy.networking.k8s.io/deny-ingress created"
    fake.advance(timedelta(minutes=5))
    listed = kubectl("get", "networkpolicy", "-n", "ci-net")
    assert listed.stdout.splitlines() == [
        "NAME           POD-SELECTOR   AGE",
        "deny-ingress   <none>         5m",
    ]
    stored = fake.get("networkpolicies", "deny-ingress", "ci-net")
    assert stored is not None
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]
    validation = [r for r in fake.requests() if r.info.verb == "create"]
    assert "fieldValidation=Strict" in validation[0].query

    manifest.write_text(
        NETWORK_POLICY.replace("podSelector: {}", "podSelector: {matchLabels: {app: web}}")
    )
    configured = kubectl("apply", "-f", str(manifest), "-n", "ci-net")
    assert configured.stdout.strip() == "networkpolicy.networking.k8s.io/deny-ingress configured"
    assert fake.request_count("patch", "networkpolicies") == 1
    stored = fake.get("networkpolicies", "deny-ingress", "ci-net")
    assert stored is not None
    assert stored["spec"]["podSelector"] == {"matchLabels": {"app": "web"}}
    assert stored["metadata"]["generation"] == 2


def test_server_side_tables_for_every_kind(fake: KubeFake, kubectl: Kubectl) -> None:
    fake.seed_deployment("ci-t", "web", replicas=2, created=START - timedelta(days=3))
    fake.seed_statefulset("ci-t", "db", replicas=1, created=START - timedelta(hours=5))
    fake.seed_cronjob("ci-t", "nightly", suspend=True, created=START - timedelta(minutes=3))
    fake.seed_service("ci-t", "public", type="LoadBalancer", created=START - timedelta(days=400))
    fake.seed_lease("ci-t", "reaper", holder="pod-a", created=START - timedelta(seconds=30))
    done = kubectl("get", "deploy,sts,cj,svc,lease", "-n", "ci-t", "--no-headers")
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()]
    assert ["deployment.apps/web", "2/2", "2", "2", "3d"] in rows
    assert ["statefulset.apps/db", "1/1", "5h"] in rows
    assert [
        "cronjob.batch/nightly",
        "*/5",
        "*",
        "*",
        "*",
        "*",
        "<none>",
        "True",
        "0",
        "<none>",
        "3m",
    ] in rows
    assert [
        "service/public",
        "LoadBalancer",
        "10.96.0.3",
        "203.0.113.11",
        "80:30000/TCP",
        "400d",
    ] in rows
    assert ["lease.coordination.k8s.io/reaper", "pod-a", "30s"] in rows


def test_scale_a_deployment(fake: KubeFake, kubectl: Kubectl) -> None:
    fake.seed_deployment("ci-s", "web", replicas=3)
    done = kubectl("scale", "deployment/web", "--replicas=0", "-n", "ci-s")
    assert done.stdout.strip() == "deployment.apps/web scaled"
    stored = fake.get("deployments", "web", "ci-s")
    assert stored is not None
    assert stored["spec"]["replicas"] == 0
    assert fake.request_count("patch", "deployments", "scale") == 1


def test_apply_reapers_deny_all_policy_then_read_it_back(
    fake: KubeFake, kubectl: Kubectl, tmp_path: Path
) -> None:
    """The quarantine policy reaper creates, applied by kubectl with strict validation."""
    from reaper.providers.kubernetes.metadata import policy_as_written, quarantine_policy

    fake.seed_namespace("ci-quarantined")
    manifest = tmp_path / "deny-all.json"
    manifest.write_text(json.dumps(quarantine_policy()))
    created = kubectl("apply", "-f", str(manifest), "-n", "ci-quarantined")
    assert created.stdout.strip() == "networkpolicy.networking.k8s.io/reaper-quarantine created"
    shown = json.loads(
        kubectl(
            "get", "networkpolicy", "reaper-quarantine", "-n", "ci-quarantined", "-o", "json"
        ).stdout
    )
    assert shown["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policy_as_written(shown)


def test_a_namespace_held_by_a_finalizer_shows_terminating_with_its_conditions(
    fake: KubeFake, kubectl: Kubectl
) -> None:
    fake.seed_namespace("ci-stuck", labels={"reaper-pipeline": "ci-1"})
    fake.seed_stuck_finalizer("ci-stuck")
    kubectl("delete", "ns", "ci-stuck", "--wait=false")
    fake.step()
    listed = kubectl("get", "ns", "-l", "reaper-pipeline", "--chunk-size=500", "--no-headers")
    assert listed.stdout.split()[:2] == ["ci-stuck", "Terminating"]
    conditions = json.loads(
        kubectl("get", "ns", "ci-stuck", "-o", "jsonpath={.status.conditions}").stdout
    )
    failing = {c["type"]: c["message"] for c in conditions if c["status"] == "True"}
    assert failing["NamespaceFinalizersRemaining"] == (
        "Some content in the namespace has finalizers remaining: "
        "foo.example.com/finalizer in 1 resource instances"
    )
