"""Deleting EKS clusters in dependency order: node groups and Fargate profiles, then the
cluster, all clusters of one call advancing together in rounds within a bounded wait.

A cluster whose dependants are still deleting, or whose DeleteCluster answers ResourceInUse,
comes out ``skipped: in progress``; a later sweep finishes it. A dependant carrying the
protect tag keeps its cluster: nothing of it is deleted, and the cluster's delete fails
(counted on the cluster, so it backs off and is escalated for a person to decide).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reaper.config import TagKeys
from reaper.errors import ProviderError
from reaper.model import Action, Outcome, Resource, ResourceRef, Result
from reaper.policy import protects
from reaper.providers.aws.clients import error_code, translate_errors
from reaper.providers.aws.eks_api import DELETING, IN_USE, NOT_FOUND, EksApi, count_of


@dataclass
class Teardown:
    """One cluster's delete, carried across the rounds of one ``delete`` call."""

    ref: ResourceRef
    outcome: Outcome | None = None
    asked: set[tuple[str, str]] = field(default_factory=set)
    """Dependants whose deletion EKS accepted (or that were gone) in this call."""
    nodegroups: tuple[str, ...] = ()
    """Node groups still present at the last look."""
    profiles: tuple[str, ...] = ()
    """Fargate profiles still present at the last look."""
    busy: str = ""
    """Why DeleteCluster was refused, when it was."""
    rounds: int = 0
    """Rounds of this call that looked at the cluster so far."""
    checked: set[tuple[str, str]] = field(default_factory=set)
    """Dependants whose tags were read and found not protected."""

    def finish(self, result: Result, message: str) -> None:
        self.outcome = Outcome(self.ref, Action.DELETE, result, message)

    def in_progress(self) -> Outcome:
        """The outcome of a cluster whose delete the wait did not see through."""
        left = [
            count_of(len(self.nodegroups), "node group"),
            count_of(len(self.profiles), "Fargate profile"),
        ]
        waiting = ", ".join(part for part in left if part)
        message = f"{waiting} still deleting" if waiting else f"cluster busy: {self.busy}"
        return Outcome(self.ref, Action.DELETE, Result.SKIPPED, f"in progress: {message}")


@dataclass(frozen=True)
class Wait:
    """How long one delete call waits for dependants, and how it sleeps and tells time."""

    seconds: float
    poll_seconds: float
    sleep: Callable[[float], None]
    monotonic: Callable[[], float]
    keys: TagKeys = field(default_factory=TagKeys)
    """The configured tag keys: a dependant with the protect tag keeps its cluster."""


def delete_clusters(
    api: EksApi, eks: Any, resources: Sequence[Resource], wait: Wait
) -> list[Outcome]:
    """Delete node groups and Fargate profiles, then each cluster once they are gone.

    All clusters advance together in rounds (their API calls in a small thread pool),
    so one slow cluster does not hold up the others; the whole call waits at most
    ``wait.seconds`` for dependants.
    """
    teardowns = [Teardown(r.ref) for r in resources]
    deadline = wait.monotonic() + wait.seconds
    pending = teardowns
    while pending:
        api.map(lambda t: _advance(api, eks, t, wait.keys), pending)
        pending = [t for t in pending if t.outcome is None]
        remaining = deadline - wait.monotonic()
        if not pending or remaining <= 0:
            break
        wait.sleep(min(wait.poll_seconds, remaining))
    return [t.outcome or t.in_progress() for t in teardowns]


def _advance(api: EksApi, eks: Any, teardown: Teardown, keys: TagKeys) -> None:
    """One round of one cluster's delete: ask for what is left to go, or go."""
    name, scope = teardown.ref.id, teardown.ref.scope
    teardown.rounds += 1
    try:
        # The sweep has just read the cluster (collect, or get for a pinned plan), and
        # a cluster gone since answers ResourceNotFound to ListNodegroups; only later
        # rounds, after a wait, look at its state again.
        if teardown.rounds > 1:
            raw = api.describe_cluster(eks, scope, name)
            if raw is None:
                teardown.finish(Result.ALREADY_GONE, "cluster does not exist")
                return
            if raw.get("status") == DELETING:
                teardown.finish(Result.ALREADY_GONE, "cluster already deleting")
                return
        nodegroups, profiles = api.dependants(eks, scope, name)
        teardown.nodegroups, teardown.profiles = tuple(nodegroups), tuple(profiles)
        protected = _protected_dependant(api, eks, teardown, nodegroups, profiles, keys)
        if protected:
            teardown.finish(
                Result.FAILED,
                f"not deleted: its {protected} carries the protect tag ({keys.protect}); "
                "a protected node group or Fargate profile keeps its cluster",
            )
            return
        accepted = _delete_dependants(eks, teardown, nodegroups, profiles)
        if (nodegroups or profiles) and not accepted:
            return
        # Either nothing depends on the cluster, or EKS just took deletions that can be
        # instant: DeleteCluster itself says whether they went (ResourceInUse if not),
        # one request where listing again would take two.
        try:
            with translate_errors(f"eks DeleteCluster {name} in {scope}"):
                answer = eks.delete_cluster(name=name)
        except ProviderError as err:
            if error_code(err) != IN_USE:
                raise
            # Still updating, or dependants EKS has not let go of yet: try next round.
            teardown.busy = str(err)
            return
        asked = [kind for kind, _ in teardown.asked]
        first = ", ".join(
            part
            for part in (
                count_of(asked.count("nodegroup"), "node group"),
                count_of(asked.count("fargate"), "Fargate profile"),
            )
            if part
        )
        state = answer.get("cluster", {}).get("status", DELETING)
        teardown.finish(
            Result.DONE, f"state {state}" + (f"; deleted first: {first}" if first else "")
        )
    except ProviderError as err:
        if error_code(err) == NOT_FOUND:
            teardown.finish(Result.ALREADY_GONE, "cluster does not exist")
        else:
            teardown.finish(Result.FAILED, str(err))


def _protected_dependant(
    api: EksApi,
    eks: Any,
    teardown: Teardown,
    nodegroups: list[str],
    profiles: list[str],
    keys: TagKeys,
) -> str:
    """The first dependant that carries the protect tag (``node group ng-a``), or "".

    Each dependant's tags are read once per delete call, before any of them is deleted.
    """
    name, scope = teardown.ref.id, teardown.ref.scope
    wanted = [("nodegroup", n) for n in nodegroups] + [("fargate", p) for p in profiles]
    for kind, dependant in wanted:
        if (kind, dependant) in teardown.checked:
            continue
        tags = api.dependant_tags(eks, scope, name, kind, dependant)
        if tags is not None and protects(tags, keys):
            return f"{'node group' if kind == 'nodegroup' else 'Fargate profile'} {dependant}"
        teardown.checked.add((kind, dependant))
    return ""


def _delete_dependants(
    eks: Any, teardown: Teardown, nodegroups: list[str], profiles: list[str]
) -> bool:
    """Ask EKS to delete dependants not asked for yet; True if it took any request.

    ResourceInUseException means "not now" (already deleting, updating, or another
    Fargate profile of the cluster deleting: EKS deletes those one at a time); such a
    dependant is asked again next round.
    """
    name, scope = teardown.ref.id, teardown.ref.scope
    wanted = [("nodegroup", n) for n in nodegroups] + [("fargate", p) for p in profiles]
    accepted = False
    for kind, dependant in wanted:
        if (kind, dependant) in teardown.asked:
            continue
        operation = "DeleteNodegroup" if kind == "nodegroup" else "DeleteFargateProfile"
        try:
            with translate_errors(f"eks {operation} {name}/{dependant} in {scope}"):
                if kind == "nodegroup":
                    eks.delete_nodegroup(clusterName=name, nodegroupName=dependant)
                else:
                    eks.delete_fargate_profile(clusterName=name, fargateProfileName=dependant)
        except ProviderError as err:
            code = error_code(err)
            if code == IN_USE:
                continue
            if code != NOT_FOUND:
                raise
        teardown.asked.add((kind, dependant))
        accepted = True
    return accepted
