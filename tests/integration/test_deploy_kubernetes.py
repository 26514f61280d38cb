"""deploy/kubernetes grants reaper exactly what its Kubernetes code declares."""

from __future__ import annotations

from typing import Any

import yaml
from paths import REPO

from reaper.providers.base import REGISTRY
from reaper.providers.kubernetes.lease import LEASE_PERMISSIONS
from reaper.providers.kubernetes.namespaces import Namespaces

DEPLOY = REPO / "deploy" / "kubernetes"


def _manifest(name: str) -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / name).read_text())
    assert isinstance(data, dict)
    return data


def granted(rules: list[dict[str, Any]]) -> list[str]:
    """An RBAC role's rules as permission strings: ``deployments.apps/scale:patch``."""
    found = []
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                plural, _, sub = resource.partition("/")
                qualified = f"{plural}.{group}" if group else plural
                found += [f"{qualified}{'/' + sub if sub else ''}:{v}" for v in rule["verbs"]]
    return found


def test_the_cluster_role_grants_exactly_what_the_namespace_kind_declares() -> None:
    role = _manifest("clusterrole.yaml")
    assert role["kind"] == "ClusterRole"
    permissions = granted(role["rules"])
    assert len(permissions) == len(set(permissions)), "a permission is granted twice"
    declared = {
        p
        for key, kind in REGISTRY.items()
        if key.startswith("kubernetes:")
        for p in kind.permissions
    }
    assert set(permissions) == declared
    assert set(Namespaces.permissions) == declared
    # Never the power to undo what a namespace's owners rely on.
    assert not any(p.startswith(("namespaces/finalize", "*")) for p in permissions)


def test_the_cluster_role_is_bound_to_reapers_service_account() -> None:
    binding = _manifest("clusterrolebinding.yaml")
    account = _manifest("serviceaccount.yaml")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": _manifest("clusterrole.yaml")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": _manifest("kustomization.yaml")["namespace"],
        }
    ]


def test_the_daemons_role_grants_exactly_what_the_election_uses() -> None:
    role, binding = yaml.safe_load_all((DEPLOY / "daemon" / "role.yaml").read_text())
    assert role["kind"] == "Role"  # its own namespace only, never cluster-wide
    assert sorted(granted(role["rules"])) == sorted(LEASE_PERMISSIONS)
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "reaper"}]
    listed = yaml.safe_load((DEPLOY / "daemon" / "kustomization.yaml").read_text())
    assert "role.yaml" in listed["resources"]
