"""One API client per cluster, the raw JSON calls reaper makes, and the errors they raise.

Each configured cluster is reached through its kubeconfig context, or, with no context and
no kubeconfig inside a pod, through the pod's service account. Clients are built on first
use, so a kubeconfig that is missing or wrong is the collect error of its cluster alone.

Calls ask for the raw JSON (``_preload_content=False``): the generated models cost more CPU
to build than everything else a sweep does with a namespace, and reaper only reads a few
fields. Every HTTP attempt (urllib3 retries included) is reported to ``on_request``.
SDK errors come out as :class:`KubeApiError`, a ProviderError that keeps the HTTP status.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.util.retry import Retry

from reaper import __version__
from reaper.config import KubernetesCluster, KubernetesSettings
from reaper.errors import ProviderError
from reaper.model import Scope
from reaper.providers.base import OnRequest

log = logging.getLogger(__name__)

# The SDK's configuration loaders have no type hints.
load_from_dict = cast(Callable[..., None], config.load_kube_config_from_dict)
load_in_cluster = cast(Callable[..., None], config.load_incluster_config)
load_from_file = cast(Callable[..., None], config.load_kube_config)
_contexts_of = cast(
    Callable[[str], tuple[list[dict[str, Any]], dict[str, Any]]], config.list_kube_config_contexts
)

PROVIDER = "kubernetes"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where a pod finds its token and namespace."""
REQUEST_TIMEOUT = (10.0, 60.0)
"""Connect and read timeouts of every request, so an unreachable cluster fails its sweep."""
MERGE_PATCH = "application/merge-patch+json"
JSON = dict[str, Any]
NOT_FOUND = 404
CONFLICT = 409
GONE = 410


class KubeApiError(ProviderError):
    """A Kubernetes API call failed; ``status`` is the HTTP status (0: no answer at all)."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class KubeConnection:
    """How to reach clusters instead of their kubeconfig: the sandbox's and the tests'
    ``connections["kubernetes"]``. In production reaper reads the kubeconfig itself."""

    kubeconfigs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """A kubeconfig (as a dict) for each cluster name; others use their config entry."""
    own_namespace: str | None = None
    """reaper's own namespace, never touched; None: the pod's, if it runs in one."""


def own_namespace(account_dir: Path = SERVICE_ACCOUNT) -> str | None:
    """The namespace of the pod reaper runs in, from its service account; None outside."""
    try:
        return (account_dir / "namespace").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def in_a_pod(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether in-cluster configuration is available (the API server's service env)."""
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT / "token").exists()


def operation_of(method: str, url: str) -> str:
    """``list namespaces``, ``patch deployments/scale``: the API verb and resource. Pure."""
    path = urllib3.util.parse_url(url).path or ""
    parts = [p for p in path.split("/") if p]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]
    if not rest:
        return f"{method.lower()} {path}"
    resource, named = rest[0], len(rest) > 1
    subresource = f"/{rest[2]}" if len(rest) > 2 else ""
    verb = {
        "GET": "get" if named else "list",
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if named else "deletecollection",
    }.get(method.upper(), method.lower())
    return f"{verb} {resource}{subresource}"


class _CountingRetry(Retry):
    """urllib3's retries, reporting each further attempt they allow."""

    on_retry: Callable[[str, str], None] | None = None

    def new(self, **kw: Any) -> Self:
        fresh = super().new(**kw)
        fresh.on_retry = self.on_retry
        return fresh

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Self:
        fresh = super().increment(method, url, *args, **kwargs)
        if self.on_retry is not None:
            self.on_retry(method or "GET", url or "")
        return fresh


class _CountingApiClient(client.ApiClient):
    """An ApiClient that reports each request it sends."""

    def __init__(self, configuration: client.Configuration, on_send: Callable[[str, str], None]):
        super().__init__(configuration)
        self._on_send = on_send
        self.user_agent = f"reaper/{__version__}"

    def call_api(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        self._on_send(str(method), str(url))
        return super().call_api(method, url, *args, **kwargs)


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Turn the SDK's errors into KubeApiError, chained, with the status and reason kept."""
    try:
        yield
    except ApiException as err:
        reason, message = _status_of(err)
        status = int(err.status or 0)
        raise KubeApiError(
            f"{operation} failed: {status} {reason}: {message}".rstrip(": "), status, reason
        ) from err
    except (urllib3.exceptions.HTTPError, OSError, ConfigException) as err:
        raise KubeApiError(f"{operation} failed: {err}") from err


def _status_of(err: ApiException) -> tuple[str, str]:
    """The ``reason`` and ``message`` of the Status an API server answered with."""
    reason = str(err.reason or "")
    try:
        body = json.loads(err.body or "")
    except (TypeError, ValueError):
        return reason, ""
    if not isinstance(body, dict):
        return reason, ""
    return str(body.get("reason") or reason), str(body.get("message") or "")


def read_json(response: object) -> JSON:
    """The JSON object of a raw (``_preload_content=False``) response."""
    data = getattr(response, "data", b"")
    try:
        parsed = json.loads(data or b"{}")
    except ValueError as err:
        raise KubeApiError(
            f"the API server answered with something that is not JSON: {err}"
        ) from err
    if not isinstance(parsed, dict):
        raise KubeApiError("the API server answered with JSON that is not an object")
    return parsed


def unless_missing(operation: str, call: Callable[[], object]) -> JSON | None:
    """The JSON answer of a raw request (errors translated, see :func:`translate_errors`),
    or None when the API server answered 404 Not Found."""
    try:
        with translate_errors(operation):
            raw = call()
    except KubeApiError as err:
        if err.status == NOT_FOUND:
            return None
        raise
    return read_json(raw)


def load_configuration(
    configuration: client.Configuration,
    given: Mapping[str, Any] | None,
    *,
    context: str | None = None,
    kubeconfig: str | None = None,
) -> str:
    """Fill ``configuration`` the one way reaper chooses, and return the principal it acts
    as: ``given`` (a kubeconfig as a dict: the sandbox's, the tests'); else, with neither
    ``context`` nor ``kubeconfig`` named and inside a pod, the pod's service account; else
    the kubeconfig file (``kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``) at
    ``context`` (its current one if None). Raises the SDK's ConfigException, OSError or
    ValueError when the configuration cannot be read."""
    if given is not None:
        load_from_dict(
            dict(given),
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
        return _kubeconfig_user(given, context)
    if context is None and kubeconfig is None and in_a_pod():
        load_in_cluster(client_configuration=configuration)
        return _service_account()
    path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    load_from_file(
        config_file=os.path.expanduser(path),
        context=context,
        client_configuration=configuration,
        persist_config=False,
    )
    return _kubeconfig_file_user(path, context)


class Cluster:
    """The API groups reaper uses in one cluster, over one shared client."""

    def __init__(self, api_client: client.ApiClient, principal: str) -> None:
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.networking = client.NetworkingV1Api(api_client)
        self.principal = principal


class KubeClients:
    """Builds each cluster's client on first use and hands it out to every worker.
    Thread-safe; one cluster's build never waits for another's."""

    def __init__(
        self,
        settings: KubernetesSettings,
        connection: KubeConnection | None = None,
        on_request: OnRequest | None = None,
    ) -> None:
        self._settings = settings
        self._connection = connection or KubeConnection()
        self._on_request = on_request
        self._clusters = {c.name: c for c in settings.clusters}
        self._built: dict[str, Cluster] = {}
        self._building = {name: threading.Lock() for name in self._clusters}
        """One lock per cluster, held while its client is built: building runs the
        kubeconfig's exec credential plugin, which may take long or hang, and that must
        not hold up the other clusters."""
        self._lock = threading.Lock()
        """Guards ``_built`` only; never held while a client is built."""

    def scopes(self) -> list[Scope]:
        return [Scope(c.name, "") for c in self._settings.clusters]

    def cluster(self, scope: Scope) -> Cluster:
        """The cluster of a scope, built once (the first caller builds it; other callers
        for the same cluster wait for it, callers for other clusters do not). Raises
        KubeApiError when its configuration cannot be read."""
        name = scope.account
        with self._lock:
            found = self._built.get(name)
        if found is not None:
            return found
        with self._building[name]:
            with self._lock:
                found = self._built.get(name)
            if found is None:
                found = self._build(self._clusters[name])
                with self._lock:
                    self._built[name] = found
            return found

    def principal(self, scope: Scope) -> str:
        return self.cluster(scope).principal

    def _count(self, method: str, url: str) -> None:
        if self._on_request is None:
            return
        try:
            self._on_request(PROVIDER, operation_of(method, url))
        except Exception:
            # Counting must never fail a request.
            log.exception("on_request callback failed for %s %s", method, url)

    def _build(self, cluster: KubernetesCluster) -> Cluster:
        configuration = client.Configuration()
        given = self._connection.kubeconfigs.get(cluster.name)
        where = f"cluster {cluster.name}"
        with translate_errors(f"{where}: reading its configuration"):
            principal = load_configuration(
                configuration, given, context=cluster.context, kubeconfig=cluster.kubeconfig
            )
        retry = _CountingRetry(total=3, backoff_factor=0.2)
        retry.on_retry = self._count
        configuration.retries = retry
        configuration.connection_pool_maxsize = max(10, self._settings.max_workers * 2)
        return Cluster(_CountingApiClient(configuration, self._count), principal)


def _kubeconfig_user(kubeconfig: Mapping[str, Any], context: str | None) -> str:
    name = context or kubeconfig.get("current-context") or ""
    for entry in kubeconfig.get("contexts") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            user = (entry.get("context") or {}).get("user")
            return f"kubeconfig user {user}" if user else f"kubeconfig context {name}"
    return f"kubeconfig context {name}"


def _kubeconfig_file_user(path: str, context: str | None) -> str:
    try:
        contexts, active = _contexts_of(os.path.expanduser(path))
    except (ConfigException, OSError, ValueError):
        return f"kubeconfig context {context or '(current)'}"
    chosen = next((c for c in contexts if c.get("name") == context), active) if context else active
    user = ((chosen or {}).get("context") or {}).get("user")
    return f"kubeconfig user {user}" if user else f"kubeconfig context {context or '(current)'}"


def _service_account() -> str:
    """``system:serviceaccount:<namespace>:<name>``, read from the token's claims."""
    try:
        token = (SERVICE_ACCOUNT / "token").read_text(encoding="utf-8").strip()
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("sub") or "service account")
    except (OSError, IndexError, ValueError, binascii.Error):
        return "service account"
