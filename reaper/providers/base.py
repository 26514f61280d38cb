"""The contract every resource kind implements, the registry that holds them, and the
seam every provider package exposes.

Adding a kind means one module with a ``ResourceKind`` subclass decorated with
``@register``, built by its provider's ``build``; the registry meta-tests check it declares
what the rest of reaper needs and that a config enabling it builds it. Adding a provider
means one package ``reaper.providers.<name>`` whose ``build`` follows
:class:`ProviderBuilder`, and one config section (``reaper.config.ProviderSection``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from reaper.config import PolicySettings, TagKeys
from reaper.errors import ProviderError
from reaper.lifecycle import StateSigner
from reaper.model import Action, Collected, Decision, Outcome, Resource, Scope

OnRequest = Callable[[str, str], None]
"""``on_request(provider, operation)``: called once per HTTP attempt a provider's client
sends (retries included), from the thread that sends it; for the request metrics."""


@dataclass(frozen=True)
class BuildContext:
    """What every provider's ``build`` gets besides its own config section."""

    tags: TagKeys
    policy: PolicySettings
    """For provider facts the policy only compares (support calendars and their overrides)."""
    connection: Any = None
    """How to reach the provider instead of its SDK's defaults, for the sandbox and tests:
    each provider defines its own type (``AwsConnection``); None in production."""
    on_request: OnRequest | None = None
    signer: StateSigner = field(default_factory=lambda: StateSigner(None, ()))
    """Signs the lifecycle tags a kind writes itself (quarantine state and originals); see
    :mod:`reaper.lifecycle`."""


class ProviderBuilder(Protocol):
    """``reaper.providers.<name>.build``: one ResourceKind per kind in ``section.kinds``."""

    def __call__(self, section: Any, context: BuildContext) -> list[ResourceKind]: ...


class NotSupported(ProviderError):
    """The kind does not implement this operation."""


class ResourceKind(ABC):
    """One kind of resource in one provider: how to list it and how to remove it."""

    provider: ClassVar[str]
    kind: ClassVar[str]
    permissions: ClassVar[tuple[str, ...]]
    """The cloud permissions the kind needs, for the deployment docs and IAM policies."""
    delete_order: ClassVar[int]
    """Kinds with lower numbers are deleted first (dependants before what they depend on)."""
    state_tags: ClassVar[tuple[str, ...]] = ()
    """Tags of the kind's own that reaper writes on its resources, besides the lifecycle
    keys (``reaper.lifecycle``): what quarantine records for release. They start with
    ``reaper-``, so the state signature covers them (a meta-test checks), and nobody else
    may write them (the IAM policy and the example SCP name them)."""
    audited_tags: ClassVar[tuple[str, ...]] = ()
    """Tags of the provider's own conventions worth keeping in audit records (AWS's
    ``Name``), besides the configured tag keys."""
    id_pattern: ClassVar[str] = r"[!-~]{1,1024}"
    """The shape of this kind's ids: a regular expression an id must match as a whole.
    Checked before any API call names an id that came from a person or a file (``reaper
    release``, a pinned plan). The default takes 1 to 1,024 printable ASCII characters
    without spaces; a kind whose ids have a known shape declares it."""
    id_shape: ClassVar[str] = "1 to 1,024 printable ASCII characters, no spaces"
    """``id_pattern`` in words, for the message that refuses an id."""

    @classmethod
    def key(cls) -> str:
        return f"{cls.provider}:{cls.kind}"

    @classmethod
    def id_problem(cls, resource_id: str) -> str | None:
        """Why ``resource_id`` cannot be an id of this kind, or None when it can. Pure."""
        if re.fullmatch(cls.id_pattern, resource_id):
            return None
        return f"{resource_id!r} is not an id of {cls.key()} ({cls.id_shape})"

    @abstractmethod
    def scopes(self) -> Sequence[Scope]:
        """Every account/region this kind is swept in: what its collector is called with.
        A scope without a region is a whole account (a GCP project, all its zones)."""

    def resource_scopes(self) -> Sequence[Scope]:
        """The scopes this kind's resources can be in, which a pinned plan's items must be
        in: :meth:`scopes`, unless the kind keeps less than it lists (GKE lists every
        location of a project and keeps those of the configured zones) or lists a whole
        account, whose resources are in regions: that scope's region is ``EVERY_REGION``."""
        return self.scopes()

    def sweep_scope(self, scope: Scope) -> Scope:
        """The scope of :meth:`scopes` whose collection finds a resource in ``scope`` (the
        resource's own): ``scope`` itself, unless the kind lists whole accounts (a GCP
        project). Shards own these scopes."""
        return scope

    def is_shared(self, scope: Scope) -> bool:
        """True for a scope of :meth:`scopes` that stands for the kind's discovery itself (the
        error scope of a failed organization listing), not for a part of the estate: every
        shard collects it, whichever shard its key hashes to, because every shard lists the
        organization for itself and must report its own failure. False unless the kind
        discovers its scopes."""
        return False

    def begin_collection(self) -> None:  # noqa: B027 (a hook; most kinds need none)
        """Called once before a sweep's collectors start: facts a kind shares between the
        scopes of one sweep (a GCP image, say) are looked up afresh from here on."""

    @abstractmethod
    def collect(self, scope: Scope) -> Collected:
        """List the pipeline-tagged resources in one scope. Raises ProviderError.

        Parts of the scope that could not be listed go in ``Collected.errors``. A kind
        that can quarantine reports ``Resource.isolated`` for each resource whose signed
        state says quarantined (reading back only those, so ordinary sweeps cost no more);
        the policy quarantines again whatever does not read back isolated.
        """

    @abstractmethod
    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        """Delete resources of one scope; one Outcome per resource, never raising for one item.

        Must be idempotent: a resource already gone is ``Result.ALREADY_GONE``.
        Raises ProviderError only when nothing could be attempted.
        """

    def get(self, scope: Scope, ids: Sequence[str]) -> Collected:
        """Re-read specific resources (pinned plans, release); ids not found are left out."""
        raise NotSupported(f"{self.key()} cannot re-read resources")

    def tag(
        self, scope: Scope, resources: Sequence[Resource], tags: Mapping[str, str], action: Action
    ) -> list[Outcome]:
        """Add or overwrite tags (marks, failure counts); one Outcome per resource."""
        raise NotSupported(f"{self.key()} cannot tag resources")

    def untag(
        self, scope: Scope, resources: Sequence[Resource], keys: Sequence[str], action: Action
    ) -> list[Outcome]:
        """Remove tags (unmark); one Outcome per resource."""
        raise NotSupported(f"{self.key()} cannot untag resources")

    def quarantine(
        self, scope: Scope, decisions: Sequence[Decision], now: datetime
    ) -> list[Outcome]:
        """Stop and isolate, recording what release needs on the resource itself.

        In this order: record the originals (once, signed, the mark still in place), isolate,
        read the isolation back, and only then record the quarantined state (signed; a
        quarantine again keeps its quarantine time). A failed outcome carries the tags it
        left (``Outcome.tags``), which the failure count is written on top of.
        """
        raise NotSupported(f"{self.key()} cannot quarantine")

    def release(self, scope: Scope, resource: Resource) -> Outcome:
        """Undo a quarantine and clear reaper's marks."""
        raise NotSupported(f"{self.key()} cannot release")

    def principal(self, scope: Scope) -> str:
        """Who reaper acts as in this scope (an ARN, a service account), for the audit trail."""
        return "unknown"


KindT = TypeVar("KindT", bound=type[ResourceKind])

REGISTRY: dict[str, type[ResourceKind]] = {}


def register(cls: KindT) -> KindT:
    """Class decorator: make a kind known under ``provider:kind``."""
    key = cls.key()
    if key in REGISTRY:
        raise ValueError(f"resource kind {key} registered twice")
    REGISTRY[key] = cls
    return cls
