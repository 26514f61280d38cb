"""Pure: splitting a sweep's scopes among N shards, and what each shard keeps to itself.

A shard is one of N processes sweeping side by side (the pods of a Kubernetes Indexed
Job). Each sweeps only the scopes it owns; nothing coordinates them. Ownership is decided
by rendezvous hashing (highest random weight): every shard index scores every scope key,
and the highest score owns it. So

* every process computes the same owner for a scope without talking to the others;
* going from N to N+1 shards moves a scope only if the new shard out-scores the old
  owner, which happens for about 1/(N+1) of the scopes, and only ever *to* the new shard.

The scope key is provider-neutral (:func:`scope_key`) and names what one collection lists:
``aws/ci/us-east-1`` (account and region), ``gcp/my-project/us-central1-a`` (a project's
zone, when ``providers.gcp.zones`` is set), ``gcp/my-project`` (a project's GKE clusters;
its GCE instances too when it is swept in all zones, whatever zone each names),
``kubernetes/prod-eu``. Every kind of one scope (EC2 and EKS of ``aws/ci/us-east-1``)
lands on the same shard, so an account's regions are spread over shards but one region
of one account is swept by one process.

Each shard keeps its own audit chain and its own Pushgateway group
(:func:`shard_settings`), so no two processes ever append to one chain.

Consumed by ``reaper run --shard I/N`` and ``reaper plan --shard I/N`` (the CLI) and by
the sweep service, which collects only the scopes :meth:`Shard.owns`, and those no shard
owns because each shard has its own: a failed organization listing's error scope
(``ResourceKind.is_shared``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath

from reaper.config import Settings
from reaper.errors import ConfigError
from reaper.model import Scope

MAX_SHARDS = 1000
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")

INDEX_ENV = "JOB_COMPLETION_INDEX"
"""Set by Kubernetes in every pod of an Indexed Job: 0 .. completions-1."""
COUNT_ENV = "REAPER_SHARDS"
"""How many shards there are (the Job's ``completions``), set in the pod spec."""


def scope_key(provider: str, scope: Scope) -> str:
    """The provider-neutral name of a scope that shards are assigned by. Pure.

    ``aws/ci/us-east-1``, ``gcp/my-project``, ``gcp/my-project/us-central1-a``,
    ``kubernetes/prod-eu``: the provider, the configured (or derived) account name, and
    the region or zone when the scope has one (``ResourceKind.scopes``, not a resource's
    own: see ``ResourceKind.sweep_scope``).
    """
    return f"{provider}/{scope}"


def _score(key: str, index: int) -> int:
    """The weight of ``index`` for ``key``: 64 bits of BLAKE2b, the same on every host."""
    digest = hashlib.blake2b(f"{index}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, count: int) -> int:
    """The shard (0 .. count-1) that owns ``key`` among ``count``: highest weight wins. Pure."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    return max(range(count), key=lambda index: _score(key, index))


@dataclass(frozen=True, order=True)
class Shard:
    """One of ``count`` shards: ``index`` is 0-based, as ``JOB_COMPLETION_INDEX`` is."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"shard count must be 1-{MAX_SHARDS}, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be 0-{self.count - 1}, got {self.index}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, provider: str, scope: Scope) -> bool:
        """True when this shard sweeps ``scope``. Pure."""
        return self.count == 1 or owner(scope_key(provider, scope), self.count) == self.index

    @property
    def name(self) -> str:
        """``shard-3``: the suffix of this shard's audit file, S3/GCS prefix and metrics
        group. By index only, so a shard's chain goes on when the count changes."""
        return f"shard-{self.index}"


def parse_shard(text: str) -> Shard:
    """``"2/4"`` -> Shard(2, 4). Pure. Raises ConfigError with the expected form."""
    match = _SPEC.fullmatch(text)
    if match is None:
        raise ConfigError([f"--shard {text!r}: expected I/N, e.g. 0/4 (0-based index)"])
    try:
        return Shard(int(match[1]), int(match[2]))
    except ValueError as err:
        raise ConfigError([f"--shard {text!r}: {err}"]) from None


def shard_from_env(environ: Mapping[str, str]) -> Shard | None:
    """The shard of a pod of an Indexed Job: ``JOB_COMPLETION_INDEX`` of ``REAPER_SHARDS``.

    Pure. None when neither is set; ConfigError when only one is, or either is not a
    number.
    """
    index, count = environ.get(INDEX_ENV), environ.get(COUNT_ENV)
    if index is None and count is None:
        return None
    if index is None or count is None:
        given, missing = (INDEX_ENV, COUNT_ENV) if count is None else (COUNT_ENV, INDEX_ENV)
        raise ConfigError([f"{given} is set but {missing} is not: set both, or neither"])
    return parse_shard(f"{index}/{count}")


def assign(keys: Iterable[str], count: int) -> dict[str, int]:
    """Every key's owner among ``count`` shards. Pure (for tests, benchmarks and docs)."""
    return {key: owner(key, count) for key in keys}


def shard_settings(settings: Settings, shard: Shard) -> Settings:
    """The settings one shard runs with: its own audit chain and its own metrics group. Pure.

    * ``audit.path`` ``/var/lib/reaper/audit.jsonl`` -> ``/var/lib/reaper/audit.shard-3.jsonl``;
    * ``audit.s3.prefix`` / ``audit.gcs.prefix`` ``reaper-audit`` -> ``reaper-audit/shard-3``;
    * ``metrics.shard`` ``default`` -> ``3``, any other value ``v`` -> ``v-3``.

    Everything else (the brake's limits included) is the same for every shard.
    """
    audit = settings.audit
    changes: dict[str, object] = {}
    if audit.path is not None:
        path = PurePath(audit.path)
        changes["path"] = str(path.with_name(f"{path.stem}.{shard.name}{path.suffix}"))
    if audit.s3 is not None:
        changes["s3"] = audit.s3.model_copy(update={"prefix": f"{audit.s3.prefix}/{shard.name}"})
    if audit.gcs is not None:
        prefix = f"{audit.gcs.prefix}/{shard.name}"
        changes["gcs"] = audit.gcs.model_copy(update={"prefix": prefix})
    group = settings.metrics.shard
    metrics_shard = str(shard.index) if group == "default" else f"{group}-{shard.index}"
    return settings.model_copy(
        update={
            "audit": audit.model_copy(update=changes),
            "metrics": settings.metrics.model_copy(update={"shard": metrics_shard}),
        }
    )


__all__ = [
    "COUNT_ENV",
    "INDEX_ENV",
    "MAX_SHARDS",
    "Shard",
    "assign",
    "owner",
    "parse_shard",
    "scope_key",
    "shard_from_env",
    "shard_settings",
]
