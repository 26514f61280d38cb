"""The fake Kubernetes API server, checked by an independent client: ``kubectl``.

Every check runs with two kubectls, each with its default flags (discovery, server-side
printing, chunked lists, validation on apply): the one on PATH (a current one) and Debian's
(``kubernetes-client``, 1.20), which ``bash .ci/run`` unpacks into ``.ci/kubectl-debian/``
without installing it. The two validate differently: 1.20 on the client, against the fake's
``/openapi/v2`` (gnostic protobuf), a current one on the server (``fieldValidation=Strict``).
A missing kubectl skips its checks, unless ``CI`` is set, where they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
DEBIAN_KUBECTL = Path(__file__).resolve().parents[2] / ".ci/kubectl-debian/usr/bin/kubectl"
"""Where ``.ci/run`` unpacks Debian's ``kubernetes-client`` package."""


def _on_path() -> str | None:
    return shutil.which("kubectl")


def _debian() -> str | None:
    return str(DEBIAN_KUBECTL) if os.access(DEBIAN_KUBECTL, os.X_OK) else None


KUBECTLS: dict[str, tuple[Callable[[], str | None], str]] = {
    "kubectl-on-path": (_on_path, "kubectl is not on PATH"),
    "kubectl-debian": (_debian, f"Debian's kubectl is not at {DEBIAN_KUBECTL} (bash .ci/run)"),
}


@dataclass(frozen=True)
class KubectlBinary:
    """One kubectl to check the fake with."""

    path: str
    """The executable."""
    minor: int
    """Its client minor version: 20 for Debian's."""

    @property
    def validates_on_client(self) -> bool:
        """kubectl before 1.25 validates against ``/openapi/v2`` itself; later ones ask the
        server to (``fieldValidation=Strict``)."""
        return self.minor < 25


@pytest.fixture(scope="module", params=sorted(KUBECTLS))
def kubectl_binary(request: pytest.FixtureRequest) -> KubectlBinary:
    find, missing = KUBECTLS[request.param]
    found = find()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}, and CI is set: the kubectl checks must run")
        pytest.skip(missing)
    shown = subprocess.run(
        [found, "version", "--client", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    minor = json.loads(shown.stdout)["clientVersion"]["minor"]
    match = re.match(r"\d+", minor)
    assert match, f"{found}: unexpected client minor version {minor!r}"
    return KubectlBinary(found, int(match.group()))


@pytest.fixture
def fake() -> Iterator[KubeFake]:
    with KubeFake(clock=ManualClock(START)) as running:
        yield running


class Kubectl:
    """Runs kubectl against one fake, with its own HOME (so its discovery cache is fresh)."""

    def __init__(self, binary: KubectlBinary, kubeconfig: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "HOME": str(home),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary.path, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = self.run(*args)
        assert done.returncode == 0, (
            f"kubectl {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        )
        return done


@pytest.fixture
def kubectl(kubectl_binary: KubectlBinary, fake: KubeFake, tmp_path: Path) -> Kubectl:
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
    created_with = [r.query for r in fake.requests() if r.info.verb == "create"]
    assert len(created_with) == 1
    assert ("fieldValidation=Strict" in created_with[0]) != kubectl.binary.validates_on_client

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


def test_apply_refuses_a_network_policy_with_an_unknown_field(
    fake: KubeFake, kubectl: Kubectl, tmp_path: Path
) -> None:
    """Validation on by default: kubectl 1.20 finds the typo with the schema of ``/openapi/v2``
    and sends nothing; a current kubectl sends it with ``fieldValidation=Strict`` and the
    fake refuses it. Either way nothing is stored."""
    fake.seed_namespace("ci-typo")
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(
        NETWORK_POLICY.replace("podSelector: {}", "podSelector: {}\n  podSelektor: {}")
    )
    refused = kubectl.run("apply", "-f", str(manifest), "-n", "ci-typo")
    assert refused.returncode != 0
    if kubectl.binary.validates_on_client:
        assert (
            'unknown field "podSelektor" in io.k8s.api.networking.v1.NetworkPolicySpec'
            in refused.stderr
        )
        assert fake.request_count("create", "networkpolicies") == 0
    else:
        assert 'strict decoding error: unknown field "spec.podSelektor"' in refused.stderr
    assert fake.get("networkpolicies", "deny-ingress", "ci-typo") is None
    assert fake.objects("networkpolicies", "ci-typo") == []

    kubectl("apply", "-f", str(manifest), "-n", "ci-typo", "--validate=false")
    stored = fake.get("networkpolicies", "deny-ingress", "ci-typo")
    assert stored is not None
    assert stored["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}  # typo dropped
