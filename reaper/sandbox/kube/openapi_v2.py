"""``GET /openapi/v2``: the Swagger 2.0 document, as JSON or as gnostic protobuf. Pure.

``kubectl`` up to 1.26 validates manifests on the client against this document (``--validate``
is on by default) and computes ``apply``'s strategic merge patches from it; it asks for it as
``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and stops with
``NotFound`` when the server does not serve it. A real API server answers that media type
with gnostic's ``openapi_v2.Document`` message (``openapiv2/OpenAPIv2.proto``), JSON (or no
``Accept``) with JSON, and anything else with 406; both carry an ``ETag`` (the body's SHA-512)
and a matching ``If-None-Match`` gets 304.

The document holds the definitions of :mod:`reaper.sandbox.kube.openapi_definitions` (every
served kind, with ``x-kubernetes-group-version-kind``, and what they reference) and no paths:
``kubectl`` finds a kind's schema by that extension, not through the paths.

The protobuf side is a small encoder for the part of gnostic's schema these definitions use:
``Document``, ``Info``, ``Paths``, ``Definitions``, ``NamedSchema``, ``Schema`` (``$ref``,
``format``, ``title``, ``description``, ``required``, ``additionalProperties``, ``type``,
``items``, ``allOf``, ``properties`` and the ``x-`` vendor extensions). As gnostic does, a
vendor extension's value goes in ``Any.yaml`` as YAML text (here JSON, which is YAML);
any other schema keyword is refused rather than silently dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from reaper.sandbox.kube.discovery import SERVER_VERSION
from reaper.sandbox.kube.openapi_definitions import DEFINITIONS

JSON = dict[str, Any]
PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
"""The media type ``kubectl`` asks for; the answer is gnostic's ``openapi_v2.Document``."""
PROTOBUF_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
"""What the answer says it is: ``@`` is not allowed in a media type, and Go's
``mime.ParseMediaType`` (which client-go runs on every response) refuses it."""

# Field numbers, from gnostic's openapiv2/OpenAPIv2.proto.
_DOCUMENT_SWAGGER, _DOCUMENT_INFO, _DOCUMENT_PATHS, _DOCUMENT_DEFINITIONS = 1, 2, 8, 9
_INFO_TITLE, _INFO_VERSION = 1, 2
_NAMED_NAME, _NAMED_VALUE = 1, 2  # NamedSchema, NamedAny
_REPEATED_ENTRIES = 1  # Definitions, Properties: repeated NamedSchema; TypeItem, ItemsItem
_ANY_YAML = 2
_ADDITIONAL_SCHEMA, _ADDITIONAL_BOOLEAN = 1, 2
_SCHEMA_STRINGS = {"$ref": 1, "format": 2, "title": 3, "description": 4}
_SCHEMA_REQUIRED = 19
_SCHEMA_ADDITIONAL_PROPERTIES = 21
_SCHEMA_TYPE = 22
_SCHEMA_ITEMS = 23
_SCHEMA_ALL_OF = 24
_SCHEMA_PROPERTIES = 25
_SCHEMA_VENDOR_EXTENSION = 31

_WIRE_VARINT = 0
_WIRE_BYTES = 2


def document() -> JSON:
    """The Swagger 2.0 document the fake serves (a fresh copy). Pure."""
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
        "paths": {},
        "definitions": json.loads(json.dumps(DEFINITIONS)),
    }


def definition_for(group: str, version: str, kind: str) -> str | None:
    """The name of the definition whose ``x-kubernetes-group-version-kind`` names this kind,
    as ``kubectl`` looks it up. Pure."""
    wanted = {"group": group, "version": version, "kind": kind}
    for name, schema in DEFINITIONS.items():
        if wanted in schema.get("x-kubernetes-group-version-kind", ()):
            return name
    return None


def known_fields(obj: Any, definition: str) -> tuple[Any, list[str]]:
    """``obj`` without the fields the definition does not have, and their paths
    (``spec.podSelektor``, ``spec.ports[0].prot``) in document order: what the API server's
    decoder drops, warns about (``fieldValidation=Warn``) or refuses (``Strict``). Pure."""
    found: list[str] = []
    kept = _walk(obj, {"$ref": f"#/definitions/{definition}"}, "", found)
    return kept, found


def _walk(value: Any, schema: Mapping[str, Any], path: str, found: list[str]) -> Any:
    while "$ref" in schema:
        schema = DEFINITIONS[schema["$ref"].removeprefix("#/definitions/")]
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        kept: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if properties is not None:
                if key in properties:
                    kept[key] = _walk(item, properties[key], where, found)
                else:
                    found.append(where)
            elif isinstance(extra, Mapping):
                kept[key] = _walk(item, extra, where, found)
            else:
                kept[key] = item
        return kept
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [
            _walk(item, schema["items"], f"{path}[{index}]", found)
            for index, item in enumerate(value)
        ]
    return value


# -- protobuf wire format ------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _WIRE_BYTES) + _varint(len(payload)) + payload


def _string_field(number: int, value: str) -> bytes:
    return _bytes_field(number, value.encode())


def _bool_field(number: int, value: bool) -> bytes:
    return _varint(number << 3 | _WIRE_VARINT) + _varint(int(value))


def _named(name: str, value: bytes) -> bytes:
    """``NamedSchema`` / ``NamedAny``: ``{1: name, 2: value}``."""
    return _string_field(_NAMED_NAME, name) + _bytes_field(_NAMED_VALUE, value)


def _strings(number: int, values: Iterable[str]) -> bytes:
    return b"".join(_string_field(number, value) for value in values)


def _vendor_extension(name: str, value: Any) -> bytes:
    """``NamedAny{name, Any{yaml}}``; the YAML is the value as JSON."""
    yaml = json.dumps(value, separators=(", ", ": "), sort_keys=True) + "\n"
    return _bytes_field(_SCHEMA_VENDOR_EXTENSION, _named(name, _string_field(_ANY_YAML, yaml)))


def encode_schema(schema: Mapping[str, Any], where: str = "schema") -> bytes:
    """One gnostic ``Schema``, its fields in field-number order as Go's marshaller writes
    them. Raises ``ValueError`` naming ``where`` and the keyword for anything it cannot
    encode. Pure."""
    unknown = sorted(
        key
        for key in schema
        if not key.startswith("x-")
        and key not in _SCHEMA_STRINGS
        and key not in ("required", "additionalProperties", "type", "items", "allOf", "properties")
    )
    if unknown:
        raise ValueError(
            f"{where}: cannot encode {', '.join(unknown)} (valid: see OpenAPIv2.proto)"
        )
    out = bytearray()
    for key, number in _SCHEMA_STRINGS.items():
        if key in schema:
            out += _string_field(number, schema[key])
    out += _strings(_SCHEMA_REQUIRED, schema.get("required", ()))
    if "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        item = (
            _bool_field(_ADDITIONAL_BOOLEAN, extra)
            if isinstance(extra, bool)
            else _bytes_field(
                _ADDITIONAL_SCHEMA, encode_schema(extra, f"{where}.additionalProperties")
            )
        )
        out += _bytes_field(_SCHEMA_ADDITIONAL_PROPERTIES, item)
    if "type" in schema:
        types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        out += _bytes_field(_SCHEMA_TYPE, _strings(_REPEATED_ENTRIES, types))
    if "items" in schema:
        items = schema["items"] if isinstance(schema["items"], list) else [schema["items"]]
        out += _bytes_field(
            _SCHEMA_ITEMS,
            b"".join(
                _bytes_field(_REPEATED_ENTRIES, encode_schema(item, f"{where}.items"))
                for item in items
            ),
        )
    for index, part in enumerate(schema.get("allOf", ())):
        out += _bytes_field(_SCHEMA_ALL_OF, encode_schema(part, f"{where}.allOf[{index}]"))
    if "properties" in schema:
        out += _bytes_field(
            _SCHEMA_PROPERTIES,
            b"".join(
                _bytes_field(
                    _REPEATED_ENTRIES, _named(name, encode_schema(value, f"{where}.{name}"))
                )
                for name, value in schema["properties"].items()
            ),
        )
    for key, value in schema.items():
        if key.startswith("x-"):
            out += _vendor_extension(key, value)
    return bytes(out)


def encode_document(doc: Mapping[str, Any]) -> bytes:
    """gnostic's ``openapi_v2.Document`` for a Swagger 2.0 ``doc`` with no paths. Pure."""
    if doc.get("paths"):
        raise ValueError("paths: only an empty paths object can be encoded")
    info = doc["info"]
    definitions = b"".join(
        _bytes_field(_REPEATED_ENTRIES, _named(name, encode_schema(schema, name)))
        for name, schema in doc["definitions"].items()
    )
    return (
        _string_field(_DOCUMENT_SWAGGER, doc["swagger"])
        + _bytes_field(
            _DOCUMENT_INFO,
            _string_field(_INFO_TITLE, info["title"])
            + _string_field(_INFO_VERSION, info["version"]),
        )
        + _bytes_field(_DOCUMENT_PATHS, b"")
        + _bytes_field(_DOCUMENT_DEFINITIONS, definitions)
    )


# -- serving -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Representation:
    """One encoding of the document, ready to send."""

    body: bytes
    """The bytes."""
    content_type: str
    """Their media type."""
    etag: str
    """The quoted entity tag (the body's SHA-512), as the API server sends it."""


def _representation(body: bytes, content_type: str) -> Representation:
    return Representation(body, content_type, f'"{hashlib.sha512(body).hexdigest().upper()}"')


@cache
def _protobuf() -> Representation:
    return _representation(encode_document(document()), PROTOBUF_CONTENT_TYPE)


@cache
def _json() -> Representation:
    return _representation(
        json.dumps(document(), separators=(",", ":")).encode(), "application/json"
    )


def negotiate(accept: str) -> Representation | None:
    """The representation the first acceptable clause of ``accept`` names, as kube-openapi's
    handler picks it: JSON for ``application/json``, ``application/*``, ``*/*`` or no header,
    protobuf for :data:`PROTOBUF`; None (406) for anything else. Built once per process."""
    for clause in (accept or "*/*").split(","):
        media = clause.split(";", 1)[0].strip()
        if media == PROTOBUF:
            return _protobuf()
        if media in ("application/json", "application/*", "*/*"):
            return _json()
    return None


def not_modified(representation: Representation, if_none_match: str) -> bool:
    """Whether an ``If-None-Match`` header names this representation's ETag (or ``*``). Pure."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",") if tag.strip()}
    return "*" in tags or representation.etag in tags
