"""boto3 sessions and clients: one client per (account, region, service), shared by workers.

Credentials come from the standard AWS environment (AWS_PROFILE, instance and pod roles,
IRSA); per account, an optional role is assumed with automatically refreshed credentials.

Every client created here can report each HTTP attempt it sends (retries included) to an
``on_request(provider, operation)`` callback, for the request metrics.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError, ResponseParserFactory

from reaper import __version__
from reaper.config import AwsAccount, AwsSettings
from reaper.errors import ProviderError
from reaper.model import Scope
from reaper.providers.base import OnRequest
from reaper.safetext import clean

log = logging.getLogger(__name__)

_SESSION_NAME = "reaper"
PROVIDER = "aws"


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
    ) -> None:
        self._settings = settings
        self._on_request = on_request
        self._base = base_session or boto3.Session()
        guard_parsers(self._base._session)
        self._endpoint_url = endpoint_url
        self._accounts = {a.name: a for a in settings.accounts}
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._principals: dict[str, str] = {}
        self._lock = threading.Lock()
        self._principal_lock = threading.Lock()
        # botocore's adaptive mode adds a client-side token bucket that backs off on
        # throttling, so a throttled sweep slows down instead of failing.
        self._config = Config(
            retries={"mode": "adaptive", "max_attempts": 10},
            max_pool_connections=max(10, settings.max_workers),
            connect_timeout=10,
            read_timeout=60,
            user_agent_extra=f"reaper/{__version__}",
        )

    def scopes(self) -> list[Scope]:
        return [Scope(a.name, r) for a in self._settings.accounts for r in self._settings.regions]

    def client(self, scope: Scope, service: str) -> Any:
        """The shared client for a service in a scope (created on first use)."""
        key = (scope.account, scope.region, service)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                session = self._session(self._accounts[scope.account])
                found = session.client(
                    service,  # type: ignore[call-overload]
                    region_name=scope.region,
                    endpoint_url=self._endpoint_url,
                    config=self._config,
                )
                self._instrument(found)
                self._clients[key] = found
            return found

    def principal(self, scope: Scope) -> str:
        """The ARN reaper acts as in an account, looked up once per account."""
        with self._principal_lock:
            cached = self._principals.get(scope.account)
            if cached is None:
                with translate_errors(f"sts GetCallerIdentity in {scope.account}"):
                    cached = str(self.client(scope, "sts").get_caller_identity()["Arn"])
                self._principals[scope.account] = cached
            return cached

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

    def _session(self, account: AwsAccount) -> boto3.Session:
        """Called with the lock held."""
        session = self._sessions.get(account.name)
        if session is None:
            session = self._base if account.role_arn is None else self._assumed(account)
            self._sessions[account.name] = session
        return session

    def _assumed(self, account: AwsAccount) -> boto3.Session:
        region = self._settings.regions[0]
        sts = self._base.client(
            "sts", region_name=region, endpoint_url=self._endpoint_url, config=self._config
        )
        self._instrument(sts)
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
        guard_parsers(core)
        # botocore has no public setter for refreshable credentials; this is the usual way.
        core._credentials = credentials  # type: ignore[attr-defined]
        return boto3.Session(botocore_session=core, region_name=region)


_MAX_DETAIL = 300


class _GuardedParser:
    """One of botocore's response parsers, whose every failure is a ResponseParserError.

    botocore turns malformed XML into ResponseParserError, but lets a well-formed reply
    with a bad value through as whatever its conversion raised (``int("x")``: ValueError;
    an unknown timestamp format; JSON nested past the recursion limit: RecursionError).
    """

    def __init__(self, parser: Any) -> None:
        self._parser = parser

    def parse(self, response: Any, shape: Any) -> Any:
        try:
            return self._parser.parse(response, shape)
        except ResponseParserError:
            raise
        except (ValueError, TypeError, LookupError, AttributeError, RecursionError) as err:
            raise ResponseParserError(f"{type(err).__name__}: {err}") from err

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


class _GuardedParserFactory:
    """A session's parser factory, handing out guarded parsers."""

    def __init__(self, factory: ResponseParserFactory) -> None:
        self._factory = factory

    def create_parser(self, protocol_name: str) -> _GuardedParser:
        return _GuardedParser(self._factory.create_parser(protocol_name))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory, name)


def guard_parsers(session: botocore.session.Session) -> None:
    """Make every reply the clients of ``session`` (created from now on) cannot parse a
    ResponseParserError, which :func:`translate_errors` turns into a ProviderError."""
    factory = session.get_component("response_parser_factory")
    if not isinstance(factory, _GuardedParserFactory):
        session.register_component("response_parser_factory", _GuardedParserFactory(factory))


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Turn SDK errors into ProviderError, chained, with the AWS error code kept.

    A reply that cannot be parsed is a ProviderError too (``ResponseParserError`` is not a
    ``BotoCoreError``; see :func:`guard_parsers`), so it is a collector's error for its
    scope, never a crash of the sweep.
    """
    try:
        yield
    except ClientError as err:
        error = err.response.get("Error", {})
        code = error.get("Code", "Unknown")
        raise ProviderError(f"{operation} failed: {code}: {error.get('Message', '')}") from err
    except BotoCoreError as err:
        raise ProviderError(f"{operation} failed: {err}") from err
    except ResponseParserError as err:
        # Its message may quote the reply's body: one line, clipped.
        detail = clean(str(err), _MAX_DETAIL)
        raise ProviderError(f"{operation} failed: unparseable response: {detail}") from err


def error_code(err: BaseException) -> str:
    """The AWS error code of a ProviderError's cause, or empty."""
    cause = err.__cause__
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code", ""))
    return ""
