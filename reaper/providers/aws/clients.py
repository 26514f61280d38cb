"""boto3 sessions and clients: one client per (account, region, service), shared by workers.

Credentials come from the standard AWS environment (AWS_PROFILE, instance and pod roles,
IRSA); per account, an optional role is assumed with automatically refreshed credentials.
The accounts are the configured ones and, with ``organization``, the organization's
(:mod:`.organization`), listed on first use and again after ``rediscover_after``.

Built to sweep hundreds of accounts in one process:

* AssumeRole is called at most once per account (the credentials refresh themselves when
  they near expiry); a refused AssumeRole is remembered for ``ASSUME_RETRY_SECONDS``, so
  the account's other regions fail at once instead of asking again.
* Every account's session shares the base session's loader, so service models are parsed
  once per process, and AssumeRole goes through one STS client.
* Client classes are built once per service (:func:`_shared_client_classes`) and at most
  ``client_cache_size`` clients are kept (least recently used go first): a client costs
  about 1.4 MB and 85 ms to build as botocore does it, 0.2 MB and 15 ms with a shared
  class, and an organization has thousands of (account, region) pairs, most of them
  empty and used once.

Every client created here can report each HTTP attempt it sends (retries included) to an
``on_request(provider, operation)`` callback, for the request metrics.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import boto3
import botocore.client
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

from reaper import __version__
from reaper.config import AWS_ORGANIZATION_SCOPE, AwsAccount, AwsOrganization, AwsSettings
from reaper.errors import ProviderError
from reaper.model import Scope
from reaper.providers.aws.errors import error_code, guard_parsers, translate_errors
from reaper.providers.aws.organization import discover, merge_accounts
from reaper.providers.base import OnRequest
from reaper.providers.discovery import Rediscovered

log = logging.getLogger(__name__)

_SESSION_NAME = "reaper"
PROVIDER = "aws"
ORGANIZATION_SCOPE = AWS_ORGANIZATION_SCOPE
"""The account name of the scope that carries a failed organization listing as a collect
error (its collectors fail with the listing's error); reserved, so no account may be
named so."""
ASSUME_RETRY_SECONDS = 600.0
"""How long a refused AssumeRole stands for its account before it is asked again."""


@dataclass(frozen=True)
class AwsConnection:
    """How to reach AWS instead of boto3's defaults: the sandbox's and the tests' ``Connections``
    entry for ``aws``. In production boto3 reads ``AWS_ENDPOINT_URL`` and credentials itself."""

    session: boto3.Session | None = None
    endpoint_url: str | None = None


class AwsClients:
    """Hands out cached, thread-safe boto3 clients with adaptive retries."""

    def __init__(
        self,
        settings: AwsSettings,
        base_session: boto3.Session | None = None,
        endpoint_url: str | None = None,
        on_request: OnRequest | None = None,
        client_cache_size: int | None = None,
    ) -> None:
        self._settings = settings
        self._on_request = on_request
        self._base = base_session or boto3.Session()
        guard_parsers(self._base._session)
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        organization = settings.organization
        self._accounts = Rediscovered(
            settings.accounts,
            lambda account: account.name,
            listing=None if organization is None else partial(self._discover, organization),
            merge=merge_accounts,
            every=organization.rediscover_after if organization else timedelta(hours=1),
            what="the organization's accounts",
        )
        self._display_names: dict[str, str] = {}
        """Account id -> display name, as the last listing found them (for its log lines)."""
        self._sessions: dict[str, boto3.Session] = {}
        self._refused: dict[str, tuple[float, ProviderError]] = {}
        self._clients: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._cache_size = client_cache_size or max(64, 4 * settings.max_workers)
        self._key_locks: dict[object, threading.Lock] = {}
        self._principals: dict[str, str] = {}
        self._global: dict[str, Any] = {}
        # botocore's adaptive mode adds a client-side token bucket that backs off on
        # throttling, so a throttled sweep slows down instead of failing.
        self._config = Config(
            retries={"mode": "adaptive", "max_attempts": 10},
            max_pool_connections=max(10, settings.max_workers),
            connect_timeout=10,
            read_timeout=60,
            user_agent_extra=f"reaper/{__version__}",
        )

    # -- accounts ------------------------------------------------------------------

    def accounts(self) -> list[AwsAccount]:
        """The accounts swept: the configured ones, then the organization's."""
        return self._accounts.items()

    def scopes(self) -> list[Scope]:
        """Every (account, region); plus one that fails if the organization was unreadable."""
        scopes = [Scope(a.name, r) for a in self.accounts() for r in self._settings.regions]
        if self._accounts.error is not None:
            scopes.append(Scope(ORGANIZATION_SCOPE, ""))
        return scopes

    def is_error_scope(self, scope: Scope) -> bool:
        """True for the scope of a failed organization listing (every shard collects it)."""
        return scope.account == ORGANIZATION_SCOPE

    def _discover(self, organization: AwsOrganization) -> list[AwsAccount]:
        return discover(self._global_client("organizations"), organization, self._display_names)

    def _account(self, name: str) -> AwsAccount:
        account = self._accounts.get(name)
        if account is not None:
            return account
        if name == ORGANIZATION_SCOPE and self._accounts.error is not None:
            raise self._accounts.failure()
        raise ProviderError(f"unknown AWS account {name!r}")

    # -- clients -------------------------------------------------------------------

    def client(self, scope: Scope, service: str) -> Any:
        """The shared client for a service in a scope (created on first use).

        Raises ProviderError when the account's role cannot be assumed.
        """
        key = (scope.account, scope.region, service)
        with self._lock:
            found = self._clients.get(key)
            if found is not None:
                self._clients.move_to_end(key)
                return found
        with self._key_lock(key):
            with self._lock:
                found = self._clients.get(key)
            if found is None:
                session = self._session(self._account(scope.account))
                found = self._new_client(session, service, scope.region)
            with self._lock:
                self._clients[key] = found
                self._clients.move_to_end(key)
                while len(self._clients) > self._cache_size:
                    # Dropped, not closed: a worker may still be using it.
                    self._clients.popitem(last=False)
            return found

    def principal(self, scope: Scope) -> str:
        """The ARN reaper acts as in an account, looked up once per account."""
        with self._key_lock(("principal", scope.account)):
            cached = self._principals.get(scope.account)
            if cached is None:
                with translate_errors(f"sts GetCallerIdentity in {scope.account}"):
                    cached = str(self.client(scope, "sts").get_caller_identity()["Arn"])
                self._principals[scope.account] = cached
            return cached

    def _key_lock(self, key: object) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _new_client(self, session: boto3.Session, service: str, region: str) -> Any:
        # One at a time per service: botocore's loader caches a parsed model only after
        # parsing it, so clients created together would each parse it (EC2's is 28 MB of
        # objects and half a second). Building a client is CPU only, so little is lost.
        token = _SHARE_CLASSES.set(True)
        try:
            with self._key_lock(("create", service)):
                client = session.client(
                    service,  # type: ignore[call-overload]
                    region_name=region,
                    endpoint_url=self._endpoint_url,
                    config=self._config,
                )
        finally:
            _SHARE_CLASSES.reset(token)
        self._instrument(client)
        return client

    def _global_client(self, service: str) -> Any:
        """One client of the base session for calls that are not per account (Organizations,
        STS AssumeRole), in the first configured region."""
        with self._key_lock(("global", service)):
            found = self._global.get(service)
            if found is None:
                found = self._new_client(self._base, service, self._settings.regions[0])
                self._global[service] = found
            return found

    def _instrument(self, client: Any) -> None:
        """Report every HTTP attempt of ``client`` to ``on_request``.

        botocore emits ``before-send.<service>.<Operation>`` right before each attempt goes
        on the wire, once more for every retry; the event is per client, so other clients
        of the same session are not affected.
        """
        if self._on_request is not None:
            client.meta.events.register("before-send", self._before_send)

    def _before_send(self, event_name: str, **_: Any) -> None:
        """A botocore handler: must return None, or botocore takes it for the response."""
        assert self._on_request is not None
        operation = event_name.rsplit(".", 1)[-1]
        try:
            self._on_request(PROVIDER, operation)
        except Exception:
            # Counting must never fail a request (botocore would treat it as a failed send).
            log.exception("on_request callback failed for %s", operation)

    # -- sessions ------------------------------------------------------------------

    def _session(self, account: AwsAccount) -> boto3.Session:
        """The account's session: AssumeRole at most once per account (or per retry period)."""
        if account.role_arn is None:
            return self._base
        with self._key_lock(("session", account.name)):
            session = self._sessions.get(account.name)
            if session is not None:
                return session
            refused = self._refused.get(account.name)
            if refused is not None and time.monotonic() - refused[0] < ASSUME_RETRY_SECONDS:
                raise ProviderError(str(refused[1])) from refused[1].__cause__
            try:
                session = self._assumed(account)
            except ProviderError as err:
                self._refused[account.name] = (time.monotonic(), err)
                raise
            self._refused.pop(account.name, None)
            self._sessions[account.name] = session
            return session

    def _assumed(self, account: AwsAccount) -> boto3.Session:
        sts = self._global_client("sts")
        role_arn = str(account.role_arn)

        def refresh() -> dict[str, str]:
            with translate_errors(f"sts AssumeRole {role_arn}"):
                creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=_SESSION_NAME)
            c = creds["Credentials"]
            return {
                "access_key": c["AccessKeyId"],
                "secret_key": c["SecretAccessKey"],
                "token": c["SessionToken"],
                "expiry_time": c["Expiration"].isoformat(),
            }

        credentials = RefreshableCredentials.create_from_metadata(
            metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
        )
        core = botocore.session.get_session()
        # Service models parsed once per process, not once per account.
        core.register_component("data_loader", self._base._session.get_component("data_loader"))
        guard_parsers(core)
        # botocore has no public setter for refreshable credentials; this is the usual way.
        core._credentials = credentials  # type: ignore[attr-defined]
        return boto3.Session(botocore_session=core, region_name=self._settings.regions[0])


# -- one client class per service ----------------------------------------------------------

_SHARE_CLASSES: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "reaper_share_client_classes", default=False
)
_CLASSES: dict[tuple[str, str], type] = {}
_MODELS: dict[tuple[str, str | None], Any] = {}
_CLASSES_LOCK = threading.Lock()


def _shared_client_classes() -> None:
    """Let AwsClients reuse one client class and one service model per (service, API
    version).

    botocore builds a new class for every client, with a method and a docstring object per
    operation (EC2 has over 800): about 1 MB and 70 ms each time. The class depends only
    on the service model and on the ``creating-client-class`` handlers, which are boto3's
    defaults for every session AwsClients uses; so, only while AwsClients creates a client
    (``_SHARE_CLASSES``), the first class built for a service is reused. Every other
    client in the process is built as botocore builds it.

    The service model is shared the same way: botocore builds a new one per client, which
    fills as the client is used with operation models and shapes of its own (for EC2, the
    operation model of every operation at creation, and DescribeInstances' whole output
    shape at the first call): a few hundred KB per client that all hold the same. A
    service model is read-only but for those caches, which any thread may fill.
    """
    creator: Any = botocore.client.ClientCreator  # the stubs leave out private methods
    if getattr(creator._create_client_class, "_reaper_shared", False):
        return
    original = creator._create_client_class
    original_model = creator._load_service_model

    def create_client_class(self: Any, service_name: str, service_model: Any) -> type:
        if not _SHARE_CLASSES.get():
            built: type = original(self, service_name, service_model)
            return built
        key = (service_name, str(service_model.api_version))
        with _CLASSES_LOCK:
            found = _CLASSES.get(key)
            if found is None:
                found = original(self, service_name, service_model)
                _CLASSES[key] = found
            return found

    def load_service_model(self: Any, service_name: str, api_version: str | None = None) -> Any:
        if not _SHARE_CLASSES.get():
            return original_model(self, service_name, api_version)
        key = (service_name, api_version)
        with _CLASSES_LOCK:
            found = _MODELS.get(key)
            if found is None:
                found = original_model(self, service_name, api_version)
                _MODELS[key] = found
            return found

    create_client_class._reaper_shared = True  # type: ignore[attr-defined]
    creator._create_client_class = create_client_class
    creator._load_service_model = load_service_model


_shared_client_classes()

__all__ = [
    "ASSUME_RETRY_SECONDS",
    "ORGANIZATION_SCOPE",
    "AwsClients",
    "AwsConnection",
    "error_code",
    "guard_parsers",
    "translate_errors",
]
