"""Shards: rendezvous assignment is stable, balanced, and moves ~1/(N+1) of the scopes to a
new shard and nowhere else; each shard gets its own audit chain and metrics group."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper.config import parse_settings
from reaper.errors import ConfigError
from reaper.model import Scope
from reaper.shards import (
    Shard,
    assign,
    parse_shard,
    scope_key,
    shard_from_env,
    shard_settings,
)

REGIONS = [
    f"{area}-{n}" for area in ("us-east", "eu-west", "ap-south", "sa-east") for n in (1, 2, 3, 4)
]
ORG = [scope_key("aws", Scope(f"acct-{a:03d}", r)) for a in range(200) for r in REGIONS]

keys = st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=60, unique=True)


def _weight(key: str, index: int) -> int:
    """Rendezvous weight as documented (64 bits of BLAKE2b of index and key): a change to
    it would move every shard's scopes, so it is pinned here independently."""
    digest = hashlib.blake2b(f"{index}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@given(keys=keys, count=st.integers(1, 40))
def test_every_key_has_exactly_one_owner_in_range(keys: list[str], count: int) -> None:
    """Each key is owned by exactly one of the shards, the one whose weight for it is the
    highest: computed here from the weights, not from ``owner``."""
    for key in keys:
        claims = [i for i in range(count) if Shard(i, count).owns("aws", Scope(key, ""))]
        assert len(claims) == 1
        scope = scope_key("aws", Scope(key, ""))
        weights = [_weight(scope, i) for i in range(count)]
        assert claims == [weights.index(max(weights))]


@given(keys=keys, count=st.integers(1, 40))
def test_adding_a_shard_moves_keys_only_to_the_new_shard(keys: list[str], count: int) -> None:
    before, after = assign(keys, count), assign(keys, count + 1)
    moved = {k for k in keys if before[k] != after[k]}
    assert all(after[k] == count for k in moved), "a key moved between old shards"


@pytest.mark.parametrize("count", [1, 2, 3, 4, 8, 16], ids=lambda n: f"{n}-to-{n + 1}")
def test_adding_a_shard_moves_about_one_in_n_plus_one_of_an_organization(count: int) -> None:
    before, after = assign(ORG, count), assign(ORG, count + 1)
    moved = sum(before[k] != after[k] for k in ORG) / len(ORG)
    expected = 1 / (count + 1)
    # 3,200 scopes: the binomial standard deviation is at most 0.9 points; allow 4 sigma.
    sigma = (expected * (1 - expected) / len(ORG)) ** 0.5
    assert abs(moved - expected) <= 4 * sigma, f"moved {moved:.3f}, expected {expected:.3f}"


@pytest.mark.parametrize("count", [2, 4, 8])
def test_shards_get_balanced_shares(count: int) -> None:
    sizes = Counter(assign(ORG, count).values())
    share = len(ORG) / count
    sigma = (share * (1 - 1 / count)) ** 0.5
    assert sorted(sizes) == list(range(count))
    assert all(abs(n - share) <= 4 * sigma for n in sizes.values()), sizes


def test_scope_keys_are_provider_neutral() -> None:
    assert scope_key("aws", Scope("ci", "us-east-1")) == "aws/ci/us-east-1"
    assert scope_key("gcp", Scope("my-project", "")) == "gcp/my-project"
    assert scope_key("kubernetes", Scope("prod-eu", "")) == "kubernetes/prod-eu"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0/1", Shard(0, 1)), ("3/4", Shard(3, 4)), (" 2 / 5 ", Shard(2, 5))],
    ids=["one", "last", "spaces"],
)
def test_parse_shard(text: str, expected: Shard) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [("4/4", "index must be 0-3"), ("1/0", "count must be"), ("2", "expected I/N"), ("a/b", "I/N")],
    ids=["index-too-big", "no-shards", "no-count", "not-numbers"],
)
def test_bad_shards_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_shard(text)


def test_shard_from_the_indexed_job_environment() -> None:
    assert shard_from_env({}) is None
    assert shard_from_env({"JOB_COMPLETION_INDEX": "2", "REAPER_SHARDS": "3"}) == Shard(2, 3)
    with pytest.raises(ConfigError, match="REAPER_SHARDS is not"):
        shard_from_env({"JOB_COMPLETION_INDEX": "2"})
    with pytest.raises(ConfigError, match="JOB_COMPLETION_INDEX is not"):
        shard_from_env({"REAPER_SHARDS": "2"})


@settings(max_examples=30)
@given(index=st.integers(0, 9), extra=st.integers(0, 5))
def test_each_shard_has_its_own_chain_and_metrics_group(index: int, extra: int) -> None:
    base = parse_settings(
        {
            "providers": {"aws": {"regions": ["us-east-1"]}},
            "audit": {
                "path": "/var/lib/reaper/audit.jsonl",
                "s3": {"bucket": "audit-bucket", "prefix": "reaper/trail"},
                "gcs": {"bucket": "audit-bucket"},
            },
        },
        "t.yaml",
    )
    shard = Shard(index, index + 1 + extra)
    mine = shard_settings(base, shard)
    assert mine.audit.path == f"/var/lib/reaper/audit.shard-{index}.jsonl"
    assert mine.audit.s3 is not None
    assert mine.audit.s3.prefix == f"reaper/trail/shard-{index}"
    assert mine.audit.gcs is not None
    assert mine.audit.gcs.prefix == f"reaper-audit/shard-{index}"
    assert mine.metrics.shard == str(index)
    assert mine.safety == base.safety
    assert mine.providers == base.providers
    other = shard_settings(base, Shard((index + 1) % shard.count, shard.count))
    if shard.count > 1:
        assert other.audit.path != mine.audit.path
        assert other.metrics.shard != mine.metrics.shard
