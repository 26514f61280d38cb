"""Name, label and annotation validation, with apimachinery's messages. Pure.

Copied rules (``k8s.io/apimachinery/pkg/util/validation`` and ``.../api/validate/content``):
DNS-1123 labels (namespaces), DNS-1123 subdomains (most object names), DNS-1035 labels
(services), qualified names (label and annotation keys, finalizers) and label values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from reaper.sandbox.kube.errors import FieldError, FieldErrorType, forbidden, invalid, required

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + "(\\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_KEY = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _LABEL_KEY + ")?"

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character"
)
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character"
)
_TOTAL_ANNOTATION_BYTES = 256 * 1024

NameCheck = Callable[[str], list[str]]


def _regex_error(message: str, pattern: str, *examples: str) -> str:
    """``validation.RegexError``."""
    if not examples:
        return f"{message} (regex used for validation is '{pattern}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{pattern}')"


def _max_len(length: int) -> str:
    return f"must be no more than {length} characters"


def _full(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def dns1123_label(value: str) -> list[str]:
    """``IsDNS1123Label``: problems with ``value``, none if valid."""
    errors = []
    if len(value) > 63:
        errors.append(_max_len(63))
    if not _full(_DNS1123_LABEL, value):
        if _full(_DNS1123_SUBDOMAIN, value):
            errors.append("must not contain dots")
        else:
            errors.append(_regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL, "my-name", "123-abc"))
    return errors


def dns1123_subdomain(value: str) -> list[str]:
    """``IsDNS1123Subdomain``."""
    errors = []
    if len(value) > 253:
        errors.append(_max_len(253))
    if not _full(_DNS1123_SUBDOMAIN, value):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN, "example.com"))
    return errors


def dns1035_label(value: str) -> list[str]:
    """``IsDNS1035Label`` (service names)."""
    errors = []
    if len(value) > 63:
        errors.append(_max_len(63))
    if not _full(_DNS1035_LABEL, value):
        errors.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL, "my-name", "abc-123"))
    return errors


def label_key(value: str) -> list[str]:
    """``IsQualifiedName`` / ``IsLabelKey``: an optional DNS subdomain prefix and a name."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + m for m in dns1123_subdomain(prefix))
    else:
        return [
            "a valid label key "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part " + _max_len(63))
    if not _full(_LABEL_KEY, name):
        errors.append(
            "name part " + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY, "MyName", "my.name", "123-abc")
        )
    return errors


def label_value(value: str) -> list[str]:
    """``IsValidLabelValue``."""
    errors = []
    if len(value) > 63:
        errors.append(_max_len(63))
    if not _full(_LABEL_VALUE, value):
        errors.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE, "MyValue", "my_value", "12345"))
    return errors


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """``ValidateLabels``: every key a qualified name, every value a label value."""
    if labels is None:
        return []
    if not isinstance(labels, Mapping):
        return [invalid(path, labels, "must be a map of strings")]
    errors: list[FieldError] = []
    for key, value in labels.items():
        errors.extend(invalid(path, key, m) for m in label_key(str(key)))
        if not isinstance(value, str):
            errors.append(invalid(path, value, "must be a string"))
            continue
        errors.extend(invalid(path, value, m) for m in label_value(value))
    return errors


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    """``ValidateAnnotations``: lower-cased qualified-name keys, at most 256 KiB in all."""
    if annotations is None:
        return []
    if not isinstance(annotations, Mapping):
        return [invalid(path, annotations, "must be a map of strings")]
    errors: list[FieldError] = []
    total = 0
    for key, value in annotations.items():
        errors.extend(invalid(path, key, m) for m in label_key(str(key).lower()))
        if not isinstance(value, str):
            errors.append(invalid(path, value, "must be a string"))
            continue
        total += len(key) + len(value)
    if total > _TOTAL_ANNOTATION_BYTES:
        errors.append(
            FieldError(
                FieldErrorType.TOO_LONG,
                path,
                detail=f"must have at most {_TOTAL_ANNOTATION_BYTES} bytes",
            )
        )
    return errors


def validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    """``ValidateFinalizers``: qualified names, no duplicates."""
    if finalizers is None:
        return []
    if not isinstance(finalizers, list):
        return [invalid(path, finalizers, "must be a list of strings")]
    errors: list[FieldError] = []
    for index, name in enumerate(finalizers):
        errors.extend(invalid(f"{path}[{index}]", name, m) for m in label_key(str(name)))
    return errors


def validate_object_meta(
    meta: Mapping[str, Any], *, check_name: NameCheck, namespaced: bool
) -> list[FieldError]:
    """``ValidateObjectMeta`` for a create or an update: name, labels, annotations, finalizers."""
    errors: list[FieldError] = []
    name = meta.get("name") or ""
    if not name:
        if not meta.get("generateName"):
            errors.append(required("metadata.name", "name or generateName is required"))
    else:
        errors.extend(invalid("metadata.name", name, m) for m in check_name(str(name)))
    if namespaced and not meta.get("namespace"):
        errors.append(required("metadata.namespace"))
    if not namespaced and meta.get("namespace"):
        errors.append(forbidden("metadata.namespace", "not allowed on this type"))
    errors.extend(validate_labels(meta.get("labels"), "metadata.labels"))
    errors.extend(validate_annotations(meta.get("annotations"), "metadata.annotations"))
    errors.extend(validate_finalizers(meta.get("finalizers"), "metadata.finalizers"))
    return errors


def render_map(value: Mapping[str, Any]) -> str:
    """A map as the validation messages quote it: compact JSON with sorted keys. Pure."""
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"))
