"""Pure: what reaper reads from and writes to Kubernetes object metadata.

**Where reaper's state lives on a namespace.** The core sees one ``tags`` mapping: the
namespace's labels and annotations together, an annotation winning over a label of the
same key for the ttl, expiry and owner keys. People may set those and the protect key either
way (RFC 3339 cannot be a label value; epoch seconds can). The protect key is read in every
spelling the policy accepts, from both, and protects when any of them does: a label
``reaper-protect=true`` is not outvoted by an annotation ``reaper-protect=false``. The
pipeline key is always the label, which is what the collector selects on server-side.
Every key reaper owns (``reaper-state``, the marks, failure counts, recorded originals,
``reaper-signature``) lives in the **annotations** only, which can hold any value, so one
place keeps the signature next to everything it covers: a label of such a key is not
reaper's state and is not read (a protect key in any spelling is never reaper's). A patch
that writes or removes one of reaper's keys removes a label of the same key too.

**Workload records.** Quarantine records each Deployment's and StatefulSet's replicas, and
each CronJob's ``suspend``, in an annotation on the object itself. The namespace's signature
does not cover them, so each carries its own ``reaper-signature``: an HMAC (the same state
key) over the object's identity (cluster, namespace, kind, name, **uid**) and the namespace's
``reaper-quarantine-id``, a value recorded on the namespace before anything changes. A
record someone else wrote, one copied from another object, or one left from an earlier
quarantine does not verify, and release does not restore it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from reaper import lifecycle
from reaper.config import TagKeys
from reaper.lifecycle import StateSigner
from reaper.model import ResourceRef, Scope
from reaper.policy import protect_key, protects

JSON = dict[str, Any]

QUARANTINE_ID = "reaper-quarantine-id"
"""On the namespace: the quarantine the workload records belong to (their signatures bind it)."""
ORIGINAL_REPLICAS = "reaper-original-replicas"
"""On a Deployment or StatefulSet: its replicas before the quarantine."""
ORIGINAL_SUSPEND = "reaper-original-suspend"
"""On a CronJob: its ``suspend`` before the quarantine (``true`` / ``false``)."""

QUARANTINE_POLICY = "reaper-quarantine"
"""The deny-all NetworkPolicy of a quarantined namespace."""
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "reaper"
POLICY_TYPES = ("Ingress", "Egress")


def namespace_ref(scope: Scope, name: str) -> ResourceRef:
    """A namespace's identity: its id is ``<cluster>/<name>``, as ``reaper release`` takes it."""
    return ResourceRef("kubernetes", "namespace", scope, f"{scope.account}/{name}")


def tags_of(meta: Mapping[str, Any], tag_keys: TagKeys) -> dict[str, str] | None:
    """Labels and annotations as one mapping; None when unreadable. Pure; read by the
    collector (:func:`~.namespaces.read_namespace_item`) and by quarantine and release.

    * The protect key, in any spelling :func:`~reaper.policy.protect_key` accepts
      (``reaper-Protect``, ``reaper_protect``), as a label or an annotation: one entry under
      the configured key, whose value protects when any of them does (when in doubt, keep;
      a label that protects is never outvoted by an annotation that does not). None of
      them is ever left out, whatever its prefix, and none is reaper's to remove.
    * The pipeline key comes from the label alone: it is what the list selected on.
    * Every other key: the annotation wins over a label of the same key (ttl, expiry and
      owner can be either). Labels with keys reaper owns (``reaper-`` and not one of
      ``tag_keys``) are left out: reaper's own keys are read from the annotations only.
    """
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if not _strings(labels) or not _strings(annotations):
        return None
    user_keys = tag_keys.model_dump().values()
    tags = {
        k: v for k, v in labels.items() if not _owned(k, user_keys) and not protect_key(k, tag_keys)
    }
    tags.update((k, v) for k, v in annotations.items() if not protect_key(k, tag_keys))
    protect = _protect_value(labels, annotations, tag_keys)
    if protect is not None:
        tags[tag_keys.protect] = protect
    if tag_keys.pipeline in labels:
        tags[tag_keys.pipeline] = labels[tag_keys.pipeline]
    else:
        tags.pop(tag_keys.pipeline, None)
    return tags


def _protect_value(
    labels: Mapping[str, str], annotations: Mapping[str, str], tag_keys: TagKeys
) -> str | None:
    """The value of the protect key as :func:`tags_of` reports it: the first one that
    protects (annotations first, then labels), else the annotation's, else the label's;
    None when neither carries it in any spelling. Pure."""
    found = [
        value
        for source in (annotations, labels)
        for key, value in sorted(source.items())
        if protect_key(key, tag_keys)
    ]
    if not found:
        return None
    return next((v for v in found if protects({tag_keys.protect: v}, tag_keys)), found[0])


def _owned(key: str, user_keys: Collection[str]) -> bool:
    """Whether reaper owns the key (as :meth:`~reaper.lifecycle.StateSigner.owned` says,
    the signature included)."""
    return key.startswith(lifecycle.OWNED_PREFIX) and key not in user_keys


def _strings(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def owned_patch(write: Mapping[str, str], remove: Collection[str]) -> JSON:
    """The merge patch that writes ``write`` as annotations and removes ``remove``. Pure.

    Every key it names is also removed from the labels (null on a missing key changes
    nothing), so no label is left looking like reaper's state.
    """
    annotations: dict[str, str | None] = dict.fromkeys(remove)
    annotations.update(write)
    return {"metadata": {"annotations": annotations, "labels": dict.fromkeys(annotations)}}


# What people can act on first: a finalizer nobody removes, an API that does not answer.
_CONDITION_ORDER = (
    "NamespaceFinalizersRemaining",
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
    "NamespaceDeletionContentFailure",
    "NamespaceContentRemaining",
)


def conditions_of(namespace: Mapping[str, Any]) -> tuple[str, ...]:
    """The failing deletion conditions of a namespace, ``Type: message``, the most telling
    first (finalizers remaining, discovery failures). Pure."""
    status = namespace.get("status") or {}
    found = []
    for condition in status.get("conditions") or []:
        if not isinstance(condition, dict) or condition.get("status") != "True":
            continue
        kind = str(condition.get("type") or "?")
        message = str(condition.get("message") or condition.get("reason") or "")
        found.append((kind, f"{kind}: {message}" if message else kind))

    def rank(item: tuple[str, str]) -> int:
        kind = item[0]
        return _CONDITION_ORDER.index(kind) if kind in _CONDITION_ORDER else len(_CONDITION_ORDER)

    return tuple(text for _, text in sorted(found, key=rank))


_OPEN = ("0.0.0.0/0", "::/0")


def exposures_of(services: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """Services reachable from outside the cluster, whatever their ports. Pure.

    A LoadBalancer without ``loadBalancerSourceRanges`` (or with one that admits every
    address), and any NodePort service: reachable on every node's address.
    """
    found = []
    for service in services:
        name = str((service.get("metadata") or {}).get("name") or "?")
        spec = service.get("spec") or {}
        kind = spec.get("type")
        ports = _ports(spec.get("ports") or [], node_ports=kind == "NodePort")
        if kind == "LoadBalancer":
            ranges = spec.get("loadBalancerSourceRanges") or []
            if not ranges:
                found.append(
                    f"service {name}: LoadBalancer without loadBalancerSourceRanges ({ports})"
                )
            elif any(r in _OPEN for r in ranges):
                found.append(f"service {name}: LoadBalancer open to {', '.join(ranges)} ({ports})")
        elif kind == "NodePort":
            found.append(f"service {name}: NodePort ({ports})")
    return tuple(sorted(found))


def _ports(ports: Sequence[Any], node_ports: bool) -> str:
    shown = []
    for port in ports:
        if not isinstance(port, dict):
            continue
        protocol = port.get("protocol") or "TCP"
        node = port.get("nodePort")
        shown.append(
            f"{port.get('port')}:{node}/{protocol}"
            if node_ports and node
            else f"{port.get('port')}/{protocol}"
        )
    return "ports " + ", ".join(shown) if shown else "no ports"


# -- quarantine ----------------------------------------------------------------------------


def quarantine_policy() -> JSON:
    """The deny-all NetworkPolicy: every pod, ingress and egress, no rule allowing anything."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": QUARANTINE_POLICY, "labels": {MANAGED_BY: MANAGER}},
        "spec": {"podSelector": {}, "policyTypes": list(POLICY_TYPES)},
    }


def managed_by_reaper(policy: Mapping[str, Any]) -> bool:
    labels = (policy.get("metadata") or {}).get("labels") or {}
    return isinstance(labels, dict) and labels.get(MANAGED_BY) == MANAGER


def policy_as_written(policy: Mapping[str, Any] | None) -> bool:
    """Whether a NetworkPolicy denies all ingress and egress of every pod, as reaper wrote it."""
    if policy is None:
        return False
    spec = policy.get("spec") or {}
    return (
        spec.get("podSelector") in ({}, None)
        and sorted(spec.get("policyTypes") or []) == sorted(POLICY_TYPES)
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def replicas_of(workload: Mapping[str, Any]) -> int:
    """``spec.replicas`` (the API server defaults it to 1)."""
    value = (workload.get("spec") or {}).get("replicas", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def suspended(cronjob: Mapping[str, Any]) -> bool:
    return (cronjob.get("spec") or {}).get("suspend") is True


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def isolation_problems(
    policy: Mapping[str, Any] | None,
    workloads: Mapping[str, Sequence[Mapping[str, Any]]],
    cronjobs: Sequence[Mapping[str, Any]],
) -> list[str]:
    """Why a namespace does not read back as isolated; empty when it does. Pure.

    Isolated: the deny-all policy is present as written, every Deployment and StatefulSet
    is at 0 replicas, every CronJob is suspended.
    """
    problems = []
    if policy is None:
        problems.append(f"NetworkPolicy {QUARANTINE_POLICY} is missing")
    elif not policy_as_written(policy):
        problems.append(f"NetworkPolicy {QUARANTINE_POLICY} no longer denies all traffic")
    for resource, items in sorted(workloads.items()):
        for workload in items:
            replicas = replicas_of(workload)
            if replicas:
                problems.append(
                    f"{_singular(resource)} {name_of(workload)} has {replicas} replicas"
                )
    for cronjob in cronjobs:
        if not suspended(cronjob):
            problems.append(f"cronjob {name_of(cronjob)} is not suspended")
    return problems


def _singular(resource: str) -> str:
    return resource.removesuffix("s")


# -- records on workloads ----------------------------------------------------------------


def record_ref(
    scope: Scope, resource: str, obj: Mapping[str, Any], quarantine_id: str
) -> ResourceRef:
    """The identity a workload record is signed with: the object (uid included) and the
    namespace's quarantine it belongs to."""
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    identity = f"{meta.get('name')}/{meta.get('uid')}/{quarantine_id}"
    return ResourceRef("kubernetes", resource, Scope(scope.account, namespace), identity)


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    found = (obj.get("metadata") or {}).get("annotations") or {}
    return dict(found) if _strings(found) else {}


def trusted_record(
    signer: StateSigner,
    scope: Scope,
    resource: str,
    obj: Mapping[str, Any],
    quarantine_id: str,
    key: str,
) -> str | None:
    """The value reaper recorded under ``key`` on a workload, if its signature verifies."""
    annotations = annotations_of(obj)
    if key not in annotations or not quarantine_id:
        return None
    if not signer.verify(record_ref(scope, resource, obj, quarantine_id), annotations):
        return None
    return annotations[key]


def record_patch(
    signer: StateSigner,
    scope: Scope,
    resource: str,
    obj: Mapping[str, Any],
    quarantine_id: str,
    key: str,
    value: str,
) -> JSON:
    """The annotations that record ``key=value`` on a workload, signed; reaper-owned
    annotations that did not verify are removed in the same patch."""
    ref = record_ref(scope, resource, obj, quarantine_id)
    annotations = annotations_of(obj)
    change = lifecycle.change_owned(signer, ref, {}, annotations, {key: value})
    patch: dict[str, str | None] = dict.fromkeys(change.remove)
    patch.update(change.write)
    return {"metadata": {"annotations": patch}}


def unrecord_patch(obj: Mapping[str, Any], signer: StateSigner) -> JSON:
    """The annotations that remove reaper's record (all it owns, and the signature)."""
    annotations = annotations_of(obj)
    keys = [*signer.owned(annotations), lifecycle.SIGNATURE]
    return {"metadata": {"annotations": {k: None for k in keys if k in annotations}}}
