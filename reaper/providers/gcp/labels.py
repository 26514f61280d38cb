"""Pure: how reaper changes a resource's labels so that its own stay signed.

GCP label writes replace the whole map (guarded by a fingerprint), so every write is a
function from the labels a resource has now to those it should have; on a stale
fingerprint it runs again on the fresh ones.
"""

from __future__ import annotations

from collections.abc import Mapping

from reaper import lifecycle
from reaper.lifecycle import StateSigner
from reaper.model import ResourceRef

Labels = dict[str, str]


def merged(current: Mapping[str, str], updates: Mapping[str, str | None]) -> Labels:
    """``current`` with ``updates`` applied: a value sets the key, None removes it. Pure."""
    out = dict(current)
    for key, value in updates.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def owned_change(
    signer: StateSigner,
    ref: ResourceRef,
    trusted: Mapping[str, str],
    updates: Mapping[str, str | None],
    current: Mapping[str, str],
) -> Labels:
    """The labels after reaper's own (``trusted``, verified) are updated and signed. Pure.

    Owned labels in ``current`` that are not trusted are dropped (see
    :func:`reaper.lifecycle.change_owned`); the others are left as they are.
    """
    change = lifecycle.change_owned(signer, ref, trusted, current, updates)
    return merged(current, {**dict.fromkeys(change.remove), **change.write})


def actuator_change(
    signer: StateSigner,
    ref: ResourceRef,
    updates: Mapping[str, str | None],
    current: Mapping[str, str],
) -> Labels:
    """``current`` with the actuator's updates (signed by it) applied. Pure.

    The actuator signs what it planned with; when reaper itself changed its labels since
    (a quarantine that recorded originals, then failed), its signature would not cover
    them. If the labels verified before this write and would not after it, every owned
    label is reaper's (the old ones signed, the new ones the actuator's), so the result
    is signed afresh rather than left unverifiable.
    """
    out = merged(current, updates)
    if signer.can_sign and not signer.verify(ref, out) and signer.verify(ref, current):
        owned = signer.owned(out)
        if owned:
            out[lifecycle.SIGNATURE] = signer.signature(ref, owned)
        else:
            out.pop(lifecycle.SIGNATURE, None)
    return out


def without_owned(signer: StateSigner, current: Mapping[str, str]) -> Labels:
    """``current`` without any label reaper owns, nor its signature: a release. Pure."""
    owned = signer.owned(current)
    return {k: v for k, v in current.items() if k not in owned and k != lifecycle.SIGNATURE}
