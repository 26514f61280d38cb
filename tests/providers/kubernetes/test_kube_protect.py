"""The protect key on a namespace: in any spelling, as a label or an annotation, it wins.

A property over the metadata reaper reads (every mix of spellings and values: protected
iff any one of them protects), and a sweep of the fake API server with the real client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from kube_support import PIPELINE, START, Harness

from reaper.config import TagKeys
from reaper.model import Action, Scope
from reaper.policy import is_protected
from reaper.providers.kubernetes.namespaces import read_namespace_item
from reaper.sandbox.kube import KubeFake

OLD = START - timedelta(days=3)
KEYS = TagKeys()
SPELLINGS = (
    "reaper-protect",
    "reaper-Protect",
    "Reaper_Protect",
    "reaper_protect",
    "REAPER-PROTECT",
)
VALUES = ("true", "false", "", "no", "0", "off", "yes", "False", "1", "OFF", " no ")
PROTECTING = {v for v in VALUES if v.strip().lower() not in {"false", "no", "0", "off"}}

protect_tags = st.dictionaries(st.sampled_from(SPELLINGS), st.sampled_from(VALUES), max_size=4)


@settings(max_examples=300, deadline=None)
@given(labels=protect_tags, annotations=protect_tags)
def test_a_namespace_is_protected_iff_any_protect_label_or_annotation_protects(
    labels: dict[str, str], annotations: dict[str, str]
) -> None:
    meta = {
        "name": "ci-review",
        "uid": "u-1",
        "labels": {**PIPELINE, **labels},
        "annotations": annotations,
    }

    read = read_namespace_item({"metadata": meta}, Scope("ci", ""), KEYS, (), timedelta(hours=1))

    assert read.resource is not None
    expected = any(v in PROTECTING for v in (*labels.values(), *annotations.values()))
    assert is_protected(read.resource, KEYS) is expected


def test_a_protect_label_wins_over_an_annotation_and_any_spelling_protects(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    fake.seed_namespace(
        "ci-outvoted",
        labels={**PIPELINE, "reaper-protect": "true"},
        annotations={"reaper-protect": "false"},
        created=OLD,
    )
    fake.seed_namespace("ci-spelled", labels={**PIPELINE, "reaper-Protect": "true"}, created=OLD)
    fake.seed_namespace(
        "ci-annotated",
        labels={**PIPELINE, "reaper-protect": "false"},
        annotations={"reaper_protect": "yes"},
        created=OLD,
    )
    fake.seed_namespace("ci-stale", labels=PIPELINE, created=OLD)

    report = harness().sweep()

    actions = {d.resource.name: d.action for d in report.plan.decisions}
    assert actions == {
        "ci-outvoted": Action.KEEP,
        "ci-spelled": Action.KEEP,
        "ci-annotated": Action.KEEP,
        "ci-stale": Action.DELETE,
    }
    assert fake.namespace_phase("ci-stale") == "Terminating"
    for name in ("ci-outvoted", "ci-spelled", "ci-annotated"):
        assert fake.namespace_phase(name) == "Active"
    # Nothing reaper wrote took a protect key away.
    assert fake.get("namespaces", "ci-spelled")["metadata"]["labels"]["reaper-Protect"] == "true"
    annotations = fake.get("namespaces", "ci-annotated")["metadata"]["annotations"]
    assert annotations["reaper_protect"] == "yes"
