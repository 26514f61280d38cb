"""The registry meta-test: every resource kind declares what the rest of reaper needs.

Adding a kind means one provider module and its tests. This file fails until the new kind
declares its permissions and delete order, is listed in ``config.KNOWN_KINDS``, and has
sandbox fixtures registered in ``FIXTURES`` below.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from reaper.config import KNOWN_KINDS
from reaper.model import Action, Resource, ResourceRef, Scope
from reaper.policy import decide
from reaper.providers import catalog  # noqa: F401  (importing it fills the registry)
from reaper.providers.base import REGISTRY, ResourceKind
from reaper.sandbox import estate, estate_eks
from reaper.sandbox.demo import demo_settings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PERMISSION = re.compile(r"^[a-z][a-z0-9-]*:[A-Z][A-Za-z0-9]+$")

# kind_key -> the function that yields the seeded specimens of the sandbox for that kind.
# A new kind must add its own here, with at least one specimen to delete and one to keep.
FIXTURES: dict[str, Callable[[datetime], Sequence[estate.Specimen]]] = {
    "aws:ec2_instance": estate.specimens,
    "aws:eks_cluster": estate_eks.cluster_specimens,
}

KIND_KEYS = sorted(REGISTRY)


def test_the_registry_is_filled_by_importing_the_catalog() -> None:
    assert KIND_KEYS, "no resource kind registered"


def test_registry_and_known_kinds_agree() -> None:
    known = {f"{provider}:{kind}" for provider, kinds in KNOWN_KINDS.items() for kind in kinds}
    assert set(REGISTRY) - known == set(), "registered kinds missing from config.KNOWN_KINDS"
    assert known - set(REGISTRY) == set(), "KNOWN_KINDS entries without an implementation"


def test_every_kind_has_sandbox_fixtures() -> None:
    missing = sorted(set(REGISTRY) - set(FIXTURES))
    assert missing == [], f"add a sandbox fixture provider to FIXTURES for: {', '.join(missing)}"
    assert sorted(set(FIXTURES) - set(REGISTRY)) == [], "FIXTURES names kinds nobody registered"


@pytest.mark.parametrize("key", KIND_KEYS)
def test_kind_is_a_concrete_resource_kind_under_its_own_key(key: str) -> None:
    cls = REGISTRY[key]
    assert issubclass(cls, ResourceKind)
    assert not inspect.isabstract(cls), f"{key} leaves abstract methods unimplemented"
    assert cls.key() == key == f"{cls.provider}:{cls.kind}"
    assert cls.kind in KNOWN_KINDS.get(cls.provider, ())


@pytest.mark.parametrize("key", KIND_KEYS)
def test_kind_declares_its_permissions(key: str) -> None:
    permissions = REGISTRY[key].permissions
    assert isinstance(permissions, tuple)
    assert permissions, f"{key} declares no permissions"
    bad = [p for p in permissions if not isinstance(p, str) or not PERMISSION.fullmatch(p)]
    assert bad == [], f"{key}: permissions must look like 'service:Action', got {bad}"
    assert len(set(permissions)) == len(permissions), f"{key} lists a permission twice"
    actions = [p.split(":", 1)[1] for p in permissions]
    assert any(a.startswith(("Describe", "List", "Get")) for a in actions), f"{key} cannot list"
    assert any(a.startswith(("Delete", "Terminate")) for a in actions), f"{key} cannot delete"


@pytest.mark.parametrize("key", KIND_KEYS)
def test_kind_declares_an_integer_delete_order(key: str) -> None:
    order = REGISTRY[key].delete_order
    assert type(order) is int, f"{key}.delete_order must be an int, got {order!r}"


@pytest.mark.parametrize("key", KIND_KEYS)
def test_kind_fixtures_cover_both_outcomes(key: str) -> None:
    specimens = FIXTURES[key](NOW)
    assert specimens, f"{key} has no sandbox specimens"
    assert any(s.expect_deleted for s in specimens), f"{key}: no specimen to be deleted"
    assert any(not s.expect_deleted for s in specimens), f"{key}: no specimen to be kept"


@pytest.mark.parametrize("key", KIND_KEYS)
def test_kind_fixtures_expectations_agree_with_the_demo_policy(key: str) -> None:
    """Each specimen says what the demo policy should do with it; check it really does."""
    settings = demo_settings("unused-audit.jsonl")
    provider, kind = key.split(":")
    wrong = []
    for n, specimen in enumerate(FIXTURES[key](NOW)):
        resource = Resource(
            ref=ResourceRef(provider, kind, Scope("ci", "us-east-1"), f"specimen-{n}"),
            name=specimen.label,
            created_at=NOW - specimen.age,
            tags=specimen.tags,
        )
        decision = decide(resource, settings.policy, settings.tags, NOW)
        # With a grace period the first sweep marks what a later sweep deletes.
        deleted = decision.action is Action.DELETE or (
            decision.action is Action.MARK and decision.intended is Action.DELETE
        )
        if deleted != specimen.expect_deleted:
            wrong.append(f"{specimen.label} (expect_deleted={specimen.expect_deleted})")
    assert wrong == []
