"""Quarantine and release of a namespace: cut it off and stop its work, keep its data.

Quarantine, in this order, each step idempotent so that a retry (the next sweep, after a
crash or a failure) finishes what an earlier attempt began:

1. ``reaper-quarantine-id`` is recorded (signed) on the namespace, once, before anything
   changes; the workload records below are bound to it.
2. The deny-all NetworkPolicy ``reaper-quarantine`` (every pod, Ingress and Egress, no
   rule) is created, or replaced if someone loosened it.
3. Each Deployment and StatefulSet gets its replicas recorded in a signed annotation (a
   conditional patch: the recorded value is the one scaled from), then is scaled to 0
   through its ``scale`` subresource. A record that verifies is never overwritten, so a
   retry does not record 0 as the original.
4. Each CronJob gets its ``suspend`` recorded and is suspended, in one conditional patch.
   A conflict (409: it changed since it was read) reads it again and tries afresh, as the
   workload records in 3 do, up to three times.
5. The isolation is read back; only when it is complete is the quarantined state written
   (keeping an earlier verified ``reaper-quarantined-at``). Otherwise the quarantine is
   reported failed, and the policy tries again on a later sweep.

reaper's keys on the namespace change as :class:`~reaper.lifecycle.SignedTags` says, each
write signed over what the quarantine has written so far. A failed quarantine returns
those tags (``Outcome.tags``), and the actuator signs the failure count on top of them.

Release restores what verifies (replicas, suspend), removes the records and the policy,
then reaper's keys on the namespace, last: a release that fails halfway leaves the
namespace quarantined, to be released again.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from reaper import lifecycle
from reaper.config import TagKeys
from reaper.errors import ProviderError
from reaper.lifecycle import SignedTags, StateSigner, quarantined_tags
from reaper.model import Action, Decision, Outcome, Resource, Result, Scope
from reaper.providers.kubernetes import api
from reaper.providers.kubernetes.clients import CONFLICT, JSON, NOT_FOUND, Cluster, KubeApiError
from reaper.providers.kubernetes.metadata import (
    ORIGINAL_REPLICAS,
    ORIGINAL_SUSPEND,
    QUARANTINE_ID,
    QUARANTINE_POLICY,
    annotations_of,
    isolation_problems,
    managed_by_reaper,
    name_of,
    owned_patch,
    policy_as_written,
    quarantine_policy,
    record_patch,
    replicas_of,
    suspended,
    tags_of,
    trusted_record,
    unrecord_patch,
)

_COUNT = re.compile(r"[0-9]{1,9}")
_CONFLICT_RETRIES = 3


def terminating(namespace: Mapping[str, Any]) -> bool:
    meta = namespace.get("metadata") or {}
    phase = (namespace.get("status") or {}).get("phase")
    return bool(meta.get("deletionTimestamp")) or phase == "Terminating"


def read_isolation(
    cluster: Cluster, scope: Scope, namespace: str, restarts: api.ListRestarts
) -> list[str]:
    """What keeps a namespace from reading back as isolated (empty: it is isolated).
    Its lists draw on ``restarts`` (the sweep's budget for the cluster)."""
    policy = api.read_network_policy(cluster, scope, namespace, QUARANTINE_POLICY)
    workloads = {r: api.list_in(cluster, scope, r, namespace, restarts) for r in api.WORKLOAD_KINDS}
    cronjobs = api.list_in(cluster, scope, "cronjobs", namespace, restarts)
    return isolation_problems(policy, workloads, cronjobs)


class Quarantine:
    """The quarantines of one call in one cluster (see the module's docstring); each
    :meth:`run` is one namespace, and runs may go on at once. Its lists draw on
    ``restarts``, the sweep's budget for the cluster."""

    def __init__(
        self,
        cluster: Cluster,
        scope: Scope,
        signer: StateSigner,
        tag_keys: TagKeys,
        restarts: api.ListRestarts,
        *,
        on_written: Callable[[Scope, JSON], None] | None = None,
    ) -> None:
        """``on_written``: told each namespace as reaper's own patch left it (its new
        resourceVersion is what a later delete is conditional on)."""
        self._cluster = cluster
        self._on_written = on_written
        self._scope = scope
        self._restarts = restarts
        self._signer = signer
        self._tag_keys = tag_keys

    def run(self, decision: Decision, now: datetime, name: str) -> Outcome:
        """Quarantine one namespace. A failed outcome carries the tags it left
        (``Outcome.tags``): the failure count is written on top of them."""
        ref, scope = decision.ref, self._scope
        raw = api.read_namespace(self._cluster, scope, name)
        if raw is None or terminating(raw):
            found = "namespace does not exist" if raw is None else "namespace is terminating"
            return Outcome(ref, Action.QUARANTINE, Result.ALREADY_GONE, found)
        current = tags_of(raw.get("metadata") or {}, self._tag_keys)
        if current is None:
            message = "the namespace's labels or annotations are unreadable"
            return Outcome(ref, Action.QUARANTINE, Result.FAILED, message)
        # Only what reaper signed counts: anything else on it is replaced, not carried over.
        trusted = decision.resource.tags if decision.verified else {}
        tags = SignedTags(self._signer, ref, trusted, current)
        try:
            return self._quarantine(decision, now, name, tags)
        except ProviderError as err:
            return _failed(decision, str(err), tags)

    def _quarantine(
        self, decision: Decision, now: datetime, name: str, tags: SignedTags
    ) -> Outcome:
        # Recorded once, signed, the mark still in place: the workload records bind it.
        quarantine_id = tags.trusted.get(QUARANTINE_ID, "")
        if not quarantine_id:
            quarantine_id = secrets.token_hex(8)
            self._write(name, tags, {QUARANTINE_ID: quarantine_id})

        policy = self._ensure_policy(name)
        scaled = sum(
            self._stop_workloads(resource, name, quarantine_id) for resource in api.WORKLOAD_KINDS
        )
        paused = self._suspend_cronjobs(name, quarantine_id)

        problems = read_isolation(self._cluster, self._scope, name, self._restarts)
        if problems:
            message = f"namespace {name} did not read back as isolated: {'; '.join(problems)}"
            return _failed(decision, message, tags)
        reason = decision.reasons[0] if decision.reasons else "policy"
        self._write(name, tags, quarantined_tags(tags.trusted, now, reason))
        parts = [f"NetworkPolicy {QUARANTINE_POLICY} {policy}"]
        parts.append(f"scaled {scaled} workload{'s' if scaled != 1 else ''} to 0")
        parts.append(f"suspended {paused} CronJob{'s' if paused != 1 else ''}")
        return Outcome(decision.ref, Action.QUARANTINE, Result.DONE, "; ".join(parts))

    def _write(self, name: str, tags: SignedTags, updates: Mapping[str, str | None]) -> None:
        """Change reaper's keys on the namespace, signed, in one merge patch; ``tags``
        follows it."""
        change = tags.change(updates)
        if change.write or change.remove:
            patch = owned_patch(change.write, change.remove)
            answer = api.patch_namespace(self._cluster, self._scope, name, patch)
            if self._on_written is not None:
                self._on_written(self._scope, answer)
        tags.removed(change)
        tags.written(change)

    def _ensure_policy(self, namespace: str) -> str:
        """The deny-all policy in place: ``created``, ``replaced`` or ``in place``.

        Created straight away (one request, the usual case); only when one exists already
        is it read: reaper's and as written, it stays; reaper's and loosened, it is
        replaced; someone else's by that name, the quarantine fails.
        """
        cluster, scope = self._cluster, self._scope
        if self._create_policy(namespace):
            return "created"
        found = api.read_network_policy(cluster, scope, namespace, QUARANTINE_POLICY)
        if found is None:  # deleted meanwhile
            return "created" if self._create_policy(namespace) else "in place"
        if not managed_by_reaper(found):
            raise ProviderError(
                f"a NetworkPolicy named {QUARANTINE_POLICY} that reaper did not create "
                f"exists in {namespace}; rename or remove it"
            )
        if policy_as_written(found):
            return "in place"
        uid = (found.get("metadata") or {}).get("uid")
        api.delete_network_policy(cluster, scope, namespace, QUARANTINE_POLICY, uid)
        self._create_policy(namespace)  # one created meanwhile: the read back judges it
        return "replaced"

    def _create_policy(self, namespace: str) -> bool:
        """Create the deny-all policy; False when one by that name exists already."""
        try:
            api.create_network_policy(self._cluster, self._scope, namespace, quarantine_policy())
        except KubeApiError as err:
            if err.status != CONFLICT:
                raise
            return False
        return True

    def _stop_workloads(self, resource: str, namespace: str, quarantine_id: str) -> int:
        """Record and scale to 0 every Deployment (StatefulSet); how many were scaled."""
        scaled = 0
        for workload in api.list_in(
            self._cluster, self._scope, resource, namespace, self._restarts
        ):
            recorded = self._recorded(resource, namespace, workload, quarantine_id)
            if recorded is None:
                continue  # gone meanwhile
            if replicas_of(recorded):
                api.scale(self._cluster, self._scope, resource, namespace, name_of(recorded), 0)
                scaled += 1
        return scaled

    def _recorded(
        self, resource: str, namespace: str, workload: JSON, quarantine_id: str
    ) -> JSON | None:
        """The workload with its replicas recorded (conditionally: the value recorded is
        the one it has); None if it went away."""
        scope, signer = self._scope, self._signer

        def record(current: JSON) -> JSON | None:
            if trusted_record(signer, scope, resource, current, quarantine_id, ORIGINAL_REPLICAS):
                return None
            replicas = str(replicas_of(current))
            return record_patch(
                signer, scope, resource, current, quarantine_id, ORIGINAL_REPLICAS, replicas
            )

        patched = self._patch_conditionally(
            resource, namespace, workload, record, "recorded its replicas"
        )
        return None if patched is None else patched[0]

    def _suspend_cronjobs(self, namespace: str, quarantine_id: str) -> int:
        """Record each CronJob's ``suspend`` and suspend it, in one conditional patch (the
        value recorded is the one it had); how many were suspended now."""
        scope, signer, suspended_now = self._scope, self._signer, 0

        def suspend(cronjob: JSON) -> JSON | None:
            body: JSON = {"metadata": {"annotations": {}}}
            if not trusted_record(
                signer, scope, "cronjobs", cronjob, quarantine_id, ORIGINAL_SUSPEND
            ):
                original = "true" if suspended(cronjob) else "false"
                body = record_patch(
                    signer, scope, "cronjobs", cronjob, quarantine_id, ORIGINAL_SUSPEND, original
                )
            if not suspended(cronjob):
                body["spec"] = {"suspend": True}
            if not body["metadata"]["annotations"] and "spec" not in body:
                return None
            return body

        for cronjob in api.list_in(self._cluster, scope, "cronjobs", namespace, self._restarts):
            patched = self._patch_conditionally(
                "cronjobs", namespace, cronjob, suspend, "suspended it"
            )
            if patched is not None and patched[1] is not None:
                suspended_now += "spec" in patched[1]
        return suspended_now

    def _patch_conditionally(
        self,
        resource: str,
        namespace: str,
        obj: JSON,
        change: Callable[[JSON], JSON | None],
        doing: str,
    ) -> tuple[JSON, JSON | None] | None:
        """Patch a Deployment, StatefulSet or CronJob with ``change(obj)``, conditional on
        the resourceVersion the body was worked out from; on 409 Conflict it is read again
        and the change worked out afresh, up to :data:`_CONFLICT_RETRIES` times.

        Returns the object as it now is and the body sent (None: ``change`` found nothing
        to do), or None when it went away. Raises ProviderError when it kept changing.
        """
        for _ in range(_CONFLICT_RETRIES):
            body = change(obj)
            if body is None:
                return obj, None
            body["metadata"]["resourceVersion"] = (obj.get("metadata") or {}).get("resourceVersion")
            name = name_of(obj)
            try:
                answer = api.patch_object(
                    self._cluster, self._scope, resource, namespace, name, body
                )
            except KubeApiError as err:
                if err.status == NOT_FOUND:
                    return None
                if err.status != CONFLICT:
                    raise
            else:
                return answer, body
            fresh = self._reread(resource, namespace, name)
            if fresh is None:
                return None
            obj = fresh
        raise ProviderError(
            f"{resource} {namespace}/{name_of(obj)} kept changing while reaper {doing}"
        )

    def _reread(self, resource: str, namespace: str, name: str) -> JSON | None:
        """One object as it is now; None if it is gone. CronJobs are found in their list:
        reaper may list and patch them, not get them (least privilege)."""
        if resource != "cronjobs":
            return api.read_workload(self._cluster, self._scope, resource, namespace, name)
        listed = api.list_in(self._cluster, self._scope, resource, namespace, self._restarts)
        return next((c for c in listed if name_of(c) == name), None)


def _failed(decision: Decision, message: str, tags: SignedTags) -> Outcome:
    """A failed quarantine, with the tags it left for the failure count to build on."""
    return Outcome(decision.ref, Action.QUARANTINE, Result.FAILED, message, tags.vouched)


def release_namespace(
    cluster: Cluster,
    scope: Scope,
    resource: Resource,
    signer: StateSigner,
    tag_keys: TagKeys,
    restarts: api.ListRestarts,
) -> Outcome:
    """Restore what reaper recorded and signed, remove the policy, then reaper's keys."""
    ref, name = resource.ref, resource.name
    try:
        raw = api.read_namespace(cluster, scope, name)
        if raw is None or terminating(raw):
            return Outcome(ref, Action.RELEASE, Result.ALREADY_GONE, "not found")
        tags = tags_of(raw.get("metadata") or {}, tag_keys) or {}
        if not signer.verify(ref, tags):
            return Outcome(
                ref, Action.RELEASE, Result.FAILED, "refused: reaper's keys on it do not verify"
            )
        quarantine_id = tags.get(QUARANTINE_ID, "")
        restored, ignored = 0, []
        for kind in api.WORKLOAD_KINDS:
            for workload in api.list_in(cluster, scope, kind, name, restarts):
                value = trusted_record(
                    signer, scope, kind, workload, quarantine_id, ORIGINAL_REPLICAS
                )
                if value is None or not _COUNT.fullmatch(value):
                    if ORIGINAL_REPLICAS in annotations_of(workload):
                        ignored.append(f"{kind.removesuffix('s')} {name_of(workload)}")
                    continue
                if replicas_of(workload) != int(value):
                    api.scale(cluster, scope, kind, name, name_of(workload), int(value))
                api.patch_object(
                    cluster, scope, kind, name, name_of(workload), unrecord_patch(workload, signer)
                )
                restored += 1
        resumed = 0
        for cronjob in api.list_in(cluster, scope, "cronjobs", name, restarts):
            value = trusted_record(
                signer, scope, "cronjobs", cronjob, quarantine_id, ORIGINAL_SUSPEND
            )
            if value not in ("true", "false"):
                if ORIGINAL_SUSPEND in annotations_of(cronjob):
                    ignored.append(f"cronjob {name_of(cronjob)}")
                continue
            body = unrecord_patch(cronjob, signer)
            body["spec"] = {"suspend": value == "true"}
            api.patch_object(cluster, scope, "cronjobs", name, name_of(cronjob), body)
            resumed += value == "false"
        policy = api.read_network_policy(cluster, scope, name, QUARANTINE_POLICY)
        removed = False
        if policy is not None and managed_by_reaper(policy):
            uid = (policy.get("metadata") or {}).get("uid")
            removed = api.delete_network_policy(cluster, scope, name, QUARANTINE_POLICY, uid)
        keys = [*signer.owned(tags), lifecycle.SIGNATURE]
        api.patch_namespace(cluster, scope, name, owned_patch({}, [k for k in keys if k in tags]))
    except ProviderError as err:
        return Outcome(ref, Action.RELEASE, Result.FAILED, str(err))
    parts = [f"restored {restored} workload{'s' if restored != 1 else ''}"]
    parts.append(f"resumed {resumed} CronJob{'s' if resumed != 1 else ''}")
    if removed:
        parts.append(f"NetworkPolicy {QUARANTINE_POLICY} removed")
    if ignored:
        parts.append(
            "not restored, their records are not signed by reaper: " + ", ".join(sorted(ignored))
        )
    return Outcome(ref, Action.RELEASE, Result.DONE, "released; " + "; ".join(parts))
