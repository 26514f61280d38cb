"""Discovery's shared parts, on reaper's own provider protocol: the error scope of a failed
listing, which every shard collects."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from reaper.app import collect
from reaper.errors import ProviderError
from reaper.model import Collected, Outcome, Resource, Scope
from reaper.providers.base import ResourceKind
from reaper.shards import Shard
from reaper.workers import WorkerLimits

# -- the error scope and shards -------------------------------------------------------------

ERROR_SCOPE = Scope("aws-organization", "")


class Discovering(ResourceKind):
    """A kind whose organization listing failed: its error scope fails every collect."""

    provider = "aws"
    kind = "discovering"
    permissions = ()
    delete_order = 50

    def __init__(self, scopes: Sequence[Scope]) -> None:
        self._scopes = [*scopes, ERROR_SCOPE]
        self.collected: list[Scope] = []

    def scopes(self) -> Sequence[Scope]:
        return self._scopes

    def is_shared(self, scope: Scope) -> bool:
        return scope == ERROR_SCOPE

    def collect(self, scope: Scope) -> Collected:
        self.collected.append(scope)
        if scope == ERROR_SCOPE:
            raise ProviderError("organizations DescribeOrganization failed")
        return Collected(resources=(), skipped=0)

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        return []


@pytest.mark.parametrize("count", [2, 3, 5], ids=lambda n: f"{n}-shards")
def test_every_shard_collects_the_error_scope_and_only_its_share_of_the_rest(
    count: int,
) -> None:
    scopes = [Scope(f"{100000000000 + n}", "us-east-1") for n in range(12)]
    swept: list[Scope] = []
    for index in range(count):
        kind = Discovering(scopes)
        collection = collect([kind], WorkerLimits.uniform(4), shard=Shard(index, count))
        assert [(e.scope, e.message) for e in collection.errors] == [
            (ERROR_SCOPE, "organizations DescribeOrganization failed")
        ]
        assert ERROR_SCOPE in kind.collected
        mine = [s for s in kind.collected if s != ERROR_SCOPE]
        assert all(Shard(index, count).owns("aws", s) for s in mine)
        swept += mine
    assert sorted(swept) == sorted(scopes)
