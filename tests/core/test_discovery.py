"""Discovery's shared parts, on reaper's own provider protocol: the tree walk both
providers list their organizations with, and the error scope every shard collects."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reaper.app import collect
from reaper.errors import ProviderError
from reaper.model import Collected, Outcome, Resource, Scope
from reaper.providers.base import ResourceKind
from reaper.providers.discovery import walk
from reaper.shards import Shard
from reaper.workers import WorkerLimits

# -- the walk -----------------------------------------------------------------------------


class Tree:
    """A forest as parent -> children, counting every ``children`` call."""

    def __init__(self, edges: dict[int, list[int]]) -> None:
        self.edges = edges
        self.asked: Counter[int] = Counter()

    def children(self, node: int) -> list[int]:
        self.asked[node] += 1
        return self.edges.get(node, [])

    def below(self, roots: Sequence[int]) -> set[int]:
        """``roots`` and every node under them."""
        found: set[int] = set()
        stack = list(roots)
        while stack:
            node = stack.pop()
            if node not in found:
                found.add(node)
                stack += self.edges.get(node, [])
        return found


@st.composite
def forests(draw: st.DrawFn) -> dict[int, list[int]]:
    """Up to 30 nodes, each but the first few under an earlier one (so a forest)."""
    size = draw(st.integers(1, 30))
    edges: dict[int, list[int]] = {}
    for node in range(1, size):
        parent = draw(st.integers(-1, node - 1))
        if parent >= 0:
            edges.setdefault(parent, []).append(node)
    return edges


@given(
    edges=forests(),
    roots=st.lists(st.integers(0, 29), max_size=8),
    excluded=st.lists(st.integers(0, 29), max_size=4),
)
def test_the_walk_asks_each_node_once_and_never_enters_an_excluded_subtree(
    edges: dict[int, list[int]], roots: list[int], excluded: list[int]
) -> None:
    tree = Tree(edges)
    walked = walk(roots, tree.children, excluded)

    left_out = tree.below(excluded)
    assert set(walked.excluded) == left_out
    assert set(walked.nodes) == tree.below(roots) - left_out
    assert all(n == 1 for n in tree.asked.values()), "a node was asked twice"
    assert set(tree.asked) == set(walked.nodes) | left_out
    assert all(walked.nodes[node] == tuple(edges.get(node, [])) for node in walked.nodes)


def test_the_walk_is_breadth_first_and_exclusion_wins() -> None:
    #   1 ── 2 ── 4 ── 6
    #   └─ 3 ── 5
    tree = Tree({1: [2, 3], 2: [4], 3: [5], 4: [6]})
    walked = walk([4, 1, 2, 1], tree.children, [2])
    assert list(walked.nodes) == [1, 3, 5]  # 4 is named, but lies below the excluded 2
    assert list(walked.excluded) == [2, 4, 6]
    assert tree.asked == Counter({1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1})


def test_a_failing_listing_fails_the_walk() -> None:
    def children(node: int) -> list[int]:
        raise ProviderError(f"cannot list {node}")

    with pytest.raises(ProviderError, match="cannot list 7"):
        walk([7], children)


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
