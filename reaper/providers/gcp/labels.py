"""How reaper changes a resource's labels so that its own stay signed.

GCP label writes replace the whole map (guarded by a fingerprint), so every write is a
function from the labels a resource has now to those it should have; on a stale
fingerprint it runs again on the fresh ones. The functions here are pure, but for
:func:`write_owned`, which makes one such write and moves a
:class:`~reaper.lifecycle.SignedTags` along with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from reaper import lifecycle
from reaper.lifecycle import SignedTags, StateSigner, TagChange

Labels = dict[str, str]
LabelChange = Callable[[Mapping[str, str]], Labels]
"""From the labels a resource has now to those it should have."""


def merged(current: Mapping[str, str], updates: Mapping[str, str | None]) -> Labels:
    """``current`` with ``updates`` applied: a value sets the key, None removes it. Pure."""
    out = dict(current)
    for key, value in updates.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def updating(updates: Mapping[str, str | None]) -> LabelChange:
    """The change that applies ``updates`` to whatever labels the write finds. Pure.

    For the actuator's own writes (marks, failure counts), which it has already signed.
    """
    return lambda current: merged(current, updates)


def write_owned(
    relabel: Callable[[LabelChange], Labels | None],
    tags: SignedTags,
    updates: Mapping[str, str | None],
) -> Labels | None:
    """Change reaper's own labels on one resource in one write, signed (as the AWS kinds'
    ``_write`` does with tags); ``tags`` follows the write.

    ``relabel(change)`` sets the labels ``change`` makes of the current ones and returns
    them, or None when the resource is gone. The owned labels become ``tags``' trusted
    ones updated (:meth:`SignedTags.change`); when the fingerprint was stale and the
    labels are read again, the change is made afresh of those, so owned labels someone
    else wrote in between are removed rather than signed.
    """
    made: list[TagChange] = []

    def change(current: Mapping[str, str]) -> Labels:
        tags.reread(current)
        made.append(tags.change(updates))
        return merged(current, {**dict.fromkeys(made[-1].remove), **made[-1].write})

    labels = relabel(change)
    if labels is not None and made:
        tags.removed(made[-1])
        tags.written(made[-1])
    return labels


def without_owned(signer: StateSigner, current: Mapping[str, str]) -> Labels:
    """``current`` without any label reaper owns, nor its signature: a release. Pure."""
    owned = signer.owned(current)
    return {k: v for k, v in current.items() if k not in owned and k != lifecycle.SIGNATURE}
