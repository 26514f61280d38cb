"""Pushing a run's metrics to a Prometheus Pushgateway: the CronJob mode of ``reaper run``.

A CronJob's pod is gone before Prometheus could scrape it, so ``reaper run`` pushes its
registry once at the end, grouped by ``job`` and ``shard`` so that several CronJobs (one
per account, say) keep separate groups.

A push is best effort: a failure is logged at error level and returned as False, never
raised, and never changes the sweep's exit code. The URL may carry basic-auth credentials
(``https://user:secret@push.example``); they are sent as an ``Authorization`` header and
never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import (
    basic_auth_handler,
    default_handler,
    push_to_gateway,
    pushadd_to_gateway,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from reaper.config import MetricsSettings
    from reaper.metrics import Metrics
    from reaper.results import SweepReport

log = logging.getLogger(__name__)

LAST_SUCCESS = "reaper_last_successful_sweep_timestamp_seconds"

PUSH_TIMEOUT = 10.0
"""Seconds a push may take before it is given up."""

Handler = Callable[..., Callable[[], None]]


def push_sweep_metrics(
    settings: MetricsSettings, metrics: Metrics, report: SweepReport | None
) -> bool:
    """Push a run's metrics when ``metrics.pushgateway`` is set; False if that failed.

    After a sweep that did not succeed (or that never got a report), the last-success
    timestamp is left out of the push so the Pushgateway keeps the one of the last good
    run. Never changes the exit code.
    """
    if settings.pushgateway is None:
        return True
    ok = report is not None and report.exit_code == 0
    keep = () if ok else (LAST_SUCCESS,)
    return push_metrics(
        metrics.registry, settings.pushgateway, settings.job, settings.shard, keep=keep
    )


def push_metrics(
    registry: CollectorRegistry,
    url: str,
    job: str,
    shard: str,
    *,
    keep: Collection[str] = (),
    timeout: float = PUSH_TIMEOUT,
) -> bool:
    """Push every metric of ``registry`` to the Pushgateway at ``url``; True if it took them.

    The group ``{job=job, shard=shard}`` is replaced as a whole (HTTP PUT), unless ``keep``
    names metrics to leave out of the push: then only the pushed metrics are replaced (HTTP
    POST) and the kept ones hold their earlier values. ``reaper run`` keeps
    ``reaper_last_successful_sweep_timestamp_seconds`` after a failed sweep, so the
    Pushgateway still shows when the last good one finished. A POST replaces only the
    metrics that have samples in it: one the failed run left without any (no actions, say)
    shows the run before's values until the next PUT.
    """
    where = redact(url)
    collector: Collector = registry if not keep else _Without(registry, keep)
    push = pushadd_to_gateway if keep else push_to_gateway
    try:
        target, handler = _split_credentials(url)
        push(
            target,
            job=job,
            registry=collector,
            grouping_key={"shard": shard},
            timeout=timeout,
            handler=handler,
        )
    except Exception as err:
        # Whatever went wrong (network, HTTP status, a rejected body), a push must not
        # change how the run ends: it is logged, and the caller goes on.
        log.error(
            "metrics push failed pushgateway=%s job=%s shard=%s: %s",
            where,
            job,
            shard,
            _scrub(str(err), url) or type(err).__name__,
        )
        return False
    log.info(
        "metrics pushed pushgateway=%s job=%s shard=%s method=%s",
        where,
        job,
        shard,
        "POST" if keep else "PUT",
    )
    return True


def redact(url: str) -> str:
    """``url`` without its user and password (and query), fit for a log line. Pure."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _split_credentials(url: str) -> tuple[str, Handler]:
    """The URL without credentials, and the handler that sends them. Pure."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, default_handler
    target = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    username, password = unquote(parts.username), unquote(parts.password or "")

    def handler(
        url: str,
        method: str,
        timeout: float | None,
        headers: list[tuple[str, str]],
        data: bytes,
    ) -> Callable[[], None]:
        return basic_auth_handler(url, method, timeout, headers, data, username, password)

    return target, handler


def _scrub(text: str, url: str) -> str:
    """An error text minus ``url``'s credentials, should the error quote them. Pure."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    password = parts.password or ""
    for secret in (userinfo, password, unquote(password)):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


class _Without(Collector):
    """A registry's metrics minus some, by name (``_total`` of counters optional)."""

    def __init__(self, registry: CollectorRegistry, names: Iterable[str]) -> None:
        self._registry = registry
        self._names = frozenset(names)

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            if family.name not in self._names and f"{family.name}_total" not in self._names:
                yield family


__all__ = ["PUSH_TIMEOUT", "push_metrics", "redact"]
