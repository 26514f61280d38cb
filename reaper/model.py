"""Pure data: what reaper sees, what it decides, and what happened.

Nothing here does I/O or reads a clock; every timestamp is passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum


class Action(StrEnum):
    """What reaper does to a resource. Ordered from harmless to destructive."""

    KEEP = "keep"
    UNMARK = "unmark"
    """Clear reaper's marks from a resource that no longer qualifies."""
    MARK = "mark"
    """Announce a coming action on the resource itself; the action follows after the grace."""
    QUARANTINE = "quarantine"
    """Stop and isolate; deleted after the quarantine TTL unless released."""
    DELETE = "delete"
    RELEASE = "release"
    """Operator-initiated (``reaper release``): undo a quarantine and clear the marks."""

    @property
    def destructive(self) -> bool:
        """True for actions the safety brake counts."""
        return self in (Action.QUARANTINE, Action.DELETE)


class Reason(StrEnum):
    """Why a decision was made. Several may apply to one resource."""

    NOT_PIPELINE = "not-pipeline"
    """No pipeline tag: reaper never touches it."""
    PROTECTED = "protected"
    """The protect tag is set."""
    INVALID_TAG = "invalid-tag"
    """A reaper tag could not be parsed; the resource is kept until someone fixes it."""
    UNKNOWN_AGE = "unknown-age"
    """Neither a creation time nor an expiry is known, so no deadline can be computed."""
    WITHIN_TTL = "within-ttl"
    """Its deadline has not come yet."""
    TTL_EXPIRED = "ttl-expired"
    """Older than its TTL (from its ttl tag, its kind, or the default)."""
    EXPIRY_PASSED = "expiry-passed"
    """Its explicit expiry tag lies in the past."""
    IN_GRACE = "in-grace"
    """Marked; the grace period has not ended yet."""
    QUARANTINED = "quarantined"
    """Quarantined; the quarantine TTL has not ended yet."""
    QUARANTINE_EXPIRED = "quarantine-expired"
    """Quarantined for longer than the quarantine TTL without being released."""
    QUARANTINE_INCOMPLETE = "quarantine-incomplete"
    """Tagged quarantined, but its isolation did not read back as complete: quarantined again."""
    RETRY_BACKOFF = "retry-backoff"
    """Earlier attempts failed; the next one waits for its backoff."""
    UNPATCHED = "unpatched"
    """Runs an image that is too old, deprecated or gone, or an outdated Kubernetes version."""
    EXPOSED = "exposed"
    """Reachable from the whole internet on a sensitive port, or exposed by its provider's
    own rule (a Kubernetes Service of type LoadBalancer without source ranges, NodePort)."""
    DELETING = "deleting"
    """Its deletion was requested and is in progress (a Kubernetes namespace Terminating):
    a later sweep finds it gone; one stuck for too long is escalated."""
    IN_TRANSITION = "in-transition"
    """Between two of its provider's lifecycle states (a VM stopping or suspending): kept,
    and decided again on a later sweep, once it has settled."""
    RUN_FINISHED = "run-finished"
    """The CI run that created it finished more than ``pipelines.after_finish`` ago."""
    RUN_ACTIVE = "run-active"
    """The CI run that created it is still going (and its TTL has not passed)."""


class Result(StrEnum):
    """How an attempted action ended."""

    DONE = "done"
    ALREADY_GONE = "already-gone"
    FAILED = "failed"
    DRY_RUN = "dry-run"
    SKIPPED = "skipped"

    @property
    def ok(self) -> bool:
        return self is not Result.FAILED


@dataclass(frozen=True, order=True, slots=True)
class Scope:
    """Where a resource lives."""

    account: str
    """The configured account name (AWS account, later GCP project or Kubernetes context)."""
    region: str
    """Region or zone; empty for resources that are not regional."""

    def __str__(self) -> str:
        return f"{self.account}/{self.region}" if self.region else self.account


EVERY_REGION = "*"
"""A configured scope's region standing for every region of its account (a GCP project
swept in all its zones). Never a resource's own region."""


@dataclass(frozen=True, order=True, slots=True)
class ResourceRef:
    """The identity of one resource, usable as a dict key and for deduplication."""

    provider: str
    """Cloud or platform: ``aws``."""
    kind: str
    """Resource kind within the provider: ``ec2_instance``."""
    scope: Scope
    id: str
    """The provider's own identifier, such as ``i-0abc...``."""

    @property
    def kind_key(self) -> str:
        """``provider:kind``, the key of the kind registry and the brake's groups."""
        return f"{self.provider}:{self.kind}"

    def __str__(self) -> str:
        return f"{self.provider}:{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """The machine image a VM runs, as the provider described it."""

    id: str
    created_at: datetime | None = None
    deprecated_at: datetime | None = None
    missing: bool = False
    """The image no longer exists (deregistered, or no longer shared with the account)."""


WORLD = ("0.0.0.0/0", "::/0")
"""The whole internet as CIDR blocks, IPv4 then IPv6: a firewall rule or an allow-list
naming one of them lets anyone in."""


@dataclass(frozen=True, slots=True)
class PortRange:
    """An inbound rule open to the whole internet (0.0.0.0/0 or ::/0)."""

    protocol: str
    """``tcp``, ``udp``, ``icmp``, or ``all`` for every protocol."""
    from_port: int
    to_port: int

    def covers(self, port: int) -> bool:
        return self.protocol == "all" or self.from_port <= port <= self.to_port

    @property
    def all_ports(self) -> bool:
        return self.protocol == "all" or (self.from_port <= 0 and self.to_port >= 65535)


class RunPhase(StrEnum):
    """What the CI system said about a run. An unknown state is no fact at all."""

    ACTIVE = "active"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What is known about the CI run that created a resource, from its CI system.

    Attached between collecting and planning (``reaper.pipelines``) only when the CI
    system answered; a run whose state is unknown gets none, so it cannot change a
    decision. Shared by every resource of the run.
    """

    run: str
    """The run for people and logs: ``web/4711-2`` (source alias / run id - attempt)."""
    phase: RunPhase
    finished_at: datetime | None = None
    """When a finished run ended (GitHub ``updated_at``, GitLab ``finished_at``)."""
    litter_at: datetime | None = None
    """When a finished run's leftovers become litter: ``finished_at`` plus
    ``pipelines.after_finish`` (worked out by the caller, like an end of support)."""


@dataclass(frozen=True, slots=True)
class Deletion:
    """An asynchronous deletion in progress, as the provider reported it."""

    requested_at: datetime
    """When the deletion was asked for (a namespace's ``deletionTimestamp``)."""
    stuck_at: datetime
    """From when on it counts as stuck: ``requested_at`` plus the provider's ``stuck_after``."""
    conditions: tuple[str, ...] = ()
    """What holds it up, for people (``NamespaceFinalizersRemaining: ...``)."""


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource as a collector saw it. Immutable; collectors build a new one per sweep."""

    ref: ResourceRef
    name: str
    """A human name (the Name tag, the cluster name); may equal the id."""
    created_at: datetime | None
    """Timezone-aware creation time, or None when the provider did not say."""
    tags: Mapping[str, str] = field(default_factory=dict)
    state: str = ""
    """Provider lifecycle state as reported (``running``, ``stopped``), for reports."""
    pipeline_run: str | None = None
    """The value of the pipeline tag: which pipeline run created it."""
    owner: str | None = None
    """The value of the owner tag, if any."""
    image: ImageFacts | None = None
    """For VMs: the image it was launched from."""
    public: bool = False
    """Has a public IP address or a public endpoint."""
    open_to_world: tuple[PortRange, ...] = ()
    """Inbound rules of its firewall (security groups) open to the whole internet."""
    kubernetes_version: str | None = None
    """For clusters: ``major.minor``."""
    support_ends: date | None = None
    """For clusters: the end of standard support of its version, from its provider's
    calendar (EKS's, GKE's); None when the calendar does not know the version."""
    run: RunFacts | None = None
    """What its CI run's system said, when pipeline sources are configured and it knew."""
    isolated: bool | None = None
    """For a resource reaper's tags say is quarantined: whether the collector read back a
    complete isolation (stopped and cut off, as its kind defines it); None when it did not
    look (the resource is not quarantined) or could not tell, which counts as not isolated."""
    exposures: tuple[str, ...] = ()
    """What makes it reachable from outside by its provider's own rule, whatever the port
    (``service web: LoadBalancer without loadBalancerSourceRanges``): it is exposed."""
    deleting: Deletion | None = None
    """Set when its deletion is already under way: the policy keeps it (in progress)."""
    transitioning: bool = False
    """Between two of its provider's lifecycle states, as ``state`` says (a GCE instance
    ``STOPPING`` or ``SUSPENDING``, an EC2 instance ``stopping``): the policy keeps it
    (``in-transition``) and decides again on a later sweep."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's verdict on one resource. Produced by ``policy.decide``."""

    resource: Resource
    action: Action
    reasons: tuple[Reason, ...]
    deadline: datetime | None = None
    """When the resource was or will be due, if a deadline could be computed."""
    not_before: datetime | None = None
    """The earliest time the action may be carried out."""
    warnings: tuple[str, ...] = ()
    """Human-readable problems found while deciding, such as an unparsable tag."""
    intended: Action | None = None
    """For MARK (and waiting marked resources): the action that will follow the grace."""
    failures: int = 0
    """Earlier failed attempts on this resource, from its lifecycle tags."""
    escalated: bool = False
    """Failed often enough that a person should look at it."""
    details: tuple[str, ...] = ()
    """What was found, for people: ``image ami-1 is 200d old (max 90d)``."""
    verified: bool = True
    """False when the resource carries tags reaper owns whose signature does not verify
    (forged, or written without the state key): they were ignored, and whatever reaper
    writes next replaces them."""

    @property
    def ref(self) -> ResourceRef:
        return self.resource.ref


@dataclass(frozen=True, slots=True)
class Plan:
    """Every decision of one sweep, and the population the brake measures against."""

    created_at: datetime
    decisions: tuple[Decision, ...]
    population: Mapping[str, int]
    """Pipeline-tagged resources seen per ``provider:kind``."""

    def actionable(self) -> tuple[Decision, ...]:
        """The decisions that change something."""
        return tuple(d for d in self.decisions if d.action is not Action.KEEP)

    def count(self, action: Action) -> int:
        return sum(1 for d in self.decisions if d.action is action)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened when the actuator carried out one decision."""

    ref: ResourceRef
    action: Action
    result: Result
    message: str = ""
    tags: Mapping[str, str] | None = field(default=None, compare=False)
    """The resource's tags as the action left them, when the kind changed reaper's own tags
    itself (a quarantine records the originals before it isolates): a failure count is
    written on top of these, not of the tags the plan saw. None: the plan's tags stand."""


@dataclass(frozen=True, slots=True)
class CollectError:
    """A collector that failed for one kind in one scope; the rest of the sweep goes on."""

    kind_key: str
    scope: Scope
    message: str


@dataclass(frozen=True, slots=True)
class Collected:
    """What one collector call returned."""

    resources: tuple[Resource, ...]
    skipped: int = 0
    """Items the cloud returned that reaper could not read (missing id, odd fields)."""
    errors: tuple[CollectError, ...] = ()
    """Parts of the scope the cloud could not list (a GCP zone that did not answer): the
    collector returns what it could read, and each part is a collect error of the sweep."""


def age(resource: Resource, now: datetime) -> timedelta | None:
    """How old a resource is at ``now``, or None if its creation time is unknown. Pure."""
    if resource.created_at is None:
        return None
    return now - resource.created_at
