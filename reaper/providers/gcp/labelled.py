"""What the GCP kinds share in writing their labels: marks, failure counts and unmarks.

The actuator hands a kind the labels to set or remove; each resource takes one
fingerprint-guarded write (``relabel`` of its kind's API), whose failures become outcomes
here the same way for instances and clusters.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

from reaper.errors import ProviderError
from reaper.model import Action, Outcome, Resource, ResourceRef, Result, Scope
from reaper.providers.base import ResourceKind
from reaper.providers.gcp.fingerprints import KnownLabels
from reaper.providers.gcp.labels import Labels


class LabelledKind(ResourceKind):
    """A GCP kind whose lifecycle state lives in its labels."""

    NOUN: ClassVar[str]
    """What one resource is called in outcomes: ``instance``, ``cluster``."""

    _known: KnownLabels
    """Labels and label fingerprint of each resource as the last read saw them: the first
    label write needs no read of its own."""

    def _forget_labels(self, refs: Iterable[ResourceRef]) -> None:
        """Forget what was read of these resources' labels, before an action that changes
        them (quarantine): a failure count written after it reads them afresh."""
        for ref in refs:
            self._known.take(ref)

    @abstractmethod
    def _write_labels(self, ref: ResourceRef, updates: Mapping[str, str | None]) -> Labels | None:
        """Apply ``updates`` (None removes a key) to the resource's labels; the labels
        written, or None when it is gone. Raises StaleFingerprint, ProviderError."""

    @abstractmethod
    def _in_progress(self, err: ProviderError) -> str | None:
        """Why a refused write is only waiting for an operation to end, or None."""

    def tag(
        self, scope: Scope, resources: Sequence[Resource], tags: Mapping[str, str], action: Action
    ) -> list[Outcome]:
        return [self._relabel(r.ref, dict(tags), action) for r in resources]

    def untag(
        self, scope: Scope, resources: Sequence[Resource], keys: Sequence[str], action: Action
    ) -> list[Outcome]:
        return [self._relabel(r.ref, dict.fromkeys(keys), action) for r in resources]

    def _relabel(
        self, ref: ResourceRef, updates: Mapping[str, str | None], action: Action
    ) -> Outcome:
        try:
            labels = self._write_labels(ref, updates)
        except ProviderError as err:  # StaleFingerprint too: never in progress, failed
            waiting = self._in_progress(err)
            if waiting is not None:
                return Outcome(ref, action, Result.SKIPPED, f"in progress: {waiting}")
            return Outcome(ref, action, Result.FAILED, str(err))
        if labels is None:
            return Outcome(ref, action, Result.ALREADY_GONE, f"{self.NOUN} does not exist")
        return Outcome(ref, action, Result.DONE, "labels set")
