"""Pure: reaper's own labels written in whole-map writes stay signed, even when the write
finds them changed (a stale fingerprint) and runs again on the fresh ones."""

from __future__ import annotations

from collections.abc import Mapping

from gcp_support import NAME, PIPELINE, SIGNER, ZONE

from reaper import lifecycle
from reaper.lifecycle import SignedTags
from reaper.model import ResourceRef, Scope
from reaper.providers.gcp.labels import LabelChange, Labels, write_owned
from reaper.providers.gcp.records import ORIGINAL_STATE, ORIGINAL_TAGS

REF = ResourceRef("gcp", "gce_instance", Scope(NAME, ZONE), "vm")
ORIGINALS = {ORIGINAL_STATE: "running", ORIGINAL_TAGS[0]: "web"}


class Resource:
    """A resource's labels behind a fingerprint: ``relabel`` as the label APIs do it, with
    someone else's write landing between the caller's read and its first write."""

    def __init__(
        self, labels: Mapping[str, str], meanwhile: Mapping[str, str] | None = None
    ) -> None:
        self.labels = dict(labels)
        self.meanwhile = dict(meanwhile or {})
        self.writes = 0

    def relabel(self, change: LabelChange) -> Labels:
        seen = dict(self.labels)
        if self.meanwhile:
            self.labels.update(self.meanwhile)  # the fingerprint the caller read is stale
            self.meanwhile = {}
            change(seen)  # the write is refused, the labels read again
        wanted = change(self.labels)
        self.labels = wanted
        self.writes += 1
        return wanted


def test_a_write_signs_the_trusted_labels_updated() -> None:
    resource = Resource({**PIPELINE, "team": "x"})
    tags = SignedTags(SIGNER, REF, {}, resource.labels)

    written = write_owned(resource.relabel, tags, ORIGINALS)

    assert written == resource.labels
    assert SIGNER.owned(resource.labels) == ORIGINALS
    assert resource.labels["team"] == "x"
    assert SIGNER.verify(REF, resource.labels)
    assert tags.trusted == ORIGINALS
    assert tags.vouched == resource.labels


def test_owned_labels_written_by_someone_else_meanwhile_are_removed_not_signed() -> None:
    forged = {ORIGINAL_TAGS[1]: "allow-all", "team": "y"}
    resource = Resource(PIPELINE, meanwhile=forged)
    tags = SignedTags(SIGNER, REF, {}, resource.labels)

    write_owned(resource.relabel, tags, ORIGINALS)

    assert ORIGINAL_TAGS[1] not in resource.labels
    assert resource.labels["team"] == "y"  # not reaper's: kept as it is
    assert SIGNER.verify(REF, resource.labels)
    assert tags.vouched == resource.labels


def test_a_later_write_builds_on_what_the_first_wrote() -> None:
    resource = Resource(PIPELINE)
    tags = SignedTags(SIGNER, REF, {}, resource.labels)
    write_owned(resource.relabel, tags, ORIGINALS)

    write_owned(resource.relabel, tags, {lifecycle.STATE: "quarantined"})

    assert SIGNER.owned(resource.labels) == {**ORIGINALS, lifecycle.STATE: "quarantined"}
    assert SIGNER.verify(REF, resource.labels)
    assert resource.writes == 2


def test_a_resource_gone_leaves_what_reaper_vouches_for_as_it_was() -> None:
    tags = SignedTags(SIGNER, REF, {}, PIPELINE)

    assert write_owned(lambda change: None, tags, ORIGINALS) is None
    assert tags.trusted == {}
    assert tags.vouched == PIPELINE
