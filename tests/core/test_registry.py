"""The registry meta-tests: every resource kind declares what the rest of reaper needs, and
every provider builds each kind its config section lists.

Adding a kind means one provider module and its tests. This file fails until the new kind
declares its permissions (in its provider's format) and delete order, is listed in its
section's ``KINDS``, is built by its provider's ``build``, and has sandbox fixtures
registered in ``FIXTURES`` below. Adding a provider also needs its permission format in
``PERMISSION_FORMATS`` and a minimal section in ``MINIMAL_SECTIONS``.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from reaper.config import TagKeys, known_kinds, parse_settings, provider_sections
from reaper.errors import ConfigError
from reaper.lifecycle import ALL_KEYS, RESERVED_KEYS, SIGNATURE, StateSigner
from reaper.model import Action, Resource, ResourceRef, Scope
from reaper.policy import decide
from reaper.providers import catalog
from reaper.providers.base import REGISTRY, BuildContext, ResourceKind
from reaper.sandbox import estate, estate_eks
from reaper.sandbox.demo import demo_settings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KNOWN_KINDS = known_kinds()

# Importing every provider package fills the registry (a run imports only the configured).
for _section in provider_sections().values():
    importlib.import_module(_section.PACKAGE)

# How each provider writes a permission, and which of its verbs list and delete.
PERMISSION_FORMATS: dict[str, tuple[re.Pattern[str], tuple[str, ...], tuple[str, ...]]] = {
    # IAM actions: ec2:DescribeInstances
    "aws": (
        re.compile(r"^[a-z][a-z0-9-]*:[A-Z][A-Za-z0-9]+$"),
        ("Describe", "List", "Get"),
        ("Delete", "Terminate"),
    ),
}

# The smallest section of each provider that is valid once ``kinds`` is added.
MINIMAL_SECTIONS: dict[str, dict[str, Any]] = {
    "aws": {"regions": ["us-east-1"]},
}

# kind_key -> the function that yields the seeded specimens of the sandbox for that kind.
# A new kind must add its own here, with at least one specimen to delete and one to keep.
FIXTURES: dict[str, Callable[[datetime], Sequence[estate.Specimen]]] = {
    "aws:ec2_instance": estate.specimens,
    "aws:eks_cluster": estate_eks.cluster_specimens,
}

# kind_key -> (ids of its shape, strings that are not). A new kind adds its own: ids given
# by a person (``reaper release``) or a plan file are checked against them before any call.
ID_EXAMPLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "aws:ec2_instance": (
        ("i-0abc1234def567890", "i-1234abcd"),
        ("not-an-instance-id", "i-0ABC1234DEF567890", "i-123", "i-0abc1234def567890 ", "vol-1"),
    ),
    "aws:eks_cluster": (
        ("ci-cluster_1", "C" * 100, "7"),
        ("-leading-dash", "c" * 101, "has space", "name.with.dots", "ci/us-east-1"),
    ),
}

KIND_KEYS = sorted(REGISTRY)


def test_the_registry_is_filled_by_importing_the_catalog() -> None:
    assert KIND_KEYS, "no resource kind registered"


def test_registry_and_the_config_sections_agree() -> None:
    known = {f"{provider}:{kind}" for provider, kinds in KNOWN_KINDS.items() for kind in kinds}
    assert set(REGISTRY) - known == set(), "registered kinds missing from their section's KINDS"
    assert known - set(REGISTRY) == set(), "KINDS entries without an implementation"


@pytest.mark.parametrize("provider", sorted(provider_sections()))
def test_every_kind_is_built_from_a_config_that_enables_it(provider: str) -> None:
    section = provider_sections()[provider]
    assert provider in MINIMAL_SECTIONS, f"add a minimal {provider} section to MINIMAL_SECTIONS"
    data = {"providers": {provider: {**MINIMAL_SECTIONS[provider], "kinds": list(section.KINDS)}}}
    settings = parse_settings(data, "test.yaml")

    built = catalog.build_kinds(settings)

    assert sorted(k.key() for k in built) == sorted(f"{provider}:{k}" for k in section.KINDS)
    assert all(type(k) is REGISTRY[k.key()] for k in built)


def test_a_configured_kind_that_no_builder_produces_fails_at_startup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def builds_ec2_only(section: Any, context: BuildContext) -> list[ResourceKind]:
        return [k for k in real(section, context) if k.kind == "ec2_instance"]

    aws = provider_sections()["aws"].model_validate({"regions": ["us-east-1"]})
    real = catalog.load_builder("aws", aws)
    monkeypatch.setattr(catalog, "load_builder", lambda name, section: builds_ec2_only)
    data = {
        "providers": {"aws": {"regions": ["us-east-1"], "kinds": ["ec2_instance", "eks_cluster"]}}
    }

    with pytest.raises(ConfigError) as raised:
        catalog.build_kinds(parse_settings(data, "test.yaml"))

    assert raised.value.problems == (
        "providers.aws.kinds: 'eks_cluster' is configured, but the aws provider does not build "
        "it (it builds: ec2_instance)",
    )


def test_every_kind_has_sandbox_fixtures() -> None:
    missing = sorted(set(REGISTRY) - set(FIXTURES))
    assert missing == [], f"add a sandbox fixture provider to FIXTURES for: {', '.join(missing)}"
    assert sorted(set(FIXTURES) - set(REGISTRY)) == [], "FIXTURES names kinds nobody registered"


def test_a_provider_whose_sdk_is_missing_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for module in [m for m in sys.modules if m.startswith("reaper.providers.aws")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if not installed
    data = {"providers": {"aws": {"regions": ["us-east-1"]}}}

    with pytest.raises(ConfigError) as raised:
        catalog.build_kinds(parse_settings(data, "test.yaml"))

    assert raised.value.problems == (
        "providers.aws: the aws provider needs boto3, which is not installed: "
        "pip install 'reaper[aws]'",
    )


@pytest.mark.parametrize("key", KIND_KEYS)
def test_kind_is_a_concrete_resource_kind_under_its_own_key(key: str) -> None:
    cls = REGISTRY[key]
    assert issubclass(cls, ResourceKind)
    assert not inspect.isabstract(cls), f"{key} leaves abstract methods unimplemented"
    assert cls.key() == key == f"{cls.provider}:{cls.kind}"
    assert cls.kind in KNOWN_KINDS.get(cls.provider, ())


@pytest.mark.parametrize("key", KIND_KEYS)
def test_kind_declares_its_permissions_in_its_providers_format(key: str) -> None:
    cls = REGISTRY[key]
    assert cls.provider in PERMISSION_FORMATS, f"add {cls.provider} to PERMISSION_FORMATS"
    pattern, lists, deletes = PERMISSION_FORMATS[cls.provider]
    permissions = cls.permissions
    assert isinstance(permissions, tuple)
    assert permissions, f"{key} declares no permissions"
    bad = [p for p in permissions if not isinstance(p, str) or not pattern.fullmatch(p)]
    assert bad == [], f"{key}: permissions must match {pattern.pattern}, got {bad}"
    assert len(set(permissions)) == len(permissions), f"{key} lists a permission twice"
    verbs = [re.split(r"[:.]", p)[-1] for p in permissions]
    assert any(v.startswith(lists) for v in verbs), f"{key} cannot list"
    assert any(v.startswith(deletes) for v in verbs), f"{key} cannot delete"


@pytest.mark.parametrize("key", KIND_KEYS)
def test_kind_state_tags_are_reapers_own_keys(key: str) -> None:
    """What a kind writes besides the lifecycle keys goes in its IAM policy and the SCP."""
    tags = REGISTRY[key].state_tags
    assert isinstance(tags, tuple)
    assert all(isinstance(t, str) and t.startswith("reaper-") for t in tags), tags
    assert not set(tags) & {*ALL_KEYS, *RESERVED_KEYS}
    assert len(set(tags)) == len(tags)


@pytest.mark.parametrize("key", KIND_KEYS)
def test_kind_declares_an_integer_delete_order(key: str) -> None:
    order = REGISTRY[key].delete_order
    assert type(order) is int, f"{key}.delete_order must be an int, got {order!r}"


@pytest.mark.parametrize("key", KIND_KEYS)
def test_kind_records_only_tags_the_state_signature_covers(key: str) -> None:
    """What a kind records to undo a quarantine is signed with the rest of reaper's state:
    its keys start with ``reaper-`` and are none of the keys people set."""
    signer = StateSigner(b"a-key-of-sixteen-bytes", TagKeys().model_dump().values())
    recorded = dict.fromkeys(REGISTRY[key].state_tags, "value")
    assert signer.owned(recorded) == recorded
    assert SIGNATURE not in recorded


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


def test_every_kind_has_id_examples() -> None:
    assert sorted(set(REGISTRY) - set(ID_EXAMPLES)) == [], "add the kind to ID_EXAMPLES"


@pytest.mark.parametrize("key", KIND_KEYS)
def test_kind_declares_the_shape_of_its_ids(key: str) -> None:
    cls = REGISTRY[key]
    re.compile(cls.id_pattern)
    assert cls.id_shape
    good, bad = ID_EXAMPLES[key]
    assert [i for i in good if cls.id_problem(i) is not None] == []
    for wrong in (*bad, "", "x\ny", "\u202eevil"):
        assert cls.id_problem(wrong) == f"{wrong!r} is not an id of {key} ({cls.id_shape})"


def test_the_default_id_shape_refuses_only_what_no_api_takes() -> None:
    class Undeclared(ResourceKind):  # not registered, never built: only its class methods
        provider, kind = "test", "thing"

    assert Undeclared.id_problem("projects/p/zones/z/instances/vm-1") is None
    assert Undeclared.id_problem("x" * 1024) is None
    for wrong in ("", "two words", "tab\tbed", "x" * 1025, "caf\u00e9"):
        assert Undeclared.id_problem(wrong) == (
            f"{wrong!r} is not an id of test:thing "
            "(1 to 1,024 printable ASCII characters, no spaces)"
        )
