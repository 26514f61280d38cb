"""The three patch formats the API accepts. Pure.

* JSON merge patch (RFC 7386, ``application/merge-patch+json``): maps merge, ``null`` removes
  a key, anything else (lists included) replaces.
* JSON patch (RFC 6902, ``application/json-patch+json``): add, remove, replace, move, copy,
  test, on JSON pointers.
* Strategic merge patch (``application/strategic-merge-patch+json``): a merge patch whose
  lists merge by the field's ``patchMergeKey`` (``containers`` by ``name``, ``ports`` by
  ``containerPort`` ...) or, for ``patchStrategy: merge`` lists of scalars such as
  ``metadata.finalizers``, as a union; with the ``$patch`` (replace/delete/merge),
  ``$retainKeys``, ``$deleteFromPrimitiveList/<field>`` and ``$setElementOrder/<field>``
  directives. Which lists merge is told by a :data:`PatchSchema`, keyed by the field path
  without list indexes (``("spec", "template", "spec", "containers")``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

PRIMITIVE_MERGE = ""
"""The merge key of a ``patchStrategy: merge`` list of scalars: the lists are unioned."""

PatchSchema = Mapping[tuple[str, ...], str]
"""Field path -> merge key (or :data:`PRIMITIVE_MERGE`); lists not named here are replaced."""

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"
_SET_ORDER = "$setElementOrder/"


class PatchError(ValueError):
    """The patch does not apply; the message says why."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 ``MergePatch(target, patch)``; returns a new document."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902; raises :class:`PatchError` on a bad operation or a failed ``test``."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation:
            raise PatchError("Unexpected kind: missing op")
        document = _apply_operation(document, operation)
    return document


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"path {path!r} is not a JSON pointer")
    if path == "":
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, parts: list[str], path: str) -> Any:
    node = document
    for part in parts[:-1]:
        node = _child(node, part, path)
    return node


def _child(node: Any, part: str, path: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            raise PatchError(f"missing value at path {path!r}")
        return node[part]
    if isinstance(node, list):
        return node[_index(node, part, path, allow_end=False)]
    raise PatchError(f"cannot traverse a scalar at path {path!r}")


def _index(node: list[Any], part: str, path: str, *, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(node)
    if not part.isdigit() or (len(part) > 1 and part.startswith("0")):
        raise PatchError(f"invalid array index {part!r} in path {path!r}")
    index = int(part)
    limit = len(node) if allow_end else len(node) - 1
    if index > limit:
        raise PatchError(f"array index {index} out of bounds in path {path!r}")
    return index


def _get(document: Any, path: str) -> Any:
    node = document
    for part in _pointer(path):
        node = _child(node, part, path)
    return node


def _add(document: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    parent = _parent(document, parts, path)
    if isinstance(parent, dict):
        parent[parts[-1]] = copy.deepcopy(value)
    elif isinstance(parent, list):
        parent.insert(_index(parent, parts[-1], path, allow_end=True), copy.deepcopy(value))
    else:
        raise PatchError(f"cannot add to a scalar at path {path!r}")
    return document


def _remove(document: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _parent(document, parts, path)
    if isinstance(parent, dict):
        if parts[-1] not in parent:
            raise PatchError(f"Unable to remove nonexistent key: {parts[-1]}: missing value")
        return document, parent.pop(parts[-1])
    if isinstance(parent, list):
        return document, parent.pop(_index(parent, parts[-1], path, allow_end=False))
    raise PatchError(f"cannot remove from a scalar at path {path!r}")


def _location(operation: dict[str, Any], key: str) -> str:
    value = operation.get(key)
    if not isinstance(value, str):
        raise PatchError(f"operation {operation['op']!r} is missing its {key!r}")
    return value


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    op, path = operation["op"], _location(operation, "path")
    if op == "add":
        return _add(document, path, _value(operation))
    if op == "remove":
        return _remove(document, path)[0]
    if op == "replace":
        _get(document, path)
        document, _ = _remove(document, path) if _pointer(path) else (document, None)
        return _add(document, path, _value(operation))
    if op == "move":
        document, moved = _remove(document, _location(operation, "from"))
        return _add(document, path, moved)
    if op == "copy":
        return _add(document, path, copy.deepcopy(_get(document, _location(operation, "from"))))
    if op == "test":
        if _get(document, path) != _value(operation):
            raise PatchError(f"testing value {path} failed: test failed")
        return document
    raise PatchError(f"Unexpected kind: {op}")


def _value(operation: dict[str, Any]) -> Any:
    if "value" not in operation:
        raise PatchError(f"missing value for operation {operation['op']!r}")
    return operation["value"]


def strategic_merge_patch(target: Any, patch: Any, schema: PatchSchema) -> Any:
    """Apply a strategic merge patch to ``target``; returns a new document."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    original = copy.deepcopy(target) if isinstance(target, dict) else {}
    merged = _merge_map(original, patch, (), schema)
    if merged is None:
        raise PatchError("cannot delete the whole object with a strategic merge patch")
    return merged


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...], schema: PatchSchema
) -> dict[str, Any] | None:
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return None
    if directive == "replace":
        body = {k: v for k, v in patch.items() if k != _DIRECTIVE}
        return _merge_map({}, body, path, schema) or {}
    if directive not in (None, "merge"):
        raise PatchError(f"Unknown patch type: {directive}")
    result = original
    if _RETAIN_KEYS in patch:
        keep = set(patch[_RETAIN_KEYS] or [])
        result = {k: v for k, v in result.items() if k in keep}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN_KEYS):
            continue
        if key.startswith(_SET_ORDER):
            orders[key[len(_SET_ORDER) :]] = list(value or [])
            continue
        if key.startswith(_DELETE_FROM_PRIMITIVE):
            name = key[len(_DELETE_FROM_PRIMITIVE) :]
            doomed = value or []
            if isinstance(result.get(name), list):
                result[name] = [item for item in result[name] if item not in doomed]
            continue
        result = _merge_key(result, key, value, (*path, key), schema)
    for name, order in orders.items():
        if isinstance(result.get(name), list):
            result[name] = _ordered(result[name], order, schema.get((*path, name)))
    return result


def _merge_key(
    result: dict[str, Any], key: str, value: Any, path: tuple[str, ...], schema: PatchSchema
) -> dict[str, Any]:
    if value is None:
        result.pop(key, None)
        return result
    current = result.get(key)
    if isinstance(value, dict):
        base = current if isinstance(current, dict) else {}
        merged = _merge_map(base, value, path, schema)
        if merged is None:
            result.pop(key, None)
        else:
            result[key] = merged
        return result
    if isinstance(value, list):
        result[key] = _merge_list(current if isinstance(current, list) else [], value, path, schema)
        return result
    result[key] = value
    return result


def _merge_list(
    original: list[Any], patch: list[Any], path: tuple[str, ...], schema: PatchSchema
) -> list[Any]:
    if any(isinstance(i, dict) and i.get(_DIRECTIVE) == "replace" for i in patch):
        kept = [i for i in patch if not (isinstance(i, dict) and _DIRECTIVE in i)]
        return [_strip_directives(i, path, schema) for i in kept]
    if path not in schema:
        return [_strip_directives(item, path, schema) for item in patch]
    merge_key = schema[path]
    if merge_key == PRIMITIVE_MERGE:
        merged = list(original)
        merged.extend(item for item in patch if item not in merged)
        return merged
    merged = list(original)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}")
        position = next(
            (
                i
                for i, old in enumerate(merged)
                if isinstance(old, dict) and old.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if item.get(_DIRECTIVE) == "delete":
            if position is not None:
                merged.pop(position)
            continue
        if position is None:
            merged.append(_strip_directives(item, path, schema))
        else:
            replacement = _merge_map(merged[position], item, path, schema)
            if replacement is None:
                merged.pop(position)
            else:
                merged[position] = replacement
    return merged


def _ordered(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    def identity(item: Any) -> Any:
        if merge_key and isinstance(item, dict):
            return item.get(merge_key)
        return item

    wanted = [identity(entry) for entry in order]
    ranked = sorted(
        range(len(items)),
        key=lambda i: (
            wanted.index(identity(items[i])) if identity(items[i]) in wanted else len(wanted),
            i,
        ),
    )
    return [items[i] for i in ranked]


def _strip_directives(value: Any, path: tuple[str, ...], schema: PatchSchema) -> Any:
    """A patch fragment that lands where nothing was: merged onto empty, nulls dropped."""
    if isinstance(value, dict):
        body = {k: v for k, v in value.items() if k != _DIRECTIVE}
        return _merge_map({}, body, path, schema) or {}
    if isinstance(value, list):
        return [_strip_directives(item, path, schema) for item in value]
    return value
