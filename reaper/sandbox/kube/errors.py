"""The API's failures as ``Status`` objects, built the way apimachinery builds them.

Each constructor mirrors one of ``k8s.io/apimachinery/pkg/api/errors`` (``NewNotFound``,
``NewAlreadyExists``, ``NewConflict``, ``NewInvalid``, ``NewResourceExpired`` ...): the same
HTTP code, ``reason``, ``details`` (whose ``kind`` is the *resource* for most errors and the
*Kind* for ``Invalid``) and message text. Field errors render like ``field.Error``
(``metadata.name: Invalid value: "Bad_Name": ...``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON = dict[str, Any]

# What the optimistic-concurrency conflict says (storage.OptimisticLockErrorMsg).
MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
# etcd3's message for a continue token whose revision was compacted away, when it can offer
# an inconsistent token to finish the list with.
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token in "
    "this response to retrieve the remainder of the results. Continuing with the provided "
    "token results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)


class FieldErrorType(StrEnum):
    """``field.ErrorType``: the value is the cause ``reason`` a Status carries."""

    INVALID = "FieldValueInvalid"
    REQUIRED = "FieldValueRequired"
    FORBIDDEN = "FieldValueForbidden"
    NOT_SUPPORTED = "FieldValueNotSupported"
    DUPLICATE = "FieldValueDuplicate"
    TOO_LONG = "FieldValueTooLong"


_TYPE_TEXT = {
    FieldErrorType.INVALID: "Invalid value",
    FieldErrorType.REQUIRED: "Required value",
    FieldErrorType.FORBIDDEN: "Forbidden",
    FieldErrorType.NOT_SUPPORTED: "Unsupported value",
    FieldErrorType.DUPLICATE: "Duplicate value",
    FieldErrorType.TOO_LONG: "Too long",
}
# Types whose text never shows the bad value (field.Error.ErrorBody).
_VALUELESS = {FieldErrorType.REQUIRED, FieldErrorType.FORBIDDEN, FieldErrorType.TOO_LONG}
_OMIT = object()


@dataclass(frozen=True)
class FieldError:
    """One ``field.Error``."""

    type: FieldErrorType
    """What is wrong."""
    field: str
    """The JSON path of the offending field, e.g. ``metadata.labels``."""
    value: Any = _OMIT
    """The offending value, shown in the message for the types that show one."""
    detail: str = ""
    """The explanation appended after the value."""

    def body(self) -> str:
        """``ErrorBody``: the message without the field path. Pure."""
        text = _TYPE_TEXT[self.type]
        if self.type not in _VALUELESS and self.value is not _OMIT:
            text += f": {_render(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def invalid(path: str, value: Any, detail: str) -> FieldError:
    """``field.Invalid``. Pure."""
    return FieldError(FieldErrorType.INVALID, path, value, detail)


def required(path: str, detail: str = "") -> FieldError:
    """``field.Required``. Pure."""
    return FieldError(FieldErrorType.REQUIRED, path, detail=detail)


def forbidden(path: str, detail: str) -> FieldError:
    """``field.Forbidden``. Pure."""
    return FieldError(FieldErrorType.FORBIDDEN, path, detail=detail)


def not_supported(path: str, value: Any, supported: Sequence[str]) -> FieldError:
    """``field.NotSupported``. Pure."""
    listed = ", ".join(json.dumps(item) for item in supported)
    return FieldError(FieldErrorType.NOT_SUPPORTED, path, value, f"supported values: {listed}")


def _render(value: Any) -> str:
    """Go's ``%q`` for strings, ``%v`` for numbers and booleans, JSON for the rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def aggregate(messages: Sequence[str]) -> str:
    """``utilerrors.NewAggregate(...).Error()``: one message, or ``[a, b]`` deduplicated. Pure."""
    unique = list(dict.fromkeys(messages))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"


@dataclass
class ApiError(Exception):
    """A request that ends in a ``Status`` with a failure code."""

    code: int
    """The HTTP status code."""
    reason: str
    """``StatusReason``: NotFound, AlreadyExists, Conflict, Invalid, Expired, ..."""
    message: str
    """The human-readable message."""
    details: JSON | None = None
    """``StatusDetails`` (name, group, kind, causes, retryAfterSeconds), if any."""
    list_meta: JSON = field(default_factory=dict)
    """The Status's ``metadata`` (a ``ListMeta``); an expired list puts ``continue`` here."""

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def status(self) -> JSON:
        """The ``Status`` object for the response body. Pure."""
        body: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.list_meta),
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def qualified(resource: str, group: str) -> str:
    """``schema.GroupResource.String()``: ``leases.coordination.k8s.io``, or ``namespaces``."""
    return f"{resource}.{group}" if group else resource


def _details(group: str, kind: str, name: str = "") -> JSON:
    details: JSON = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    return details


def not_found(resource: str, group: str, name: str) -> ApiError:
    """``NewNotFound``."""
    return ApiError(
        404,
        "NotFound",
        f"{qualified(resource, group)} {json.dumps(name)} not found",
        _details(group, resource, name),
    )


def already_exists(resource: str, group: str, name: str) -> ApiError:
    """``NewAlreadyExists``."""
    return ApiError(
        409,
        "AlreadyExists",
        f"{qualified(resource, group)} {json.dumps(name)} already exists",
        _details(group, resource, name),
    )


def conflict(resource: str, group: str, name: str, why: str = MODIFIED) -> ApiError:
    """``NewConflict``; by default the optimistic-lock failure of a stale resourceVersion."""
    return ApiError(
        409,
        "Conflict",
        f"Operation cannot be fulfilled on {qualified(resource, group)} {json.dumps(name)}: {why}",
        _details(group, resource, name),
    )


def invalid_object(kind: str, group: str, name: str, errors: Sequence[FieldError]) -> ApiError:
    """``NewInvalid``: 422 naming the *Kind*, with one cause per field error."""
    causes = [{"reason": str(e.type), "message": e.body(), "field": e.field} for e in errors]
    details = _details(group, kind, name)
    details["causes"] = causes
    subject = f"{kind}.{group}" if group else kind
    message = f"{subject} {json.dumps(name)} is invalid"
    if errors:
        message += ": " + aggregate([str(e) for e in errors])
    return ApiError(422, "Invalid", message, details)


def bad_request(message: str) -> ApiError:
    """``NewBadRequest``: no details."""
    return ApiError(400, "BadRequest", message)


def forbidden_request(resource: str, group: str, name: str, why: str) -> ApiError:
    """``NewForbidden``."""
    subject = qualified(resource, group)
    message = (
        f"{subject} {json.dumps(name)} is forbidden: {why}"
        if name
        else f"{subject} is forbidden: {why}"
    )
    return ApiError(403, "Forbidden", message, _details(group, resource, name))


def expired(message: str, continue_token: str = "") -> ApiError:
    """``NewResourceExpired`` (410 Gone, reason ``Expired``), with an inconsistent token."""
    meta = {"continue": continue_token} if continue_token else {}
    return ApiError(410, "Expired", message, None, meta)


def method_not_allowed(resource: str, group: str, action: str) -> ApiError:
    """``NewMethodNotSupported``."""
    return ApiError(
        405,
        "MethodNotAllowed",
        f"{action} is not supported on resources of kind {json.dumps(qualified(resource, group))}",
        _details(group, resource),
    )


def generic(code: int, message: str = "", retry_after: int | None = None) -> ApiError:
    """A failure injected by a test, shaped like the server's own for that code."""
    reasons = {
        401: ("Unauthorized", "Unauthorized"),
        404: ("NotFound", "the server could not find the requested resource"),
        405: (
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
        406: (
            "NotAcceptable",
            "the server was unable to respond with a content type that the client supports",
        ),
        409: ("Conflict", "the server reported a conflict"),
        410: ("Expired", "the resource has expired"),
        415: ("UnsupportedMediaType", "the server does not support the media type"),
        422: ("Invalid", "the server rejected our request due to an error in our request"),
        429: ("TooManyRequests", "Too many requests, please try again later."),
        500: ("InternalError", "Internal error occurred: injected fault"),
        503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
        504: ("Timeout", "Timeout: request did not complete within the allowed duration"),
    }
    reason, default = reasons.get(
        code, ("InternalError" if code >= 500 else "BadRequest", f"HTTP {code}")
    )
    details: JSON | None = None
    if code == 500:
        details = {"causes": [{"message": message or "injected fault"}]}
    if retry_after is not None:
        details = {**(details or {}), "retryAfterSeconds": retry_after}
    return ApiError(code, reason, message or default, details)
