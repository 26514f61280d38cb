"""The fake's ``/openapi/v2``: complete definitions, gnostic protobuf that Google's protobuf
runtime decodes back to the JSON document, HTTP negotiation and caching, and the unknown
fields the API server's decoder drops or refuses.

kubectl 1.20 reading the document is checked in ``test_kube_fake_kubectl.py``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from reaper.sandbox.kube import KubeFake
from reaper.sandbox.kube.openapi_definitions import DEFINITIONS
from reaper.sandbox.kube.openapi_v2 import (
    PROTOBUF,
    PROTOBUF_CONTENT_TYPE,
    definition_for,
    document,
    encode_document,
    encode_schema,
    known_fields,
)
from reaper.sandbox.kube.resources import RESOURCE_TYPES

JSON = dict[str, Any]


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def test_every_reference_resolves() -> None:
    dangling = {
        ref for ref in _refs(DEFINITIONS) if ref.removeprefix("#/definitions/") not in DEFINITIONS
    }
    assert dangling == set()
    assert all(ref.startswith("#/definitions/") for ref in _refs(DEFINITIONS))


@pytest.mark.parametrize("rt", RESOURCE_TYPES, ids=lambda rt: rt.plural)
def test_every_served_kind_and_its_list_has_a_definition(rt: Any) -> None:
    assert definition_for(rt.group, rt.version, rt.kind) is not None
    assert definition_for(rt.group, rt.version, f"{rt.kind}List") is not None
    for sub in rt.subresources:
        if sub.group:
            assert definition_for(sub.group, sub.version, sub.kind) is not None


# -- an independent decoder: Google's protobuf runtime with gnostic's field numbers -----------


def _gnostic_classes() -> dict[str, Any]:
    """The messages of gnostic's ``openapiv2/OpenAPIv2.proto`` that the document uses, built
    as descriptors (field numbers copied from that file), decoded by Google's runtime."""
    descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")
    message_factory = pytest.importorskip("google.protobuf.message_factory")
    descriptor_pool = pytest.importorskip("google.protobuf.descriptor_pool")
    field = descriptor_pb2.FieldDescriptorProto
    string, boolean, message = field.TYPE_STRING, field.TYPE_BOOL, field.TYPE_MESSAGE
    optional, repeated = field.LABEL_OPTIONAL, field.LABEL_REPEATED
    messages: dict[str, list[tuple[str, int, int, int, str]]] = {
        "Document": [
            ("swagger", 1, string, optional, ""),
            ("info", 2, message, optional, "Info"),
            ("paths", 8, message, optional, "Paths"),
            ("definitions", 9, message, optional, "Definitions"),
        ],
        "Info": [("title", 1, string, optional, ""), ("version", 2, string, optional, "")],
        "Paths": [("vendor_extension", 1, message, repeated, "NamedAny")],
        "Definitions": [("additional_properties", 1, message, repeated, "NamedSchema")],
        "Properties": [("additional_properties", 1, message, repeated, "NamedSchema")],
        "NamedSchema": [
            ("name", 1, string, optional, ""),
            ("value", 2, message, optional, "Schema"),
        ],
        "NamedAny": [("name", 1, string, optional, ""), ("value", 2, message, optional, "Any")],
        "Any": [("yaml", 2, string, optional, "")],
        "TypeItem": [("value", 1, string, repeated, "")],
        "ItemsItem": [("schema", 1, message, repeated, "Schema")],
        "AdditionalPropertiesItem": [
            ("schema", 1, message, optional, "Schema"),
            ("boolean", 2, boolean, optional, ""),
        ],
        "Schema": [
            ("_ref", 1, string, optional, ""),
            ("format", 2, string, optional, ""),
            ("title", 3, string, optional, ""),
            ("description", 4, string, optional, ""),
            ("required", 19, string, repeated, ""),
            ("additional_properties", 21, message, optional, "AdditionalPropertiesItem"),
            ("type", 22, message, optional, "TypeItem"),
            ("items", 23, message, optional, "ItemsItem"),
            ("all_of", 24, message, repeated, "Schema"),
            ("properties", 25, message, optional, "Properties"),
            ("vendor_extension", 31, message, repeated, "NamedAny"),
        ],
    }
    proto = descriptor_pb2.FileDescriptorProto(
        name="reaper_test_openapiv2.proto", package="openapi.v2", syntax="proto3"
    )
    for name, fields in messages.items():
        described = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            added = described.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = f".openapi.v2.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"openapi.v2.{name}"))
        for name in messages
    }


def _schema_json(schema: Any) -> JSON:
    """A decoded ``Schema`` back to Swagger JSON."""
    out: JSON = {}
    for key, attribute in (("$ref", "_ref"), ("format", "format"), ("title", "title")):
        if getattr(schema, attribute):
            out[key] = getattr(schema, attribute)
    if schema.description:
        out["description"] = schema.description
    if schema.required:
        out["required"] = list(schema.required)
    if schema.HasField("additional_properties"):
        extra = schema.additional_properties
        out["additionalProperties"] = (
            _schema_json(extra.schema) if extra.HasField("schema") else extra.boolean
        )
    if schema.HasField("type"):
        types = list(schema.type.value)
        out["type"] = types[0] if len(types) == 1 else types
    if schema.HasField("items"):
        items = [_schema_json(item) for item in schema.items.schema]
        out["items"] = items[0] if len(items) == 1 else items
    if schema.all_of:
        out["allOf"] = [_schema_json(part) for part in schema.all_of]
    if schema.HasField("properties"):
        out["properties"] = {
            named.name: _schema_json(named.value)
            for named in schema.properties.additional_properties
        }
    for named in schema.vendor_extension:
        out[named.name] = json.loads(named.value.yaml)  # JSON is the YAML the encoder writes
    return out


def test_the_protobuf_decodes_back_to_the_json_document() -> None:
    classes = _gnostic_classes()
    decoded = classes["Document"].FromString(encode_document(document()))
    assert decoded.swagger == "2.0"
    assert (decoded.info.title, decoded.info.version) == ("Kubernetes", "v1.32.4")
    assert decoded.HasField("paths")
    back = {
        named.name: _schema_json(named.value) for named in decoded.definitions.additional_properties
    }
    assert back == document()["definitions"]


def test_the_encoder_covers_what_the_proto_has_and_refuses_the_rest() -> None:
    classes = _gnostic_classes()
    schema = {
        "description": "d",
        "type": ["string", "null"],
        "items": [{"type": "integer"}, {"$ref": "#/definitions/x"}],
        "allOf": [{"title": "t"}],
        "additionalProperties": False,
        "x-kubernetes-list-map-keys": ["a", "b"],
    }
    decoded = _schema_json(classes["Schema"].FromString(encode_schema(schema)))
    assert decoded == {key: schema[key] for key in decoded}
    assert set(decoded) == set(schema)
    with pytest.raises(ValueError, match=r"Pod.spec: cannot encode default, enum"):
        encode_schema({"properties": {"spec": {"enum": ["a"], "default": "a"}}}, "Pod")


# -- over HTTP --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[KubeFake]:
    with KubeFake() as running:
        yield running


def _get(fake: KubeFake, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"{fake.url}/openapi/v2", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_protobuf_when_asked_for_with_an_etag_that_caches(fake: KubeFake) -> None:
    status, headers, body = _get(fake, Accept=PROTOBUF)
    assert status == 200
    assert headers["Content-Type"] == PROTOBUF_CONTENT_TYPE
    assert body == encode_document(document())
    again, _, empty = _get(fake, Accept=PROTOBUF, **{"If-None-Match": headers["ETag"]})
    assert (again, empty) == (304, b"")


def test_json_otherwise_and_406_for_what_it_cannot_give(fake: KubeFake) -> None:
    status, headers, body = _get(fake)
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert json.loads(body) == document()
    protobuf_tag = _get(fake, Accept=PROTOBUF)[1]["ETag"]
    assert headers["ETag"] != protobuf_tag
    assert _get(fake, Accept="application/json", **{"If-None-Match": protobuf_tag})[0] == 200
    assert _get(fake, Accept="text/html")[0] == 406


def test_unknown_fields_are_found_with_their_paths_and_dropped() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "labels": {"any": "label"}, "colour": "red"},
        "spec": {"ports": [{"port": 80}, {"port": 443, "prot": "TCP"}], "selector": {"a": "b"}},
    }
    kept, unknown = known_fields(service, "io.k8s.api.core.v1.Service")
    assert unknown == ["metadata.colour", "spec.ports[1].prot"]
    assert kept == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "labels": {"any": "label"}},
        "spec": {"ports": [{"port": 80}, {"port": 443}], "selector": {"a": "b"}},
    }
    assert service["spec"]["ports"][1] == {"port": 443, "prot": "TCP"}
