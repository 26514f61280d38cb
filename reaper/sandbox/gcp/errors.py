"""The error bodies of the two APIs, as the real services write them.

Compute Engine answers ``{"error": {"code", "message", "errors": [{"message", "domain",
"reason", ...}]}}``: the shape recorded in googleapis/google-cloud-go#7802 (412
``conditionNotMet`` with ``location: If-Match``) and in libcloud's GCE fixtures. GKE
answers ``{"error": {"code", "message", "status"}}`` (forseti-security's recorded 400),
and Go clients print a legacy reason after it ("..., failedPrecondition"), so the
``errors`` list is kept too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

JsonObject = dict[str, Any]

_STATUS_REASONS = {
    "INVALID_ARGUMENT": "badRequest",
    "FAILED_PRECONDITION": "failedPrecondition",
    "NOT_FOUND": "notFound",
    "ALREADY_EXISTS": "alreadyExists",
    "RESOURCE_EXHAUSTED": "rateLimitExceeded",
    "PERMISSION_DENIED": "forbidden",
    "UNAVAILABLE": "backendError",
    "UNIMPLEMENTED": "notImplemented",
}


class ApiError(Exception):
    """An HTTP error answer: the handler raises it, the server writes ``body`` as JSON."""

    def __init__(self, status: int, body: JsonObject) -> None:
        super().__init__(f"HTTP {status}: {body['error'].get('message', '')}")
        self.status = status
        self.body = body


def compute_error(
    status: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    extra: JsonObject | None = None,
    status_name: str | None = None,
    details: list[JsonObject] | None = None,
) -> ApiError:
    """A Compute Engine error; ``extra`` adds keys such as ``location`` to the error item."""
    item: JsonObject = {"message": message, "domain": domain, "reason": reason, **(extra or {})}
    error: JsonObject = {"code": status, "message": message, "errors": [item]}
    if status_name is not None:
        error["status"] = status_name
    if details:
        error["details"] = details
    return ApiError(status, {"error": error})


def compute_not_found(resource: str) -> ApiError:
    """404 for a Compute resource path such as ``projects/p/zones/z/instances/x``."""
    return compute_error(404, "notFound", f"The resource '{resource}' was not found")


def compute_invalid(message: str, reason: str = "invalid") -> ApiError:
    """400 for a request Compute Engine refuses to parse or validate."""
    return compute_error(400, reason, message)


def gke_error(
    status: int, status_name: str, message: str, details: list[JsonObject] | None = None
) -> ApiError:
    """A GKE (container v1) error with its canonical status name."""
    reason = _STATUS_REASONS.get(status_name, status_name.lower())
    item = {"message": message, "domain": "global", "reason": reason}
    error: JsonObject = {
        "code": status,
        "message": message,
        "errors": [item],
        "status": status_name,
    }
    if details:
        error["details"] = details
    return ApiError(status, {"error": error})


def gke_not_found(resource: str) -> ApiError:
    """404 as GKE words it: ``Not found: projects/p/locations/l/clusters/c.``"""
    return gke_error(404, "NOT_FOUND", f"Not found: {resource}.")


def gke_invalid(message: str) -> ApiError:
    """400 INVALID_ARGUMENT for a GKE request the service rejects."""
    return gke_error(400, "INVALID_ARGUMENT", message)


def reject_unknown_fields(body: Iterable[str], known: frozenset[str], *, gke: bool) -> None:
    """400 for a body field the API's message does not have, worded as ESF words it."""
    for name in body:
        if name not in known:
            message = f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
            if gke:
                raise gke_invalid(message)
            raise compute_error(400, "invalid", message, status_name="INVALID_ARGUMENT")


def quota_error(
    status: int, *, gke: bool, service: str, project_number: int, read: bool
) -> ApiError:
    """The answer to an injected rate-limit or outage, in the family's own format.

    429 is today's per-minute quota answer (RESOURCE_EXHAUSTED, reason rateLimitExceeded);
    403 with the same reason is the older per-100-seconds one, still seen from Compute
    (terraform-provider-google#8360); 503 is a transient backend failure.
    """
    consumer = f"project_number:{project_number}"
    kind = "Read requests" if read else "Write requests"
    if status == 429:
        message = (
            f"Quota exceeded for quota metric '{kind}' and limit '{kind} per minute' "
            f"of service '{service}' for consumer '{consumer}'."
        )
        details = _quota_details(service, consumer, kind)
        if gke:
            return gke_error(429, "RESOURCE_EXHAUSTED", message, details)
        return compute_error(
            429,
            "rateLimitExceeded",
            message,
            domain="usageLimits",
            status_name="RESOURCE_EXHAUSTED",
            details=details,
        )
    if status == 403:
        group = "ReadGroup" if read else "WriteGroup"
        message = (
            f"Quota exceeded for quota group '{group}' and limit '{kind} per 100 seconds' "
            f"of service '{service}' for consumer '{consumer}'."
        )
        return compute_error(403, "rateLimitExceeded", message, domain="usageLimits")
    message = "The service is currently unavailable."
    if gke:
        return gke_error(503, "UNAVAILABLE", message)
    return compute_error(503, "backendError", message, status_name="UNAVAILABLE")


def _quota_details(service: str, consumer: str, kind: str) -> list[JsonObject]:
    """The ErrorInfo and Help details a quota answer carries (as recorded in
    GoogleCloudPlatform/marketing-analytics-jumpstart#163); clients expose the reason."""
    metric = "read_requests" if kind.startswith("Read") else "write_requests"
    limit = (
        "ReadRequestsPerMinutePerProject"
        if metric == "read_requests"
        else "WriteRequestsPerMinutePerProject"
    )
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {
                "consumer": "projects/" + consumer.split(":", 1)[1],
                "quota_metric": f"{service}/{metric}",
                "quota_limit": limit,
                "service": service,
            },
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Request a higher quota limit.",
                    "url": "https://cloud.google.com/docs/quotas/help/request_increase",
                }
            ],
        },
    ]


def denied_error(method: str, *, gke: bool) -> ApiError:
    """403 for a missing permission, as each family words it (an injected denial)."""
    permission = method.replace("projects.locations.", "").replace("projects.zones.", "")
    message = f"Required '{permission}' permission for the resource"
    if gke:
        return gke_error(403, "PERMISSION_DENIED", message)
    return compute_error(403, "forbidden", message)
