"""Google Cloud clients over REST: one set per project and service, built on first use.

Credentials are Application Default Credentials (Workload Identity on GKE), impersonating
a project's service account when the config names one; an ``http://`` endpoint, which the
config allows on loopback only (the sandbox, emulators), gets anonymous credentials.
Nothing is looked up until a client is first needed, so building the kinds needs none.
The projects are the configured ones and, with ``organization`` or ``folders``, those
Resource Manager lists there (:mod:`.organization`), on first use and again after
``rediscover_after`` (:class:`~reaper.providers.discovery.Rediscovered`, shared with AWS).

Every request goes through :meth:`GcpClients.call`: google-api-core's ``Retry`` backs off
on 429, 5xx, 403 ``rateLimitExceeded`` and a dropped connection, and on a read timeout
(``requests`` raises ``ReadTimeout``, which the REST transports pass through) for the
requests that are safe to send again: reads, operation waits and mutations carrying a
``requestId`` (the API runs one ``requestId`` once), never other mutations. Each attempt
is counted with ``on_request`` under the API's method name
(``compute.instances.aggregatedList``); SDK errors leave as
:class:`~reaper.errors.ProviderError`, chained. The clients' own retries are turned off
(``retry=None`` at every call), so no attempt goes uncounted. A reply that cannot be
parsed is a ProviderError too (a collect error of its scope), never a traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import google.auth
import requests
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.api_core.gapic_v1.client_info import ClientInfo
from google.api_core.retry import Retry
from google.auth import impersonated_credentials
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.exceptions import GoogleAuthError, TransportError
from google.cloud import compute_v1, container_v1, resourcemanager_v3
from google.protobuf import json_format

from reaper import __version__
from reaper.config import GCP_ORGANIZATION_SCOPE, GcpProject, GcpSettings
from reaper.errors import ProviderError
from reaper.model import Scope
from reaper.providers.base import OnRequest
from reaper.providers.discovery import Rediscovered
from reaper.providers.gcp.organization import (
    ResourceManagerLister,
    discover,
    merge_projects,
)
from reaper.safetext import clean
from reaper.workers import map_bounded

log = logging.getLogger(__name__)

PROVIDER = "gcp"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
T = TypeVar("T")
R = TypeVar("R")

_RETRIED = (
    gexc.TooManyRequests,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    requests.exceptions.ConnectionError,
    TransportError,
)
_READS = frozenset({"get", "list", "aggregatedList", "wait", "search"})
"""The last part of the method names that only read: sent again after a timeout."""
_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})
_MAX_DETAIL = 200


@dataclass(frozen=True)
class GcpConnection:
    """How patiently to retry and wait: the sandbox's and the tests' ``connection`` for
    ``gcp``. Where to connect is in the config (``providers.gcp.endpoints``)."""

    retry_initial: float = 1.0
    """First backoff after a throttled or failed attempt, in seconds; doubles each time."""
    retry_maximum: float = 32.0
    retry_deadline: float = 120.0
    """How long one request may be retried in all."""
    request_timeout: float = 60.0
    operation_timeout: float = 300.0
    """How long an action waits for the operations it started (a delete, a stop)."""
    poll_seconds: float = 5.0
    """Between polls of GKE operations, which have no server-side wait."""
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    """A monotonic clock in seconds: when the organization's projects are listed again,
    and when a wait for operations gives up (``operation_timeout``)."""


def is_rate_limited(err: BaseException) -> bool:
    """True for a 403 that is a rate limit (``rateLimitExceeded``), not a denial."""
    if not isinstance(err, gexc.Forbidden):
        return False
    reasons = {str(e.get("reason", "")) for e in err.errors or [] if isinstance(e, Mapping)}
    return bool(reasons & _RATE_REASONS) or err.reason in _RATE_REASONS


def retriable(err: BaseException) -> bool:
    """The errors worth another attempt: throttling, server errors, a dropped connection."""
    return isinstance(err, _RETRIED) or is_rate_limited(err)


def retriable_when_idempotent(err: BaseException) -> bool:
    """``retriable``, and a timeout: for requests that may safely be sent twice."""
    return retriable(err) or isinstance(err, requests.exceptions.Timeout)


def idempotent(method: str) -> bool:
    """Whether a method, by its name, only reads (``compute.instances.get``). Pure."""
    return method.rsplit(".", 1)[-1] in _READS


@dataclass(frozen=True)
class Compute:
    """The Compute Engine clients of one project."""

    instances: compute_v1.InstancesClient
    zone_operations: compute_v1.ZoneOperationsClient
    global_operations: compute_v1.GlobalOperationsClient
    disks: compute_v1.DisksClient
    images: compute_v1.ImagesClient
    firewalls: compute_v1.FirewallsClient
    group_managers: compute_v1.InstanceGroupManagersClient


@dataclass(frozen=True)
class ResourceManager:
    """The Resource Manager v3 clients that list an organization's projects and folders."""

    projects: resourcemanager_v3.ProjectsClient
    folders: resourcemanager_v3.FoldersClient


class GcpClients:
    """Hands out cached clients per project and runs every request (see the module doc)."""

    def __init__(
        self,
        settings: GcpSettings,
        connection: GcpConnection | None = None,
        on_request: OnRequest | None = None,
    ) -> None:
        self.settings = settings
        self.connection = connection or GcpConnection()
        self._on_request = on_request
        self._lock = threading.Lock()
        self._compute: dict[str, Compute] = {}
        self._gke: dict[str, container_v1.ClusterManagerClient] = {}
        self._resourcemanager: ResourceManager | None = None
        self._adc: Credentials | None = None
        self._impersonated: dict[str, Credentials] = {}
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._projects = Rediscovered(
            settings.projects,
            lambda project: project.name,
            listing=partial(discover, ResourceManagerLister(self), settings)
            if settings.discovers
            else None,
            merge=merge_projects,
            every=settings.rediscover_after,
            what="the projects of the organization and folders",
            clock=self.connection.clock,
        )
        self._holding = threading.local()
        self._info = ClientInfo(user_agent=f"reaper/{__version__}")  # type: ignore[no-untyped-call]
        c = self.connection
        self._retry = Retry(
            predicate=retriable,
            initial=c.retry_initial,
            maximum=c.retry_maximum,
            multiplier=2.0,
            timeout=c.retry_deadline,
            on_error=lambda err: log.info("retrying after %s", _describe(err)),
        )
        self._retry_idempotent = self._retry.with_predicate(retriable_when_idempotent)

    @property
    def workers(self) -> int:
        """Concurrent requests one action may send to one project."""
        return self.settings.max_workers_per_account or self.settings.max_workers

    def project(self, scope: Scope) -> GcpProject:
        """The project of a scope; for the error scope of a failed listing, that failure.
        Raises ProviderError."""
        found = self._projects.get(scope.account)
        if found is not None:
            return found
        if scope.account == GCP_ORGANIZATION_SCOPE and self._projects.error is not None:
            raise self._projects.failure()
        raise ProviderError(f"no GCP project named {scope.account!r} is configured")

    def projects(self) -> Sequence[GcpProject]:
        """The projects swept: the configured ones, then those found in the organization
        and folders (listed on first use and again after ``rediscover_after``)."""
        return self._projects.items()

    def error_scopes(self) -> list[Scope]:
        """One scope whose collectors fail with the listing's error, while it fails."""
        return [] if self._projects.error is None else [Scope(GCP_ORGANIZATION_SCOPE, "")]

    def is_error_scope(self, scope: Scope) -> bool:
        """True for the scope of a failed listing (every shard collects it)."""
        return scope.account == GCP_ORGANIZATION_SCOPE

    # -- clients ---------------------------------------------------------------------

    def compute(self, project: GcpProject) -> Compute:
        with self._lock:
            found = self._compute.get(project.name)
            if found is None:
                endpoint = self.settings.endpoints.compute
                with translate_errors(f"credentials for project {project.name}"):
                    options = _options(endpoint)
                    credentials = self._credentials(project, endpoint)
                kwargs: dict[str, Any] = {
                    "credentials": credentials,
                    "client_options": options,
                    "client_info": self._info,
                    "transport": "rest",
                }
                found = Compute(
                    compute_v1.InstancesClient(**kwargs),
                    compute_v1.ZoneOperationsClient(**kwargs),
                    compute_v1.GlobalOperationsClient(**kwargs),
                    compute_v1.DisksClient(**kwargs),
                    compute_v1.ImagesClient(**kwargs),
                    compute_v1.FirewallsClient(**kwargs),
                    compute_v1.InstanceGroupManagersClient(**kwargs),
                )
                self._compute[project.name] = found
            return found

    def gke(self, project: GcpProject) -> container_v1.ClusterManagerClient:
        with self._lock:
            found = self._gke.get(project.name)
            if found is None:
                endpoint = self.settings.endpoints.container
                with translate_errors(f"credentials for project {project.name}"):
                    credentials = self._credentials(project, endpoint)
                # GKE's default transport is gRPC; REST goes through the same endpoints
                # (and proxies) as Compute Engine.
                found = container_v1.ClusterManagerClient(
                    credentials=credentials,
                    client_options=_options(endpoint),
                    client_info=self._info,
                    transport="rest",
                )
                self._gke[project.name] = found
            return found

    def resourcemanager(self) -> ResourceManager:
        """Resource Manager with Application Default Credentials as they are (no project's
        service account): they list the organization and folders."""
        with self._lock:
            if self._resourcemanager is None:
                endpoint = self.settings.endpoints.resourcemanager
                with translate_errors("credentials for Resource Manager"):
                    credentials = self._credentials(None, endpoint)
                kwargs: dict[str, Any] = {
                    "credentials": credentials,
                    "client_options": _options(endpoint),
                    "client_info": self._info,
                    "transport": "rest",
                }
                self._resourcemanager = ResourceManager(
                    resourcemanager_v3.ProjectsClient(**kwargs),
                    resourcemanager_v3.FoldersClient(**kwargs),
                )
            return self._resourcemanager

    def _credentials(self, project: GcpProject | None, endpoint: str | None) -> Credentials:
        """Called with the lock held."""
        if endpoint is not None and endpoint.startswith("http://"):
            return AnonymousCredentials()  # type: ignore[no-untyped-call]
        if self._adc is None:
            self._adc, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
        account = None if project is None else project.impersonate_service_account
        if account is None:
            return self._adc
        found = self._impersonated.get(account)
        if found is None:
            found = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
                source_credentials=self._adc,
                target_principal=account,
                target_scopes=[CLOUD_PLATFORM],
                lifetime=3600,
            )
            self._impersonated[account] = found
        return found

    def principal(self, scope: Scope, endpoint: str | None) -> str:
        """Who reaper acts as in a project through ``endpoint``, for the audit trail;
        never a network call."""
        if endpoint is not None and endpoint.startswith("http://"):
            return "anonymous"
        project = self.project(scope)
        if project.impersonate_service_account:
            return project.impersonate_service_account
        with self._lock:
            email = getattr(self._adc, "service_account_email", None)
        if isinstance(email, str) and "@" in email:
            return email
        return "application-default-credentials"

    # -- requests --------------------------------------------------------------------

    def call(
        self, method: str, where: str, send: Callable[[], T], *, request_id: bool = False
    ) -> T:
        """Send one request (``send`` calls a client with ``retry=None``), with retries.

        ``method`` is the API method name it is counted under; ``where`` says what it was
        for in an error (``instance vm-1 in ci/us-central1-a``). A read (by its method
        name) or a mutation whose ``send`` carries one ``requestId`` over every attempt
        (``request_id``) is retried after a timeout too. Raises ProviderError.
        """

        def attempt() -> T:
            self._count(method)
            return send()

        retry = self._retry_idempotent if request_id or idempotent(method) else self._retry
        with translate_errors(f"{method} ({where})"):
            return retry(attempt)()

    def pages(self, method: str, where: str, fetch: Callable[[str], Any]) -> Iterator[Any]:
        """Every page of a list call, each fetched with ``call``: ``fetch(token)`` calls the
        client (``retry=None``) for the page after ``token`` ("" for the first)."""
        token = ""
        while True:
            page = self.call(method, where, partial(_first_page, fetch, token))
            yield page
            token = page.next_page_token
            if not token:
                return

    @property
    def timeout(self) -> float:
        return self.connection.request_timeout

    def _count(self, method: str) -> None:
        if self._on_request is None:
            return
        try:
            self._on_request(PROVIDER, method)
        except Exception:
            # Counting must never fail a request.
            log.exception("on_request callback failed for %s", method)

    @contextmanager
    def slot(self, project: GcpProject) -> Iterator[None]:
        """Hold one of the project's request slots (``max_workers_per_account``)."""
        with self._lock:
            semaphore = self._semaphores.get(project.name)
            if semaphore is None:
                semaphore = threading.BoundedSemaphore(self.workers)
                self._semaphores[project.name] = semaphore
        with semaphore:
            self._holding.active = True
            try:
                yield
            finally:
                self._holding.active = False

    def parallel(self, project: GcpProject, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``work`` on every item, at most ``workers`` at once in the project; in order.

        Called from work that already holds a slot, it runs the items one after another
        in that slot: waiting for more slots while holding one could wait forever.
        """
        if getattr(self._holding, "active", False):
            return [work(item) for item in items]

        def one(item: T) -> R:
            with self.slot(project):
                return work(item)

        return map_bounded(one, items, self.workers, "reaper-gcp")


def _first_page(fetch: Callable[[str], Any], token: str) -> Any:
    """The page a list call fetched. Iterating its pager further would fetch the next
    pages itself, outside reaper's retries and request counts: ``pages`` pages by hand."""
    pages: Iterator[Any] = iter(fetch(token).pages)
    return next(pages)


def _options(endpoint: str | None) -> ClientOptions | None:
    return None if endpoint is None else ClientOptions(api_endpoint=endpoint)


# -- errors --------------------------------------------------------------------------------


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Turn SDK errors into ProviderError, chained, with the HTTP status and reason kept."""
    try:
        yield
    except gexc.RetryError as err:
        cause = err.cause if isinstance(err.cause, BaseException) else err
        raise ProviderError(f"{operation} failed after retries: {_describe(cause)}") from cause
    except gexc.GoogleAPICallError as err:
        raise ProviderError(f"{operation} failed: {_describe(err)}") from err
    except (GoogleAuthError, requests.exceptions.RequestException) as err:
        raise ProviderError(f"{operation} failed: {_describe(err)}") from err
    except (json_format.Error, RecursionError) as err:
        # A reply that does not parse: not JSON, a field of the wrong type, or an error
        # body nested past the recursion limit (which the error parser does not catch).
        # Its message may quote the reply: one line, clipped.
        detail = clean(f"{type(err).__name__}: {err}", _MAX_DETAIL)
        raise ProviderError(f"{operation} failed: unparseable response: {detail}") from err


def _describe(err: BaseException) -> str:
    if isinstance(err, gexc.GoogleAPICallError):
        reason = reason_of(err) or type(err).__name__
        return f"HTTP {err.code} {reason}: {message_of(err)}"
    return f"{type(err).__name__}: {err}"


def reason_of(err: BaseException) -> str:
    """The first error reason the API gave (``notFound``, ``resourceNotReady``), or ""."""
    if isinstance(err, ProviderError):
        return reason_of(err.__cause__) if err.__cause__ is not None else ""
    if not isinstance(err, gexc.GoogleAPICallError):
        return ""
    for item in err.errors or []:
        if isinstance(item, Mapping) and item.get("reason"):
            return str(item["reason"])
    return err.reason or ""


def message_of(err: BaseException) -> str:
    """The API's own message, without the client's ``GET http://…:`` prefix."""
    if isinstance(err, ProviderError):
        return message_of(err.__cause__) if err.__cause__ is not None else str(err)
    if isinstance(err, gexc.GoogleAPICallError):
        for item in err.errors or []:
            if isinstance(item, Mapping) and item.get("message"):
                return str(item["message"])
        return _answered_message(err) or err.message or str(err)
    return str(err)


def _answered_message(err: gexc.GoogleAPICallError) -> str:
    """``error.message`` of an HTTP answer whose body has no ``errors`` list (the newer
    APIs' shape, Resource Manager v3's), or ""."""
    try:
        body = err.response.json() if err.response is not None else None
    except (ValueError, AttributeError):
        return ""
    error = body.get("error") if isinstance(body, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    return clean(message, _MAX_DETAIL) if isinstance(message, str) else ""


def status_of(err: BaseException) -> int | None:
    """The HTTP status of a ProviderError's cause, if it was an API answer."""
    cause = err.__cause__ if isinstance(err, ProviderError) else err
    if isinstance(cause, gexc.GoogleAPICallError) and cause.code is not None:
        return int(cause.code)
    return None
