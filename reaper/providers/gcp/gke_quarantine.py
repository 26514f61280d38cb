"""Quarantine and release of GKE clusters: node pools to zero, optionally the endpoint shut.

Per cluster, one step after another (GKE refuses a second operation on a cluster while
one runs), clusters side by side:

1. unless reaper's signed labels hold them, record each node pool's size and autoscaling
   (and, with ``restrict_public_endpoint`` and a public endpoint open to the world, its
   master authorized networks as they are: on or off, every CIDR block with its name,
   ``gcpPublicCidrsAccessEnabled``) as labels on the cluster, before anything changes; a
   record too long for its labels refuses the quarantine, rather than lose what release
   must restore;
2. turn autoscaling off and set every pool's size to 0, then, if asked, turn master
   authorized networks on with no network in them and Google Cloud's public addresses
   not let in, waiting for each operation;
3. read the cluster back (its pools' instance groups for their size) and only if all of it
   holds write the ``quarantined`` state.

A cluster with an operation running (an auto-upgrade) is ``skipped: in progress``, not
failed: a later sweep quarantines it. A failed quarantine's outcome carries the labels it
left (``Outcome.tags``), which the actuator writes the failure count on top of. Release
restores what was recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from google.cloud import container_v1

from reaper.config import GcpProject
from reaper.errors import ProviderError
from reaper.lifecycle import SignedTags, StateSigner, quarantined_tags
from reaper.model import WORLD, Action, Decision, Outcome, Resource, ResourceRef, Result
from reaper.providers.gcp.clients import message_of
from reaper.providers.gcp.gke_api import ClusterApi, busy, scaling_of
from reaper.providers.gcp.labels import LabelChange, Labels, without_owned, write_owned
from reaper.providers.gcp.operations import Pending, wait_gke
from reaper.providers.gcp.records import (
    CLOSED,
    OFF,
    AuthorizedNetworks,
    PoolOriginal,
    RecordTooLong,
    pool_labels,
    read_pools,
)


class _Busy(ProviderError):
    """Another operation runs on the cluster."""


@dataclass(frozen=True)
class Isolation:
    """What a cluster's quarantine reads back as."""

    pools_at_zero: bool
    autoscaling_off: bool
    endpoint_closed: bool

    @property
    def complete(self) -> bool:
        return self.pools_at_zero and self.autoscaling_off and self.endpoint_closed


def endpoint_public(raw: container_v1.Cluster) -> bool:
    """The control plane has a public endpoint."""
    private = raw.private_cluster_config.enable_private_endpoint
    return bool(raw.endpoint) and not private


def authorized_networks(raw: container_v1.Cluster) -> AuthorizedNetworks:
    """A cluster's master authorized networks as read. Pure."""
    config = raw.master_authorized_networks_config
    gcp = (
        config.gcp_public_cidrs_access_enabled
        if "gcp_public_cidrs_access_enabled" in config
        else None
    )
    blocks = tuple((b.cidr_block, b.display_name) for b in config.cidr_blocks)
    return AuthorizedNetworks(bool(config.enabled), blocks if config.enabled else (), gcp)


def open_to_world(raw: container_v1.Cluster) -> bool:
    """A public endpoint any address may reach: master authorized networks off, or with
    ``0.0.0.0/0`` or ``::/0`` among them. Pure."""
    found = authorized_networks(raw)
    return endpoint_public(raw) and (
        not found.enabled or any(cidr in WORLD for cidr, _ in found.blocks)
    )


def to_close(raw: container_v1.Cluster) -> bool:
    """What ``restrict_public_endpoint`` closes: a public endpoint open to the world, or
    to every Google Cloud public address (``gcpPublicCidrsAccessEnabled``). Pure."""
    return open_to_world(raw) or (
        endpoint_public(raw) and bool(authorized_networks(raw).gcp_public_cidrs)
    )


def authorized_networks_closed(raw: container_v1.Cluster) -> bool:
    """Master authorized networks on, with no network in them (so no ``0.0.0.0/0``) and
    Google Cloud's public addresses not let in. Pure."""
    found = authorized_networks(raw)
    return found.enabled and not found.blocks and not found.gcp_public_cidrs


def isolation(
    api: ClusterApi, project: GcpProject, raw: container_v1.Cluster, labels: Mapping[str, str]
) -> Isolation:
    """Read what quarantine should have made of a cluster (instance group sizes too)."""
    return Isolation(
        pools_at_zero=all(api.pool_size(project, p) == 0 for p in raw.node_pools),
        autoscaling_off=not any(p.autoscaling.enabled for p in raw.node_pools),
        endpoint_closed=AuthorizedNetworks.read(labels) is None or authorized_networks_closed(raw),
    )


def quarantine_cluster(
    api: ClusterApi,
    signer: StateSigner,
    project: GcpProject,
    decision: Decision,
    now: datetime,
    restrict_public_endpoint: bool,
) -> Outcome:
    ref = decision.ref
    tags: SignedTags | None = None

    def outcome(result: Result, message: str) -> Outcome:
        left = tags.vouched if tags is not None else None
        return Outcome(ref, Action.QUARANTINE, result, message, left)

    try:
        raw = api.get(project, ref.scope.region, ref.id)
        if raw is None:
            return outcome(Result.ALREADY_GONE, "cluster does not exist")
        # Only what reaper signed counts: originals someone else wrote are not kept.
        trusted = decision.resource.tags if decision.verified else {}
        tags = SignedTags(signer, ref, trusted, dict(raw.resource_labels))
        done = _quarantine(api, project, decision, raw, tags, now, restrict_public_endpoint)
    except _Busy as err:
        return outcome(Result.SKIPPED, f"in progress: {err}; a later sweep quarantines it")
    except ProviderError as err:
        return outcome(Result.FAILED, str(err))
    if done is None:
        return outcome(Result.ALREADY_GONE, "cluster does not exist")
    return outcome(Result.DONE, done)


def _quarantine(
    api: ClusterApi,
    project: GcpProject,
    decision: Decision,
    raw: container_v1.Cluster,
    tags: SignedTags,
    now: datetime,
    restrict_public_endpoint: bool,
) -> str | None:
    """Record, isolate, read back, record the state; what was done, or None if it is gone.
    ``tags`` follows every label write."""
    ref = decision.ref
    location, name = ref.scope.region, ref.id
    updates: dict[str, str | None] = {}
    sizes: dict[str, int] = {}
    if read_pools(tags.trusted) is None:
        originals = []
        for pool in raw.node_pools:
            sizes[pool.name] = api.pool_size(project, pool)
            originals.append(PoolOriginal(pool.name, sizes[pool.name], scaling_of(pool)))
        try:
            updates.update(pool_labels(originals))
        except RecordTooLong as err:
            raise ProviderError(
                f"its node pools do not fit in reaper's labels ({err}); not quarantined"
            ) from None
    recorded = AuthorizedNetworks.read(tags.trusted)
    close = restrict_public_endpoint and (recorded is not None or to_close(raw))
    if close and recorded is None:
        try:
            updates.update(authorized_networks(raw).labels())
        except RecordTooLong as err:
            raise ProviderError(
                f"its master authorized networks do not fit in reaper's labels ({err}), so "
                "release could not restore them; not quarantined (the endpoint stays open)"
            ) from None
    if updates:
        known = (dict(raw.resource_labels), raw.label_fingerprint)
        if _write(api, project, ref, tags, updates, known) is None:
            return None

    for pool in raw.node_pools:
        if pool.autoscaling.enabled:
            _run(
                api,
                project,
                ref,
                f"turning off autoscaling of {pool.name}",
                partial(api.set_autoscaling, project, location, name, pool.name, None),
            )
        size = sizes.get(pool.name)
        if size is None:
            size = api.pool_size(project, pool)
        if size:
            _run(
                api,
                project,
                ref,
                f"scaling {pool.name} to zero",
                partial(api.set_size, project, location, name, pool.name, 0),
            )
    if close and not authorized_networks_closed(raw):
        _run(
            api,
            project,
            ref,
            "closing the endpoint",
            partial(api.set_authorized_networks, project, location, name, CLOSED),
        )

    after = api.get(project, location, name)
    if after is None:
        return None
    read = isolation(api, project, after, tags.trusted)
    if not read.complete:
        missing = [
            what
            for what, ok in (
                ("node pools at zero", read.pools_at_zero),
                ("autoscaling off", read.autoscaling_off),
                ("endpoint closed", read.endpoint_closed),
            )
            if not ok
        ]
        raise ProviderError(f"isolation did not read back: not {', '.join(missing)}")
    reason = decision.reasons[0] if decision.reasons else "policy"
    # A quarantine again keeps its quarantine time: its quarantine TTL runs on.
    state = quarantined_tags(tags.trusted, now, reason)
    known = (dict(after.resource_labels), after.label_fingerprint)
    if _write(api, project, ref, tags, state, known) is None:
        return None
    message = f"scaled {len(after.node_pools)} node pool(s) to zero, autoscaling off"
    return message + ("; endpoint closed" if close else "")


def _write(
    api: ClusterApi,
    project: GcpProject,
    ref: ResourceRef,
    tags: SignedTags,
    updates: Mapping[str, str | None],
    known: tuple[Mapping[str, str], str],
) -> Labels | None:
    """Change reaper's own labels on the cluster, signed; ``tags`` follows the write. A
    refusal while another operation runs is ``_Busy``."""

    def relabel(change: LabelChange) -> Labels | None:
        return api.relabel(project, ref, change, known)

    try:
        return write_owned(relabel, tags, updates)
    except ProviderError as err:
        if busy(err):
            raise _Busy(message_of(err)) from err
        raise


def _run(
    api: ClusterApi,
    project: GcpProject,
    ref: ResourceRef,
    doing: str,
    start: partial[container_v1.Operation],
) -> None:
    """Start one operation and wait for it; a refusal while another runs is ``_Busy``."""
    try:
        op = start()
    except ProviderError as err:
        if busy(err):
            raise _Busy(message_of(err)) from err
        raise
    pending = Pending(ref, op.name, op.location or ref.scope.region)
    finished = wait_gke(api.clients, project, [pending], str(ref.scope))[ref]
    if not finished.ok:
        raise ProviderError(f"{doing} failed: {finished.error or 'still running'}")


def release_cluster(
    api: ClusterApi, signer: StateSigner, project: GcpProject, resource: Resource
) -> Outcome:
    """Restore the recorded sizes, autoscaling and endpoint; remove reaper's labels."""
    ref = resource.ref
    location, name = ref.scope.region, ref.id

    def outcome(result: Result, message: str) -> Outcome:
        return Outcome(ref, Action.RELEASE, result, message)

    try:
        raw = api.get(project, location, name)
        if raw is None:
            return outcome(Result.ALREADY_GONE, "cluster does not exist")
        pools = {p.name: p for p in read_pools(resource.tags) or []}
        present = {p.name for p in raw.node_pools}
        restored = []
        for original in sorted(pools.values()):
            if original.name not in present:
                continue
            _run(
                api,
                project,
                ref,
                f"resizing {original.name}",
                partial(api.set_size, project, location, name, original.name, original.nodes),
            )
            if original.autoscaling is not None:
                _run(
                    api,
                    project,
                    ref,
                    f"autoscaling {original.name}",
                    partial(
                        api.set_autoscaling,
                        project,
                        location,
                        name,
                        original.name,
                        original.autoscaling,
                    ),
                )
            restored.append(f"{original.name}={original.nodes}")
        endpoint = AuthorizedNetworks.read(resource.tags)
        if endpoint is not None:
            _run(
                api,
                project,
                ref,
                "restoring the endpoint's authorized networks",
                partial(api.set_authorized_networks, project, location, name, endpoint),
            )
            restored.append(
                "endpoint reopened"
                if endpoint == OFF
                else "endpoint's authorized networks restored"
            )
        labels = api.relabel(project, ref, partial(without_owned, signer))
    except _Busy as err:
        return outcome(Result.FAILED, f"in progress: {err}; release it again later")
    except ProviderError as err:
        return outcome(Result.FAILED, str(err))
    if labels is None:
        return outcome(Result.ALREADY_GONE, "cluster does not exist")
    return outcome(Result.DONE, f"released: {', '.join(restored) or 'labels cleared'}")
