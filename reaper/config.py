"""YAML configuration -> frozen, validated settings.

Every problem in a file is reported at once, each naming the file, the key path and the
reason (``config.yaml: policy.default_ttl: '3 dayz' is not a duration (e.g. 90m, 6h, 3d)``).
A value repeated in a reason is clipped and passes :func:`reaper.safetext.redact` first:
the userinfo of a URL (``https://user:secret@host``) and token-like material become ``***``.
Pure apart from reading the one file it is given; imports no cloud SDK.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from reaper.durations import format_duration, parse_duration
from reaper.errors import ConfigError
from reaper.safetext import clean, clip, redact
from reaper.schedules import cron_trigger
from reaper.versions import parse_version

# Tag keys must also be valid GCP label keys.
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
"""A project ID: 6-30 of a-z, 0-9 and '-', starting with a letter, not ending with '-'."""
_SERVICE_ACCOUNT = re.compile(
    r"^[a-z0-9][a-z0-9.-]{0,62}@[a-z0-9][a-z0-9.-]*\.gserviceaccount\.com$"
)
_ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
_ENDPOINT = re.compile(
    r"^(?P<scheme>https?)://(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?(/\S*)?$"
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
"""Hosts an ``http://`` endpoint may name: there, and only there, no credentials are sent."""
# A Kubernetes namespace name is a DNS-1123 label.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _shaped(pattern: re.Pattern[str], value: str, shape: str) -> str:
    """``value`` if ``pattern`` matches all of it; else a ValueError saying it is not
    ``shape`` (``an S3 bucket name (…)``)."""
    if not pattern.fullmatch(value):
        raise ValueError(f"{value!r} is not {shape}")
    return value


def _shaped_or_none(pattern: re.Pattern[str], value: str | None, shape: str) -> str | None:
    """:func:`_shaped` for an optional value: None stays None."""
    return None if value is None else _shaped(pattern, value, shape)


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta) and value > timedelta(0):  # defaults written in code
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration (e.g. 90m, 6h, 3d)")
    return parse_duration(value)


def _duration_or_zero(value: object) -> timedelta:
    if value in ("0", "0s", 0):
        return timedelta(0)
    return _duration(value)


Duration = Annotated[
    timedelta,
    PlainValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
]
ZeroOrDuration = Annotated[
    timedelta,
    PlainValidator(_duration_or_zero),
    PlainSerializer(format_duration, return_type=str),
]

# The reasons a rule can act on, and the actions it may choose for them.
ACTING_REASONS = ("ttl-expired", "expiry-passed", "unpatched", "exposed", "run-finished")
# Risks are isolated first by default; an expired resource is simply deleted.
DEFAULT_ACTIONS: Mapping[str, str] = {"unpatched": "quarantine", "exposed": "quarantine"}
RULE_ACTIONS = ("delete", "quarantine")


def _rule_reason(name: str) -> str:
    if name not in ACTING_REASONS:
        raise ValueError(f"unknown reason {name!r} (valid: {', '.join(ACTING_REASONS)})")
    return name


def _rule_action(name: object) -> str:
    if name not in RULE_ACTIONS:
        raise ValueError(f"unknown action {name!r} (valid: {', '.join(RULE_ACTIONS)})")
    return str(name)


RuleReason = Annotated[str, AfterValidator(_rule_reason)]
RuleAction = Annotated[str, PlainValidator(_rule_action)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TagKeys(_Section):
    """The tag (label) keys reaper reads and writes on resources."""

    pipeline: str = "reaper-pipeline"
    ttl: str = "reaper-ttl"
    expires_at: str = "reaper-expires-at"
    protect: str = "reaper-protect"
    owner: str = "reaper-owner"
    ci_source: str = "reaper-ci"
    """Names the CI source (an alias under ``pipelines.sources``) of the pipeline tag's run."""

    @field_validator("*")
    @classmethod
    def _label_key(cls, value: str) -> str:
        if not _LABEL_KEY.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid tag key (lowercase letters, digits, '-' and '_', "
                "starting with a letter, at most 63 characters, so it also works as a GCP label)"
            )
        return value

    @model_validator(mode="after")
    def _distinct(self) -> TagKeys:
        keys = list(self.model_dump().values())
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"tag keys must differ; used twice: {', '.join(duplicates)}")
        return self


def _calendar(value: Mapping[str, date]) -> Mapping[str, date]:
    for version in value:
        parse_version(version)
    return value


SupportCalendar = Annotated[
    Mapping[str, Annotated[date, Field(strict=False)]], AfterValidator(_calendar)
]
"""Kubernetes versions and the end of their standard support: ``{"1.31": 2025-11-26}``."""


# -- provider sections ----------------------------------------------------------------------
# One class per provider, and one field of ``Providers``. Each section names the package
# that builds its kinds (``reaper.providers.<name>``), which is imported only when the
# section is configured.


class ProviderSection(_Section):
    """What every provider's section has: the kinds it sweeps and its own workers."""

    PACKAGE: ClassVar[str]
    """The provider package, whose ``build`` turns this section into ResourceKinds."""
    KINDS: ClassVar[tuple[str, ...]]
    """Every kind the provider can sweep; ``kinds`` chooses among them."""

    kinds: tuple[str, ...]
    max_workers: int = Field(default=8, ge=1, le=64)
    """Concurrent API workers of this provider in all, across its accounts and regions."""
    max_workers_per_account: int | None = Field(default=None, ge=1, le=64)
    """At most this many of them on one account (project, cluster); None: no cap."""

    @field_validator("kinds")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(f"at least one kind is needed (valid: {', '.join(cls.KINDS)})")
        for kind in value:
            if kind not in cls.KINDS:
                raise ValueError(f"unknown kind {kind!r} (valid: {', '.join(cls.KINDS)})")
        if len(set(value)) != len(value):
            raise ValueError("kinds are listed more than once")
        return value

    def describe(self) -> str:
        """This section's part of the startup line. Pure."""
        return f"kinds={','.join(self.kinds)} max_workers={self.max_workers}"


AWS_ORGANIZATION_SCOPE = "aws-organization"
"""The account name of the scope that carries a failed organization listing as a collect
error; reserved, so no account may be named so (accounts found are named by their id)."""


class AwsAccount(_Section):
    """One AWS account to sweep."""

    name: str
    """Lowercase name used in reports, the audit trail and resource scopes; an account found
    in the organization is named by its 12-digit id."""
    role_arn: str | None = None
    """Role to assume in the account; None uses the ambient credentials as they are."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _shaped(_NAME, value, "a valid account name (lowercase, digits, '-', '_')")

    @field_validator("role_arn")
    @classmethod
    def _arn(cls, value: str | None) -> str | None:
        return _shaped_or_none(
            _ROLE_ARN, value, "an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"
        )


_ACCOUNT_ID = re.compile(r"^\d{12}$")
_OU_ID = re.compile(r"^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]+(/[\w+=,.@-]+)*$")


class AwsOrganization(_Section):
    """Sweep the active accounts of an AWS organization, found with the Organizations API.

    The ambient credentials must be allowed to read the organization (its management
    account, or a delegated administrator). Organizational units nest: naming an OU
    includes (or excludes) every account in it and in every OU below it; exclusion wins.
    """

    role_name: str = "reaper"
    """Assumed in every account found: ``arn:aws:iam::<id>:role/<role_name>``."""
    include_ous: tuple[str, ...] = Field(default=(), strict=False)
    """Root or OU ids (``r-ab12``, ``ou-ab12-cd34ef56``) whose subtrees are swept; empty:
    the whole organization."""
    exclude_accounts: tuple[str, ...] = Field(default=(), strict=False)
    """12-digit account ids never swept."""
    exclude_ous: tuple[str, ...] = Field(default=(), strict=False)
    """OU ids whose subtrees are never swept."""
    rediscover_after: Duration = timedelta(hours=1)
    """A long-running daemon lists the organization again after this long."""

    @field_validator("role_name")
    @classmethod
    def _role(cls, value: str) -> str:
        if len(value) > 512 or not _ROLE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an IAM role name (or path/name)")
        return value

    @field_validator("include_ous", "exclude_ous")
    @classmethod
    def _ous(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [ou for ou in value if not _OU_ID.fullmatch(ou)]
        if bad:
            raise ValueError(
                f"not organization root or OU ids (r-ab12, ou-ab12-cd34ef56): "
                f"{', '.join(map(repr, bad))}"
            )
        return value

    @field_validator("exclude_accounts")
    @classmethod
    def _ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in value if not _ACCOUNT_ID.fullmatch(a)]
        if bad:
            raise ValueError(f"not 12-digit account ids: {', '.join(map(repr, bad))}")
        return value


class AwsSettings(ProviderSection):
    """Where and what to sweep in AWS. Credentials come from the standard AWS environment."""

    PACKAGE = "reaper.providers.aws"
    KINDS = ("ec2_instance", "eks_cluster")

    # strict=False only so YAML lists are accepted as tuples; items stay strict.
    accounts: tuple[AwsAccount, ...] = Field(default=(AwsAccount(name="default"),), strict=False)
    """Accounts named by hand. With ``organization`` and no ``accounts``, none: only the
    organization's; with both, the two lists merged (an account named here wins)."""
    organization: AwsOrganization | None = None
    regions: tuple[str, ...] = Field(min_length=1, strict=False)
    # Clusters are opt-in: a config written before they existed must not start deleting them.
    kinds: tuple[str, ...] = Field(default=("ec2_instance",), strict=False)
    restrict_public_endpoint: bool = False
    """On quarantine of an EKS cluster, also turn off its public API endpoint."""
    kubernetes_end_of_support: SupportCalendar = Field(default_factory=dict)
    """Overrides and additions to the shipped EKS calendar, over ``policy``'s."""

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in value if not _REGION.fullmatch(r)]
        if bad:
            raise ValueError(f"not AWS region names: {', '.join(map(repr, bad))}")
        if len(set(value)) != len(value):
            raise ValueError("regions are listed more than once")
        return value

    @field_validator("accounts")
    @classmethod
    def _unique_accounts(cls, value: tuple[AwsAccount, ...]) -> tuple[AwsAccount, ...]:
        names = [a.name for a in value]
        if len(set(names)) != len(names):
            raise ValueError("account names must be unique")
        if AWS_ORGANIZATION_SCOPE in names:
            raise ValueError(
                f"{AWS_ORGANIZATION_SCOPE!r} is reserved (the scope of a failed organization "
                "listing)"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_default_account_with_an_organization(cls, data: Any) -> Any:
        # Not the ambient "default": that is usually the management account itself.
        if isinstance(data, dict) and data.get("organization") is not None:
            return {"accounts": (), **data}
        return data

    @model_validator(mode="after")
    def _some_accounts(self) -> AwsSettings:
        if not self.accounts and self.organization is None:
            raise ValueError("at least one account is needed (accounts, or organization)")
        return self

    def describe(self) -> str:
        org = ""
        if self.organization is not None:
            ous = ",".join(self.organization.include_ous) or "all"
            org = f"organization={ous}/role:{self.organization.role_name} "
        return (
            f"accounts={','.join(a.name for a in self.accounts)} {org}"
            f"regions={','.join(self.regions)} {super().describe()}"
        )


class GcpProject(_Section):
    """One Google Cloud project to sweep."""

    name: str
    """Lowercase name used in reports, the audit trail and resource scopes."""
    project_id: str
    impersonate_service_account: str | None = None
    """A service account to impersonate in this project; None uses Application Default
    Credentials (Workload Identity on GKE) as they are."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _shaped(_NAME, value, "a valid project name (lowercase, digits, '-', '_')")

    @field_validator("project_id")
    @classmethod
    def _project_id(cls, value: str) -> str:
        return _shaped(
            PROJECT_ID, value, "a project ID (6-30 of a-z, 0-9, '-', starting with a letter)"
        )

    @field_validator("impersonate_service_account")
    @classmethod
    def _service_account(cls, value: str | None) -> str | None:
        return _shaped_or_none(
            _SERVICE_ACCOUNT,
            value,
            "a service account email (NAME@PROJECT.iam.gserviceaccount.com)",
        )


def _endpoint(value: str | None) -> str | None:
    if value is None:
        return None
    match = _ENDPOINT.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not an http(s) URL (e.g. https://compute.googleapis.com)")
    if match.group("scheme") == "http" and match.group("host") not in LOOPBACK_HOSTS:
        raise ValueError(
            f"{value!r}: plain http only on loopback ({', '.join(LOOPBACK_HOSTS)}), where "
            "reaper sends no credentials; use https"
        )
    return value


Endpoint = Annotated[str | None, AfterValidator(_endpoint)]


class GcpEndpoints(_Section):
    """Where the Compute Engine, GKE and Resource Manager APIs are reached; None: Google's
    public endpoints."""

    compute: Endpoint = None
    container: Endpoint = None
    resourcemanager: Endpoint = None
    """Resource Manager v3, which lists the projects of ``organization`` and ``folders``."""


_ORGANIZATION = re.compile(r"^(?:organizations/)?([1-9]\d{0,18})$")
_FOLDER = re.compile(r"^(?:folders/)?([1-9]\d{0,18})$")
GCP_ORGANIZATION_SCOPE = "gcp-organization"
"""The project name of the scope that carries a failed listing of the organization or
folders as a collect error; reserved, so no project may be named so."""


def _organization(value: str | None) -> str | None:
    if value is None:
        return None
    match = _ORGANIZATION.fullmatch(value)
    if match is None:
        raise ValueError(
            f"{value!r} is not an organization (organizations/123456789012, or its id)"
        )
    return f"organizations/{match[1]}"


def _folders(value: tuple[str, ...]) -> tuple[str, ...]:
    matches = [(f, _FOLDER.fullmatch(f)) for f in value]
    bad = [f for f, m in matches if m is None]
    if bad:
        raise ValueError(
            f"not folders (folders/123456789012, or its id): {', '.join(map(repr, bad))}"
        )
    names = tuple(f"folders/{m[1]}" for _, m in matches if m is not None)
    if len(set(names)) != len(names):
        raise ValueError("folders are listed more than once")
    return names


def _project_ids(value: tuple[str, ...]) -> tuple[str, ...]:
    bad = [p for p in value if not PROJECT_ID.fullmatch(p)]
    if bad:
        raise ValueError(f"not project IDs: {', '.join(map(repr, bad))}")
    return value


def _numeric_id(value: object) -> object:
    """YAML reads an unquoted id (``123456789012``) as a number: take it as the id."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return [_numeric_id(item) for item in value]
    return value


GcpOrganizationName = Annotated[
    str | None, BeforeValidator(_numeric_id), AfterValidator(_organization)
]
GcpFolders = Annotated[
    tuple[str, ...], Field(strict=False), BeforeValidator(_numeric_id), AfterValidator(_folders)
]
ProjectIds = Annotated[tuple[str, ...], Field(strict=False), AfterValidator(_project_ids)]


class GcpSettings(ProviderSection):
    """Where and what to sweep in Google Cloud. Credentials come from Application Default
    Credentials (or Workload Identity), never from the config."""

    PACKAGE = "reaper.providers.gcp"
    KINDS = ("gce_instance", "gke_cluster")

    projects: tuple[GcpProject, ...] = Field(default=(), strict=False)
    """Projects named by hand. With ``organization`` or ``folders``, merged with the
    projects found there (a project named here, by its project ID, wins)."""
    organization: GcpOrganizationName = None
    """Sweep every ACTIVE project of this organization (``organizations/123``), in every
    folder however deep, listed with Resource Manager."""
    folders: GcpFolders = ()
    """Sweep every ACTIVE project of these folders (``folders/123``) and of every folder
    below them."""
    exclude_folders: GcpFolders = ()
    """Folders whose subtrees are never swept (exclusion wins)."""
    exclude_projects: ProjectIds = ()
    """Project IDs never swept, wherever they are found."""
    rediscover_after: Duration = timedelta(hours=1)
    """A long-running daemon lists the organization and folders again after this long."""
    zones: tuple[str, ...] = Field(default=(), strict=False)
    """Zones to sweep; empty: every zone (one aggregated list per project)."""
    # Clusters are opt-in, as on AWS.
    kinds: tuple[str, ...] = Field(default=("gce_instance",), strict=False)
    endpoints: GcpEndpoints = GcpEndpoints()
    """Emulators or private endpoints; an ``http://`` one on loopback gets no credentials."""
    restrict_public_endpoint: bool = False
    """On quarantine of a GKE cluster, also enable master authorized networks with no
    network in them."""
    kubernetes_end_of_support: SupportCalendar = Field(default_factory=dict)
    """Overrides and additions to the shipped GKE calendar, over ``policy``'s."""

    @field_validator("projects")
    @classmethod
    def _unique_projects(cls, value: tuple[GcpProject, ...]) -> tuple[GcpProject, ...]:
        for field in ("name", "project_id"):
            found = [getattr(p, field) for p in value]
            if len(set(found)) != len(found):
                raise ValueError(f"project {field}s must be unique")
        if any(p.name == GCP_ORGANIZATION_SCOPE for p in value):
            raise ValueError(
                f"{GCP_ORGANIZATION_SCOPE!r} is reserved (the scope of a failed project listing)"
            )
        return value

    @model_validator(mode="after")
    def _some_projects(self) -> GcpSettings:
        if not self.projects and not self.discovers:
            raise ValueError("at least one project is needed (projects, organization or folders)")
        if not self.discovers:
            given = [k for k in ("exclude_folders", "exclude_projects") if getattr(self, k)]
            if given:
                raise ValueError(f"{', '.join(given)}: only with organization or folders")
        return self

    @property
    def discovers(self) -> bool:
        """True when projects are listed (``organization`` or ``folders``)."""
        return self.organization is not None or bool(self.folders)

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [z for z in value if not _ZONE.fullmatch(z)]
        if bad:
            raise ValueError(f"not GCP zone names: {', '.join(map(repr, bad))}")
        if len(set(value)) != len(value):
            raise ValueError("zones are listed more than once")
        return value

    def describe(self) -> str:
        found = ",".join(filter(None, (self.organization, *self.folders)))
        return (
            f"projects={','.join(p.name for p in self.projects)} "
            + (f"discover={found} " if found else "")
            + f"zones={','.join(self.zones) or 'all'} {super().describe()}"
        )


class KubernetesCluster(_Section):
    """One Kubernetes cluster to sweep: a kubeconfig context, or the cluster reaper runs in."""

    name: str
    """Used in reports, the audit trail and resource ids (``ci/ci-4711-review``)."""
    context: str | None = None
    """The kubeconfig context; None: in-cluster inside a pod, else the current context."""
    kubeconfig: str | None = None
    """The kubeconfig file; None: ``$KUBECONFIG``, then ``~/.kube/config``."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _shaped(_NAME, value, "a valid cluster name (lowercase, digits, '-', '_')")


ALWAYS_EXCLUDED_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
"""Never touched, whatever their labels (and neither is the namespace reaper runs in)."""


class KubernetesSettings(ProviderSection):
    """Which clusters to sweep. Credentials come from the kubeconfig or the pod's service
    account, never from this file."""

    PACKAGE = "reaper.providers.kubernetes"
    KINDS = ("namespace",)

    clusters: tuple[KubernetesCluster, ...] = Field(strict=False)
    kinds: tuple[str, ...] = Field(default=("namespace",), strict=False)
    exclude_namespaces: tuple[str, ...] = Field(default=(), strict=False)
    """Namespaces never touched, besides kube-system, kube-public, kube-node-lease, default
    and reaper's own."""
    stuck_after: Duration = timedelta(hours=1)
    """A namespace still terminating this long after its deletion is escalated."""

    @field_validator("clusters")
    @classmethod
    def _unique_clusters(
        cls, value: tuple[KubernetesCluster, ...]
    ) -> tuple[KubernetesCluster, ...]:
        if not value:
            raise ValueError("at least one cluster is needed")
        names = [c.name for c in value]
        if len(set(names)) != len(names):
            raise ValueError("cluster names must be unique")
        return value

    @field_validator("exclude_namespaces")
    @classmethod
    def _namespaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [n for n in value if not _DNS_LABEL.fullmatch(n)]
        if bad:
            raise ValueError(f"not namespace names: {', '.join(map(repr, bad))}")
        return value

    def describe(self) -> str:
        return f"clusters={','.join(c.name for c in self.clusters)} {super().describe()}"


class Providers(_Section):
    """The providers to sweep: one section each; at least one."""

    aws: AwsSettings | None = None
    gcp: GcpSettings | None = None
    kubernetes: KubernetesSettings | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Providers:
        if not self.configured():
            names = ", ".join(f"providers.{name}" for name in provider_sections())
            raise ValueError(f"no provider configured (add one of {names})")
        return self

    def configured(self) -> dict[str, ProviderSection]:
        """The configured sections by provider name, in declaration order."""
        found = {name: getattr(self, name) for name in type(self).model_fields}
        return {name: section for name, section in found.items() if section is not None}


def provider_sections() -> dict[str, type[ProviderSection]]:
    """Every provider reaper knows, by name, with the type of its section."""
    return {name: _section_class(name) for name in Providers.model_fields}


def _section_class(name: str) -> type[ProviderSection]:
    found = _section_type(Providers.model_fields[name].annotation)
    if found is None or not issubclass(found, ProviderSection):
        raise TypeError(f"Providers.{name} is not a ProviderSection")
    return found


def known_kinds() -> dict[str, tuple[str, ...]]:
    """Every provider's kinds: ``{"aws": ("ec2_instance", "eks_cluster"), ...}``."""
    return {name: section.KINDS for name, section in provider_sections().items()}


def _kind_name(name: str) -> str:
    known = known_kinds()
    valid = [k for kinds in known.values() for k in kinds]
    valid += [f"{p}:{k}" for p, kinds in known.items() for k in kinds]
    if name not in valid:
        raise ValueError(f"unknown kind {name!r} (valid: {', '.join(valid)})")
    return name


KindName = Annotated[str, AfterValidator(_kind_name)]


class KindPolicy(_Section):
    """Per-kind overrides of the policy."""

    ttl: Duration | None = None
    actions: Mapping[RuleReason, RuleAction] = Field(default_factory=dict)
    """What each reason leads to for this kind, over ``policy.actions``."""


class RetrySettings(_Section):
    """Backoff for resources reaper failed to act on."""

    backoff: Duration = timedelta(minutes=30)
    """Wait after the first failure; doubles with each further failure."""
    max_backoff: Duration = timedelta(hours=12)
    escalate_after: int = Field(default=3, ge=1)
    """Failures after which a resource is shown as escalated in plans and summaries."""


class PolicySettings(_Section):
    """What counts as stale."""

    default_ttl: Duration = timedelta(hours=24)
    grace_period: ZeroOrDuration = timedelta(hours=1)
    """Between marking a resource and acting on it; ``0s`` acts on first sight."""
    quarantine_ttl: Duration = timedelta(days=3)
    """How long a quarantined resource waits for a release before it is deleted."""
    actions: Mapping[RuleReason, RuleAction] = Field(default_factory=dict)
    """What each reason leads to (``delete`` or ``quarantine``); default delete."""
    retry: RetrySettings = RetrySettings()
    max_image_age: Duration = timedelta(days=90)
    """A VM whose image is older than this is unpatched."""
    min_kubernetes_version: str | None = None
    """Clusters below this ``major.minor`` are unpatched (also: past end of standard support)."""
    kubernetes_end_of_support: SupportCalendar = Field(default_factory=dict)
    """Overrides of every provider's shipped calendar: ``{"1.31": 2025-11-26}``;
    ``providers.<name>.kubernetes_end_of_support`` overrides these for one provider."""
    exposed_ports: tuple[int, ...] = Field(default=(22, 3389), strict=False)
    """Ports that must not be open to 0.0.0.0/0 or ::/0 (all-ports rules always count)."""
    kinds: Mapping[KindName, KindPolicy] = Field(default_factory=dict)
    """Keyed by ``kind`` (``ec2_instance``) or ``provider:kind`` (``aws:ec2_instance``)."""

    @field_validator("min_kubernetes_version")
    @classmethod
    def _min_version(cls, value: str | None) -> str | None:
        if value is not None:
            parse_version(value)
        return value

    @field_validator("exposed_ports")
    @classmethod
    def _ports(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [p for p in value if not 0 < p < 65536]
        if bad:
            raise ValueError(f"not TCP/UDP ports: {bad}")
        return value

    def action_for(self, provider: str, kind: str, reason: str) -> str:
        """``delete`` or ``quarantine``: the kind's rule, else the global rule, else delete."""
        for key in (f"{provider}:{kind}", kind):
            override = self.kinds.get(key)
            if override is not None and reason in override.actions:
                return override.actions[reason]
        return self.actions.get(reason, DEFAULT_ACTIONS.get(reason, "delete"))

    def ttl_for(self, provider: str, kind: str) -> timedelta:
        """The TTL of a kind when the resource carries no ttl tag."""
        for key in (f"{provider}:{kind}", kind):
            override = self.kinds.get(key)
            if override is not None and override.ttl is not None:
                return override.ttl
        return self.default_ttl


class GlobalBrakeSettings(_Section):
    """One brake for all the shards of a sharded sweep, without a coordinator.

    Every shard publishes its planned counts to a shared store and waits until all N
    have; the first shard to decide stores one verdict there (act only when their sum is
    within ``safety``'s limits), and every shard follows the stored verdict
    (:mod:`reaper.brake_sync`). Exactly one store: ``directory`` (a volume every shard
    mounts), ``s3_bucket`` or ``gcs_bucket``.
    """

    directory: str | None = None
    """A directory shared by every shard (a ReadWriteMany volume: a pod's own emptyDir is
    not shared, and every shard would wait for the others in vain)."""
    s3_bucket: str | None = None
    """An S3 bucket; records are written create-only under ``s3_prefix``."""
    s3_prefix: str = "reaper-brake"
    gcs_bucket: str | None = None
    """A GCS bucket (the audit trail's ``audit.gcs`` bucket will do); records are written
    create-only under ``gcs_prefix``."""
    gcs_prefix: str = "reaper-brake"
    wait: Duration = timedelta(minutes=5)
    """How long a shard waits for the others, from its own publishing; past it, it stores
    a stop verdict unless one is stored already, and nobody acts (fail closed)."""

    @field_validator("s3_bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and not _S3_BUCKET.fullmatch(value):
            raise ValueError(f"{value!r} is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
        return value

    @field_validator("gcs_bucket")
    @classmethod
    def _gcs_bucket(cls, value: str | None) -> str | None:
        return _shaped_or_none(_GCS_BUCKET, value, "a GCS bucket name (a-z, 0-9, '.', '-', '_')")

    @field_validator("s3_prefix", "gcs_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _bucket_prefix(value)

    @model_validator(mode="after")
    def _one_store(self) -> GlobalBrakeSettings:
        stores = [self.directory, self.s3_bucket, self.gcs_bucket]
        if sum(store is not None for store in stores) != 1:
            raise ValueError("give exactly one of directory, s3_bucket or gcs_bucket")
        return self


class SafetySettings(_Section):
    """The blast-radius brake, checked before the first action of a sweep."""

    max_actions_per_sweep: int = Field(default=50, ge=0)
    max_fraction: float = Field(default=0.5, gt=0, le=1)
    """Of the pipeline-tagged population of each provider/kind."""
    min_actions_for_fraction: int = Field(default=10, ge=0)
    """``max_fraction`` applies to a provider/kind only when more than this many of its
    resources would be acted on: a CI account is mostly ephemeral, and after a weekend most
    of a small population can rightly be due."""
    plan_max_age: Duration = timedelta(hours=1)
    """``reaper apply`` refuses a pinned plan older than this."""
    global_brake: GlobalBrakeSettings | None = None
    """Sharded sweeps: the limits above for the sum of all shards (null: for each shard)."""
    state_key_env: str = "REAPER_STATE_KEY"
    """The environment variable holding the key that signs reaper's lifecycle tags (at
    least 16 characters). Acting needs it; a dry run without it sees no mark as reaper's."""

    @field_validator("state_key_env")
    @classmethod
    def _key_env(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(
                f"{value!r} is not an environment variable name; put the key in the "
                "environment and name the variable here"
            )
        return value


_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")


def _bucket_prefix(value: str) -> str:
    if value.startswith("/") or value.endswith("/"):
        raise ValueError(f"{value!r}: write the prefix without a leading or trailing '/'")
    return value


class S3AuditSettings(_Section):
    """An S3 bucket that keeps a copy of the audit trail, one object per batch of records.

    Credentials come from the standard AWS environment, as for the providers.
    """

    bucket: str
    prefix: str = "reaper-audit"
    """Objects are ``{prefix}/{first_seq:012d}.jsonl``, created only if the key is free."""
    region: str | None = None
    """The bucket's region; None leaves it to the AWS environment."""
    object_lock_mode: str | None = None
    """``GOVERNANCE`` or ``COMPLIANCE`` to lock every object; the bucket needs Object Lock."""
    retain_days: int | None = Field(default=None, ge=1)
    """Days each locked object is retained; goes with ``object_lock_mode``."""
    required: bool = False
    """True: when an upload fails, the sweep takes no action, as when the file fails."""

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _S3_BUCKET.fullmatch(value):
            raise ValueError(f"{value!r} is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _bucket_prefix(value)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _shaped_or_none(_REGION, value, "an AWS region name")

    @field_validator("object_lock_mode")
    @classmethod
    def _lock_mode(cls, value: str | None) -> str | None:
        if value is not None and value not in _LOCK_MODES:
            raise ValueError(
                f"unknown object lock mode {value!r} (valid: {', '.join(_LOCK_MODES)})"
            )
        return value

    @model_validator(mode="after")
    def _retention(self) -> S3AuditSettings:
        if self.object_lock_mode is not None and self.retain_days is None:
            raise ValueError("retain_days is required with object_lock_mode")
        if self.object_lock_mode is None and self.retain_days is not None:
            raise ValueError(f"retain_days needs an object_lock_mode ({', '.join(_LOCK_MODES)})")
        return self


class GcsAuditSettings(_Section):
    """A GCS bucket that keeps a copy of the audit trail, one object per batch of records.

    Credentials are Application Default Credentials (Workload Identity on GKE). Make the
    objects immutable with the bucket's retention policy.
    """

    bucket: str
    prefix: str = "reaper-audit"
    """Objects are ``{prefix}/{first_seq:012d}.jsonl``, created only if the key is free."""
    required: bool = False
    """True: when an upload fails, the sweep takes no action, as when the file fails."""

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        return _shaped(_GCS_BUCKET, value, "a GCS bucket name (a-z, 0-9, '.', '-', '_')")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _bucket_prefix(value)


class AuditSettings(_Section):
    """Where the audit trail goes. Every sink gets every record; one at least is needed."""

    path: str | None = "reaper-audit.jsonl"
    """JSON Lines file, appended to; relative paths are relative to the working directory.
    Always required: if it cannot be written, nothing is done. ``null`` turns it off."""
    stdout: bool = False
    """Also print every record as a JSON line on standard output, for a log collector."""
    lock_timeout: ZeroOrDuration = timedelta(minutes=2)
    """How long a run waits for another run that has the audit file open (its lock,
    ``<path>.lock``) before it gives up with exit code 4. ``0s``: not at all."""
    s3: S3AuditSettings | None = None
    gcs: GcsAuditSettings | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("the path is empty (use null to turn the audit file off)")
        return value

    @model_validator(mode="after")
    def _a_sink(self) -> AuditSettings:
        if self.path is None and not self.stdout and self.s3 is None and self.gcs is None:
            raise ValueError("no audit sink: set at least one of path, stdout, s3, gcs")
        return self


class NotifySettings(_Section):
    """Slack-compatible webhook notifications."""

    webhook_url_env: str | None = None
    """Name of the environment variable holding the webhook URL (a secret: never in config)."""
    on_mark: bool = True
    """Tell owners when resources are marked: what, why, when, who owns it."""
    summary: bool = True
    """Post a summary after each applied sweep."""

    @field_validator("webhook_url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(
                f"{value!r} is not an environment variable name; put the URL in the "
                "environment and name the variable here"
            )
        return value


class MetricsSettings(_Section):
    """Prometheus: the daemon serves /metrics; CronJob runs push to a Pushgateway."""

    pushgateway: str | None = None
    """Pushgateway URL for ``reaper run`` (``http://pushgateway.monitoring:9091``)."""
    job: str = "reaper"
    shard: str = "default"
    """Grouping key with ``job``, so several CronJobs (one per account, say) do not collide."""

    @field_validator("pushgateway")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class Schedule(_Section):
    """When sweeps run: exactly one of a cron expression or an interval."""

    cron: str | None = None
    """Five-field crontab expression in UTC, e.g. ``*/30 * * * *``; checked with the
    daemon's own parser (:func:`reaper.schedules.cron_trigger`)."""
    interval: Duration | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            cron_trigger(value)  # the daemon's own parser: what it would refuse, refused here
        return value

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of cron or interval")
        return self

    def period(self) -> timedelta | None:
        """The interval, if this is an interval schedule."""
        return self.interval


LEASE_REQUEST_SHARE = 0.5
"""A Lease request's timeout, as a share of ``retry_period``: every request of the election
ends before its next attempt is due (:attr:`LeaderElectionSettings.request_timeout`)."""
ABANDON_MARGIN_SECONDS = 2.6
"""What a leader that lost its Lease keeps, before the lease can expire, to abandon a sweep
still running (``reaper.daemon``): the poll that notices it, the wait for the
``shutdown-abandoned`` record and the exit. ``lease_duration - renew_deadline`` must be at
least this."""


def _seconds(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


class LeaderElectionSettings(_Section):
    """Several daemon replicas, one sweeper: a ``coordination.k8s.io/v1`` Lease decides."""

    lease: str = "reaper"
    """The Lease's name."""
    namespace: str | None = None
    """Where the Lease lives; None: the pod's own namespace (its service account's)."""
    lease_duration: Duration = timedelta(seconds=30)
    """How long followers wait, after they last saw the Lease renewed, before taking it."""
    renew_deadline: Duration = timedelta(seconds=20)
    """A leader that has not renewed for this long stops acting (before its lease expires)."""
    retry_period: Duration = timedelta(seconds=5)
    """Between two attempts to take or renew the Lease."""

    @field_validator("lease")
    @classmethod
    def _lease(cls, value: str) -> str:
        return _shaped(_DNS_LABEL, value, "a valid Lease name (a DNS label)")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return _shaped_or_none(_DNS_LABEL, value, "a namespace name")

    @property
    def request_timeout(self) -> timedelta:
        """The timeout of each Lease request: :data:`LEASE_REQUEST_SHARE` of
        ``retry_period``, so shorter than it."""
        return self.retry_period * LEASE_REQUEST_SHARE

    @model_validator(mode="after")
    def _timings(self) -> LeaderElectionSettings:
        # A leader stops acting at renew_deadline; followers take over at lease_duration.
        # The gap is what abandoning a running sweep has to finish in.
        if self.retry_period < timedelta(seconds=1):
            raise ValueError("retry_period must be at least 1s")
        least = self.retry_period * 2 + self.request_timeout
        if self.renew_deadline < least:
            raise ValueError(
                f"renew_deadline ({_seconds(self.renew_deadline)}) must be at least 2 x "
                f"retry_period + the Lease request timeout ({_seconds(least)}: retry_period "
                f"{_seconds(self.retry_period)}, each request times out after "
                f"{_seconds(self.request_timeout)}), so a leader gets two attempts to renew "
                "before it stops"
            )
        margin = timedelta(seconds=ABANDON_MARGIN_SECONDS)
        if self.lease_duration - self.renew_deadline < margin:
            raise ValueError(
                f"lease_duration ({_seconds(self.lease_duration)}) must be at least "
                f"{_seconds(margin)} longer than renew_deadline "
                f"({_seconds(self.renew_deadline)}): a leader that could not renew needs "
                "that long to stop (or abandon) its sweep before another replica can take over"
            )
        return self


class DaemonSettings(_Section):
    """``reaper daemon``: scheduled sweeps and an HTTP endpoint for probes and metrics."""

    schedule: Schedule = Schedule(interval=timedelta(minutes=30))
    providers: Mapping[str, Schedule] = Field(default_factory=dict)
    """Per-provider schedules (``aws: {interval: 15m}``); others use ``schedule``."""
    listen: str = "0.0.0.0:9095"
    """host:port of /metrics, /healthz and /readyz."""
    ready_after_missed: int = Field(default=3, ge=1)
    """/readyz fails when no sweep succeeded within this many schedule periods."""
    shutdown_timeout: Duration = timedelta(seconds=60)
    """After SIGTERM, how long the running sweep may take to finish its current action."""
    leader_election: LeaderElectionSettings | None = None
    """None: one replica, no election. Set it to run several replicas of which only the
    leader (the holder of a Lease) sweeps; every replica serves the probes and metrics."""

    @field_validator("providers")
    @classmethod
    def _providers(cls, value: Mapping[str, Schedule]) -> Mapping[str, Schedule]:
        known = provider_sections()
        for name in value:
            if name not in known:
                raise ValueError(f"unknown provider {name!r} (valid: {', '.join(known)})")
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not host:port")
        return value


# -- pipelines: CI systems asked whether a resource's run is over -------------------------

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A label value for GCP and Kubernetes alike, lower-case: a source alias is a tag value.
_LABEL_VALUE = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?")
_GITHUB_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_GITLAB_PROJECT = re.compile(r"[^/\s]+(/[^/\s]+)+")


# GitHub's token shapes that are also valid variable names (GitLab's hold a '-').
_TOKEN_SHAPE = re.compile(r"(gh[pousr]_|github_pat_)[A-Za-z0-9_]{20,}")


def _token_env(value: str) -> str:
    if not _ENV_NAME.fullmatch(value) or _TOKEN_SHAPE.fullmatch(value):
        # The value is not echoed: a token pasted here by mistake must not reach a log.
        raise ValueError(
            "not an environment variable name (the value is not shown, it may be a token); "
            "put the token in the environment and name the variable here"
        )
    return value


def _http_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/@?#]+(/[^\s?#@]*)?", value):
        raise ValueError(
            "not an http(s) URL without credentials, query or fragment (the value is not "
            "shown, it may hold credentials)"
        )
    return value.rstrip("/")


def _source_alias(value: str) -> str:
    if not _LABEL_VALUE.fullmatch(value):
        raise ValueError(
            f"source alias {value!r} is not a label value (lower-case letters, digits, "
            "'_' and '-', at most 63, starting and ending with a letter or digit): it is "
            "the value of the ci_source tag"
        )
    return value


TokenEnv = Annotated[str, AfterValidator(_token_env)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
SourceAlias = Annotated[str, AfterValidator(_source_alias)]


class GithubSourceSettings(_Section):
    """A GitHub repository whose Actions runs resources name."""

    repository: str
    """``owner/repo``."""
    token_env: TokenEnv = "GITHUB_TOKEN"  # noqa: S105 (a variable's name, not a token)
    """The variable holding a token with ``actions: read``; the name, never the token."""
    api_url: HttpUrl | None = None
    """None: ``https://api.github.com``; GitHub Enterprise Server: ``https://HOST/api/v3``."""

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        return _shaped(_GITHUB_REPOSITORY, value, "owner/repo")


class GitlabSourceSettings(_Section):
    """A GitLab project whose pipelines resources name."""

    project: str
    """The full path, ``group/project`` or ``group/subgroup/project``."""
    url: HttpUrl = "https://gitlab.com"
    token_env: TokenEnv = "GITLAB_TOKEN"  # noqa: S105 (a variable's name, not a token)
    """The variable holding a token with ``read_api``; the name, never the token."""

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        return _shaped(_GITLAB_PROJECT, value, "group/project")


class PipelineSource(_Section):
    """One source alias: exactly one of ``github`` or ``gitlab``."""

    github: GithubSourceSettings | None = None
    gitlab: GitlabSourceSettings | None = None

    @model_validator(mode="after")
    def _one(self) -> PipelineSource:
        if (self.github is None) == (self.gitlab is None):
            raise ValueError("give exactly one of github or gitlab")
        return self


class PipelineSettings(_Section):
    """Pipeline-aware reaping: a resource whose CI run finished is litter, whatever its TTL."""

    after_finish: ZeroOrDuration = timedelta(minutes=30)
    """A finished run's resources are litter this long after it finished."""
    sources: Mapping[SourceAlias, PipelineSource] = Field(default_factory=dict)
    """Source aliases (the values of the ci_source tag) and where they point."""
    max_workers: int = Field(default=4, ge=1, le=32)
    """Run lookups in flight at once."""
    max_wait: ZeroOrDuration = timedelta(seconds=30)
    """Per sweep, how long a lookup may wait for a rate limit; past it the run is unknown."""
    timeout: Duration = timedelta(seconds=10)
    """Per request."""

    def describe(self) -> str:
        """This section's part of the startup line. Pure."""
        kinds = ",".join(
            f"{alias}:{'github' if s.github else 'gitlab'}" for alias, s in self.sources.items()
        )
        return f"pipelines={kinds} after_finish={format_duration(self.after_finish)}"


class Settings(_Section):
    """The whole configuration."""

    dry_run: bool = True
    tags: TagKeys = TagKeys()
    providers: Providers
    policy: PolicySettings = PolicySettings()
    safety: SafetySettings = SafetySettings()
    audit: AuditSettings = AuditSettings()
    notify: NotifySettings = NotifySettings()
    metrics: MetricsSettings = MetricsSettings()
    daemon: DaemonSettings = DaemonSettings()
    pipelines: PipelineSettings = PipelineSettings()


def describe_settings(settings: Settings) -> str:
    """What a config sweeps and how carefully, for start-up and validate lines. Pure."""
    parts = [f"dry_run={str(settings.dry_run).lower()}"]
    parts += [f"{name} {s.describe()}" for name, s in settings.providers.configured().items()]
    parts += [settings.pipelines.describe()] if settings.pipelines.sources else []
    audit = settings.audit
    sinks = [f"file:{audit.path}"] if audit.path else []
    sinks += ["stdout"] if audit.stdout else []
    sinks += [f"s3://{audit.s3.bucket}/{audit.s3.prefix}"] if audit.s3 else []
    sinks += [f"gs://{audit.gcs.bucket}/{audit.gcs.prefix}"] if audit.gcs else []
    parts.append(
        f"max_actions={settings.safety.max_actions_per_sweep} "
        f"max_fraction={settings.safety.max_fraction:g} audit={','.join(sinks)}"
    )
    return " ".join(parts)


def parse_settings(data: object, source: str) -> Settings:
    """Validate already-parsed YAML. Pure. Raises ConfigError listing every problem."""
    if data is None:
        raise ConfigError([f"{source}: the file is empty"])
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys"])
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise ConfigError([f"{source}: {p}" for p in _problems(err)]) from None


MAX_CONFIG_BYTES = 1024 * 1024
"""A config file larger than this is refused before it is parsed."""
MAX_CONFIG_VALUES = 20_000
"""Keys and values the document may hold once its aliases are expanded; a real config has
hundreds. With ``MAX_CONFIG_BYTES`` of text once expanded, this bounds the work an alias
bomb (``&a [*b, *b, ...]`` nested) can cause."""
MAX_CONFIG_DEPTH = 50
"""Levels of nesting the document may have."""
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_SHOWN = 200
"""Longest value repeated in a message."""


def load_settings(path: str | Path) -> tuple[Settings, str]:
    """Read, parse and validate a config file; returns the settings and the file's SHA-256.

    Raises ConfigError, never an OSError or a YAML error. Besides YAML syntax, a key given
    twice in one mapping is an error (YAML would silently keep the last), and so are a file
    over ``MAX_CONFIG_BYTES``, aliases expanding to more than ``MAX_CONFIG_VALUES`` values
    and nesting deeper than ``MAX_CONFIG_DEPTH``: they are refused before anything is built.
    """
    source = str(path)
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([f"{source}: no such file"]) from None
    except OSError as err:
        raise ConfigError([f"{source}: cannot read: {err}"]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        limit = f"{MAX_CONFIG_BYTES // 1024} KiB"
        raise ConfigError([f"{source}: the file is larger than {limit}; a config is far smaller"])
    try:
        # As Path.read_text would: universal newlines, so the digest does not change.
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as err:
        raise ConfigError([f"{source}: cannot read: {err}"]) from None
    data = _read_yaml(text, source)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return parse_settings(data, source), digest


class _TooDeep(Exception):
    """Raised by :class:`_Loader` past ``MAX_CONFIG_DEPTH``; carries the line."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _Loader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, refusing to nest deeper than ``MAX_CONFIG_DEPTH``.

    Checked as each node is composed, so the scanner, whose work grows with the square of
    the nesting, never reads far past the limit.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_CONFIG_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _TooDeep(event.start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _read_yaml(text: str, source: str) -> object:
    """``yaml.safe_load(text)``, after :func:`_structure_problems` found nothing wrong."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        problems = _structure_problems(node, loader)
        if problems:
            raise ConfigError([f"{source}: {problem}" for problem in problems])
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        where = ""
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}: "
        problem = redact(getattr(err, "problem", None) or str(err))
        raise ConfigError([f"{source}: {where}YAML syntax error: {problem}"]) from None
    except _TooDeep as err:
        raise ConfigError([f"{source}: line {err.line}: {_too_deep()}"]) from None
    finally:
        loader.dispose()


def _too_deep() -> str:
    return f"nested more than {MAX_CONFIG_DEPTH} levels deep (a config needs fewer than ten)"


def _structure_problems(root: yaml.Node, loader: yaml.SafeLoader) -> list[str]:
    """Duplicate keys, or the one reason the document is too big or too deep.

    Walks the document as it would be built, aliases expanded, so it sees what validation
    would see; it stops after ``MAX_CONFIG_VALUES`` nodes or ``MAX_CONFIG_BYTES`` of scalar
    text, so a bomb costs no more than that.
    """
    duplicates: list[tuple[int, str]] = []
    visited: set[int] = set()
    on_path: set[int] = set()  # the nodes that contain the one being looked at
    expanded = characters = 0
    aliased = False
    # (node, key path, depth), or a node's id when the walk leaves it.
    stack: list[tuple[yaml.Node, str, int] | int] = [(root, "", 1)]
    while stack:
        item = stack.pop()
        if isinstance(item, int):
            on_path.discard(item)
            continue
        node, path, depth = item
        line = f"line {node.start_mark.line + 1}"
        if id(node) in on_path:
            return [f"{line}: {path}: a recursive alias: the value contains itself"]
        if depth > MAX_CONFIG_DEPTH:
            return [f"{line}: with its aliases expanded, {_too_deep()}"]
        expanded += 1
        if isinstance(node, yaml.ScalarNode):
            characters += len(node.value)
        if expanded > MAX_CONFIG_VALUES or characters > MAX_CONFIG_BYTES:
            what = (
                f"more than {MAX_CONFIG_VALUES:,} keys and values"
                if expanded > MAX_CONFIG_VALUES
                else f"more than {MAX_CONFIG_BYTES // 1024} KiB of text"
            )
            cause = "its aliases expand it to" if aliased else "it holds"
            return [f"the document is too big: {cause} {what} (a config needs far less)"]
        if id(node) in visited:
            aliased = True
        elif isinstance(node, yaml.MappingNode):
            duplicates += _duplicate_keys(node, path, loader)
        visited.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            continue
        on_path.add(id(node))
        stack.append(id(node))
        children: list[tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.SequenceNode):
            children = [(child, f"{path}[{i}]") for i, child in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.tag == _MERGE_TAG:  # ``<<: *base``: its keys join this mapping
                    children.append((value, path))
                else:
                    children += [(key, path), (value, _key_path(path, key))]
        stack += [(child, child_path, depth + 1) for child, child_path in reversed(children)]
    return [problem for _, problem in sorted(duplicates)]


def _duplicate_keys(
    node: yaml.MappingNode, path: str, loader: yaml.SafeLoader
) -> list[tuple[int, str]]:
    """(first line, problem) for each key given more than once in one mapping."""
    lines: dict[object, list[int]] = {}
    nodes: dict[object, yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
            continue  # complex keys are refused when the document is built
        value = loader.construct_object(key)
        try:
            lines.setdefault(value, []).append(key.start_mark.line + 1)
        except TypeError:  # unhashable: refused when the document is built
            continue
        nodes.setdefault(value, key)
    problems = []
    for value, at in lines.items():
        if len(at) > 1:
            listed = ", ".join(map(str, at[:-1])) + f" and {at[-1]}"
            problems.append(
                (
                    at[0],
                    f"{_key_path(path, nodes[value])}: duplicate key at lines {listed} "
                    "(YAML would silently keep the last one)",
                )
            )
    return problems


def _key_path(path: str, key: yaml.Node) -> str:
    """The dotted path of a mapping's value, as validation messages name keys."""
    name = clean(str(key.value), 80) if isinstance(key, yaml.ScalarNode) else "?"
    return f"{path}.{name}" if path else name


def _problems(err: ValidationError) -> list[str]:
    problems = []
    for item in err.errors(include_url=False):
        loc = item["loc"]
        path = _dotted(loc)
        kind = item["type"]
        if kind == "extra_forbidden":
            valid = _valid_keys(loc[:-1])
            hint = f" (valid: {', '.join(valid)})" if valid else ""
            message = f"unknown key{hint}"
        elif kind == "missing":
            message = "required key is missing"
        elif kind == "value_error":
            message = str(item["ctx"]["error"]) if "ctx" in item else item["msg"]
        else:
            shown = clip(repr(item["input"]), _MAX_SHOWN)
            message = f"{item['msg'][0].lower()}{item['msg'][1:]}, got {shown}"
        message = redact(message)  # a value may hold a password, a token, a webhook path
        problems.append(f"{path}: {message}" if path else message)
    return problems


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or part in ("is-instance[tuple]", "[key]"):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _valid_keys(loc: Sequence[int | str]) -> list[str]:
    """The keys allowed in the section at ``loc``, for "unknown key" messages."""
    model: type[BaseModel] | None = Settings
    in_mapping = False
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        if in_mapping:  # ``part`` is a key of a mapping, such as a kind name
            in_mapping = False
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        in_mapping = getattr(field.annotation, "__origin__", None) in (Mapping, dict)
        model = _section_type(field.annotation)
    return list(model.model_fields) if model is not None else []


def _section_type(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _section_type(arg)
        if found is not None:
            return found
    return None
