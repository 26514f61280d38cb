"""The fake Kubernetes API server's pure parts: selectors, patches, paging, validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from reaper.sandbox.kube.api import parse_request_info
from reaper.sandbox.kube.clock import format_micro_time, human_duration, parse_time
from reaper.sandbox.kube.errors import conflict, invalid, invalid_object, not_found
from reaper.sandbox.kube.paging import TokenError, decode_token, encode_token, page
from reaper.sandbox.kube.patches import (
    PRIMITIVE_MERGE,
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from reaper.sandbox.kube.selectors import SelectorError, parse_field_selector, parse_label_selector
from reaper.sandbox.kube.validation import dns1123_label, label_key, label_value

LABELS = {"app": "web", "tier": "frontend", "version": "3"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        pytest.param("", True, id="empty-matches-all"),
        pytest.param("app=web", True, id="equals"),
        pytest.param("app==web", True, id="double-equals"),
        pytest.param("app!=web", False, id="not-equals"),
        pytest.param("missing!=x", True, id="not-equals-missing-key"),
        pytest.param("tier", True, id="exists"),
        pytest.param("!tier", False, id="not-exists"),
        pytest.param("!missing", True, id="not-exists-missing"),
        pytest.param("tier in (frontend, backend)", True, id="in"),
        pytest.param("tier notin (frontend)", False, id="notin"),
        pytest.param("missing notin (x)", True, id="notin-missing-key"),
        pytest.param("app=web,tier=backend", False, id="and"),
        pytest.param("version>2", True, id="greater"),
        pytest.param("version<3", False, id="less"),
        pytest.param("  app = web ,  tier  ", True, id="whitespace"),
    ],
)
def test_label_selector_matching(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is matches


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        pytest.param(
            "app in web", "unable to parse requirement: found 'web' expected: '('", id="in-no-paren"
        ),
        pytest.param("app=web,", "found '', expected: identifier after ','", id="trailing-comma"),
        pytest.param("=web", "found '=', expected: !, identifier, or 'end of string'", id="no-key"),
        pytest.param(
            "a b",
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt",
            id="no-op",
        ),
        pytest.param(
            "version>x",
            'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
            id="gt-not-integer",
        ),
    ],
)
def test_label_selector_errors_use_the_servers_words(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_label_selector(selector)
    assert str(caught.value) == message


def test_label_selector_rejects_an_invalid_key() -> None:
    with pytest.raises(
        SelectorError, match=r'^unable to parse requirement: <nil>: Invalid value: "-bad"'
    ):
        parse_label_selector("-bad=x")


def test_field_selector() -> None:
    selector = parse_field_selector("metadata.name=ci-1,status.phase!=Terminating")
    assert selector.matches({"metadata.name": "ci-1", "status.phase": "Active"})
    assert not selector.matches({"metadata.name": "ci-1", "status.phase": "Terminating"})
    with pytest.raises(SelectorError, match="can't understand 'nonsense'"):
        parse_field_selector("nonsense")


def test_merge_patch_is_rfc_7386() -> None:
    target = {"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": True}
    patch = {"a": {"b": None, "d": 3}, "list": [3], "gone": None}
    assert merge_patch(target, patch) == {"a": {"c": 2, "d": 3}, "list": [3]}
    assert target["gone"] is True


SCHEMA: dict[tuple[str, ...], str] = {
    ("metadata", "finalizers"): PRIMITIVE_MERGE,
    ("spec", "containers"): "name",
    ("spec", "containers", "env"): "name",
}


def smp(target: dict[str, Any], patch: dict[str, Any]) -> Any:
    return strategic_merge_patch(target, patch, SCHEMA)


def test_strategic_merge_patch_merges_keyed_lists() -> None:
    target = {
        "spec": {
            "containers": [{"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]}]
        }
    }
    patch = {
        "spec": {
            "containers": [
                {"name": "app", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
                {"name": "side", "image": "s:1"},
            ]
        }
    }
    assert smp(target, patch) == {
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "a:2",
                    "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                },
                {"name": "side", "image": "s:1"},
            ]
        }
    }


def test_strategic_merge_patch_directives() -> None:
    target = {
        "metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}},
        "spec": {"containers": [{"name": "app"}, {"name": "side"}], "ports": [1, 2]},
    }
    assert smp(target, {"metadata": {"finalizers": ["c"]}})["metadata"]["finalizers"] == [
        "a",
        "b",
        "c",
    ]
    assert smp(target, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})["metadata"][
        "finalizers"
    ] == ["b"]
    assert smp(target, {"metadata": {"finalizers": None}})["metadata"] == {
        "labels": {"x": "1", "y": "2"}
    }
    assert smp(target, {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}})["spec"][
        "containers"
    ] == [{"name": "app"}]
    assert smp(target, {"metadata": {"labels": {"$patch": "replace", "z": "3"}}})["metadata"][
        "labels"
    ] == {"z": "3"}
    assert smp(target, {"spec": {"ports": [3]}})["spec"]["ports"] == [3]
    assert smp(target, {"metadata": {"$retainKeys": ["labels"], "labels": {"y": None}}})[
        "metadata"
    ] == {"labels": {"x": "1"}}
    ordered = smp(
        target, {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "app"}]}}
    )
    assert [c["name"] for c in ordered["spec"]["containers"]] == ["side", "app"]


def test_json_patch_operations() -> None:
    document = {"metadata": {"labels": {"a": "1"}}, "items": [1, 2, 3]}
    patched = json_patch(
        document,
        [
            {"op": "replace", "path": "/metadata/labels/a", "value": "2"},
            {"op": "add", "path": "/items/-", "value": 4},
            {"op": "remove", "path": "/items/0"},
            {"op": "copy", "from": "/metadata/labels/a", "path": "/metadata/labels/b"},
            {"op": "move", "from": "/metadata/labels/b", "path": "/metadata/labels/c"},
            {"op": "test", "path": "/items", "value": [2, 3, 4]},
        ],
    )
    assert patched == {"metadata": {"labels": {"a": "2", "c": "2"}}, "items": [2, 3, 4]}
    with pytest.raises(PatchError):
        json_patch(document, [{"op": "remove", "path": "/metadata/nope"}])


def test_continue_tokens_round_trip_in_the_servers_format() -> None:
    token = encode_token(42, "ci-1\x00")
    assert "=" not in token
    decoded = decode_token(token)
    assert (decoded.revision, decoded.start) == (42, "ci-1\x00")
    with pytest.raises(TokenError, match="continue key is not valid"):
        decode_token("garbage!")


def test_a_page_stops_at_the_limit_and_says_what_remains() -> None:
    entries = [(name, {"n": name, "match": name != "b"}) for name in "abcde"]
    first = page(entries, start="", limit=2, matches=lambda o: o["match"])
    assert [o["n"] for o in first.items] == ["a", "c"]
    assert (first.next_start, first.remaining) == ("c\x00", 2)
    rest = page(entries, start=first.next_start or "", limit=2, matches=lambda o: o["match"])
    assert [o["n"] for o in rest.items] == ["d", "e"]
    assert rest.next_start is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("ci-123", True),
        ("Ci", False),
        ("-ci", False),
        ("a" * 63, True),
        ("a" * 64, False),
        ("a.b", False),
    ],
)
def test_dns1123_labels(value: str, ok: bool) -> None:
    assert (dns1123_label(value) == []) is ok


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("app", True),
        ("example.com/app", True),
        ("app.kubernetes.io/name", True),
        ("/app", False),
        ("a/b/c", False),
        ("Example.com/app", False),
        ("app_", False),
    ],
)
def test_label_keys(key: str, ok: bool) -> None:
    assert (label_key(key) == []) is ok


def test_label_value_messages() -> None:
    assert label_value("") == []
    assert label_value("x" * 64)[0] == "must be no more than 63 characters"


def test_status_shapes() -> None:
    assert not_found("deployments", "apps", "web").status()["details"] == {
        "name": "web",
        "group": "apps",
        "kind": "deployments",
    }
    assert conflict("leases", "coordination.k8s.io", "x").code == 409
    error = invalid_object("Namespace", "", "Bad", [invalid("metadata.name", "Bad", "nope")])
    assert error.message == 'Namespace "Bad" is invalid: metadata.name: Invalid value: "Bad": nope'
    assert error.status()["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "Bad": nope',
            "field": "metadata.name",
        }
    ]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (9 * 3600, "9h"),
        (3 * 86400 + 3600, "3d1h"),
        (400 * 86400, "400d"),
        (800 * 86400, "2y70d"),
    ],
)
def test_ages_print_like_kubectl(seconds: int, shown: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == shown


def test_micro_time_normalises_to_utc() -> None:
    assert (
        format_micro_time(parse_time("2025-06-01T14:00:00.5+02:00"))
        == "2025-06-01T12:00:00.500000Z"
    )


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/v1/namespaces", ("list", "namespaces", "", "", "")),
        ("GET", "/api/v1/namespaces/ci", ("get", "namespaces", "", "", "ci")),
        ("PUT", "/api/v1/namespaces/ci/finalize", ("update", "namespaces", "finalize", "", "ci")),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/ci/deployments",
            ("deletecollection", "deployments", "", "ci", ""),
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/ci/deployments/web/scale",
            ("patch", "deployments", "scale", "ci", "web"),
        ),
        ("GET", "/version", ("get", "", "", "", "")),
    ],
)
def test_request_info(method: str, path: str, expected: tuple[str, ...]) -> None:
    info = parse_request_info(method, path, {})
    assert (info.verb, info.resource, info.subresource, info.namespace, info.name) == expected
