"""All of the fake's state behind one lock, and the clock that moves operations along.

Operations finish after a number of polls (``operation_polls``; ``get`` and ``wait`` each
count as one) so that callers must handle PENDING and RUNNING, or, when
``operation_seconds`` is set, after that much wall time as well, which lets a demo
settle without polling. An operation's effect (an instance gone, a cluster deleted)
happens when it reaches DONE, as on the real services.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from reaper.sandbox.gcp.faults import Faults
from reaper.sandbox.gcp.model import (
    Cluster,
    ComputeOperation,
    Disk,
    Effect,
    Firewall,
    Folder,
    GkeOperation,
    Image,
    Instance,
    Network,
    Project,
)
from reaper.sandbox.gcp.project_search import Semantics
from reaper.sandbox.gcp.stats import RequestStats

DEFAULT_ZONES = (
    "us-central1-a",
    "us-central1-b",
    "us-central1-c",
    "us-central1-f",
    "europe-west1-b",
    "europe-west1-c",
    "europe-west1-d",
)


@dataclass(frozen=True)
class Settings:
    """How the fake behaves in time."""

    operation_polls: int = 2
    """Polls (operation get or wait calls) an operation needs to reach DONE; 0 = at once."""
    wait_seconds: float = 0.05
    """The most a zoneOperations/globalOperations ``wait`` blocks (the real one: ~2 min)."""
    operation_seconds: float | None = None
    """If set, operations also reach DONE once this many seconds have passed."""

    def __post_init__(self) -> None:
        if self.operation_polls < 0:
            raise ValueError(f"operation_polls must be >= 0, got {self.operation_polls}")
        if self.wait_seconds < 0:
            raise ValueError(f"wait_seconds must be >= 0, got {self.wait_seconds}")


def region_of(zone: str) -> str:
    """``us-central1`` for ``us-central1-a``. Pure."""
    return zone.rsplit("-", 1)[0]


class World:
    """The resources, operations, faults and counters of one fake, and its lock.

    Handlers hold ``lock`` (re-entrant) for the whole of a read or a write, so each
    request sees and leaves a consistent state; ``changed`` is notified whenever an
    operation finishes, for ``wait``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.stats = RequestStats()
        self.faults = Faults()
        self.projects: dict[str, Project] = {}
        self.organizations: set[str] = set()
        """``organizations/N`` that Resource Manager knows."""
        self.folders: dict[str, Folder] = {}
        self.unlistable: set[str] = set()
        """Parents whose folders the caller may not list (HTTP 403), nor see the projects
        below them in a search."""
        self.hidden: set[str] = set()
        """Parents below which the caller may not ``get`` projects, so a search leaves them
        out; their folders are listed all the same."""
        self.search_semantics = Semantics.ALL
        """How ``projects.search`` combines the terms of its query."""
        self.list_page_size = 100
        """The most projects or folders one Resource Manager page holds."""
        self.instances: dict[tuple[str, str, str], Instance] = {}
        self.disks: dict[tuple[str, str, str], Disk] = {}
        self.images: dict[tuple[str, str], Image] = {}
        self.networks: dict[tuple[str, str], Network] = {}
        self.firewalls: dict[tuple[str, str], Firewall] = {}
        self.clusters: dict[tuple[str, str, str], Cluster] = {}
        self.compute_operations: dict[str, ComputeOperation] = {}
        self.gke_operations: dict[str, GkeOperation] = {}
        self.request_ids: dict[tuple[str, str], str] = {}
        self.pending: set[tuple[str, ...]] = set()
        """Markers of creations and deletions whose operation has not finished."""
        self._random = random.Random(20240102)
        self._last_op_ms = 0

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the lock and first finish whatever operations ran out of time."""
        with self.lock:
            self._expire()
            yield

    def now(self) -> datetime:
        return datetime.now(UTC)

    def new_id(self) -> int:
        """A fresh 19-digit numeric id like Compute Engine's."""
        with self.lock:
            return self._random.randrange(10**18, 2**63)

    def hex_id(self, digits: int) -> str:
        with self.lock:
            return "".join(self._random.choice("0123456789abcdef") for _ in range(digits))

    def project(self, project_id: str) -> Project | None:
        return self.projects.get(project_id)

    def ensure_project(self, project_id: str, zones: tuple[str, ...] = DEFAULT_ZONES) -> Project:
        with self.lock:
            found = self.projects.get(project_id)
            if found is None:
                number = self._random.randrange(10**11, 10**12)
                found = Project(project_id, number, list(zones))
                self.projects[project_id] = found
            return found

    def resource_number(self) -> int:
        """A fresh 12-digit number for an organization or folder."""
        with self.lock:
            return self._random.randrange(10**11, 10**12)

    def ensure_zone(self, project_id: str, zone: str) -> Project:
        project = self.ensure_project(project_id)
        if zone not in project.zones:
            project.zones.append(zone)
        return project

    def _operation_millis(self) -> int:
        millis = int(time.time() * 1000)
        self._last_op_ms = max(millis, self._last_op_ms + 1)
        return self._last_op_ms

    def start_compute_operation(
        self,
        *,
        project: str,
        zone: str | None,
        operation_type: str,
        target_link: str,
        target_id: int,
        method: str,
        on_done: Effect | None = None,
        on_error: Effect | None = None,
    ) -> ComputeOperation:
        """Register a PENDING operation; it finishes after ``operation_polls`` polls."""
        with self.lock:
            millis = self._operation_millis()
            name = f"operation-{millis}-{self.hex_id(13)}-{self.hex_id(8)}-{self.hex_id(8)}"
            failure = self.faults.take_operation_failure(method)
            op = ComputeOperation(
                project=project,
                zone=zone,
                name=name,
                id=self.new_id(),
                operation_type=operation_type,
                target_link=target_link,
                target_id=target_id,
                status="PENDING",
                progress=0,
                inserted=self.now(),
                started=None,
                ended=None,
                polls_needed=self.settings.operation_polls,
                on_done=on_done,
                on_error=on_error,
                failure=failure,
            )
            self.compute_operations[name] = op
            if op.polls_needed == 0:
                self._finish_compute(op)
            return op

    def poll_compute(self, op: ComputeOperation) -> None:
        """One ``get``/``wait`` of ``op``: PENDING -> RUNNING -> ... -> DONE."""
        with self.lock:
            if op.status == "DONE":
                return
            op.polls_done += 1
            if op.polls_done >= op.polls_needed:
                self._finish_compute(op)
                return
            op.status = "RUNNING"
            op.started = op.started or self.now()
            op.progress = max(op.progress, 100 * op.polls_done // op.polls_needed)

    def _finish_compute(self, op: ComputeOperation) -> None:
        now = self.now()
        op.status = "DONE"
        op.progress = 100
        op.started = op.started or now
        op.ended = now
        if op.failure is not None:
            op.error = op.failure
            if op.on_error is not None:
                op.on_error()
        elif op.on_done is not None:
            op.on_done()
        self.changed.notify_all()

    def start_gke_operation(
        self,
        *,
        project: str,
        location: str,
        operation_type: str,
        cluster: str,
        node_pool: str | None,
        method: str,
        held: bool = False,
        on_done: Effect | None = None,
        on_error: Effect | None = None,
    ) -> GkeOperation:
        """Register a RUNNING GKE operation; a held one runs until ``finish_gke`` is called."""
        with self.lock:
            name = f"operation-{self._operation_millis()}-{self.hex_id(8)}"
            failure = None if held else self.faults.take_operation_failure(method)
            op = GkeOperation(
                project=project,
                location=location,
                name=name,
                operation_type=operation_type,
                cluster=cluster,
                node_pool=node_pool,
                status="RUNNING",
                started=self.now(),
                ended=None,
                polls_needed=None if held else self.settings.operation_polls,
                on_done=on_done,
                on_error=on_error,
                failure=failure,
            )
            self.gke_operations[name] = op
            if op.polls_needed == 0:
                self.finish_gke(op)
            return op

    def poll_gke(self, op: GkeOperation) -> None:
        """One ``operations.get`` of ``op``; a held operation does not move."""
        with self.lock:
            if op.status == "DONE" or op.polls_needed is None:
                return
            op.polls_done += 1
            if op.polls_done >= op.polls_needed:
                self.finish_gke(op)

    def finish_gke(self, op: GkeOperation) -> None:
        with self.lock:
            if op.status == "DONE":
                return
            op.status = "DONE"
            op.ended = self.now()
            if op.failure is not None:
                op.error = op.failure
                if op.on_error is not None:
                    op.on_error()
            elif op.on_done is not None:
                op.on_done()
            self.changed.notify_all()

    def finish_compute(self, op: ComputeOperation) -> None:
        with self.lock:
            if op.status != "DONE":
                self._finish_compute(op)

    def running_gke_operations(
        self, project: str, location: str, cluster: str
    ) -> list[GkeOperation]:
        """The unfinished operations on one cluster, oldest first."""
        with self.lock:
            return [
                op
                for op in self.gke_operations.values()
                if op.status != "DONE"
                and (op.project, op.location, op.cluster) == (project, location, cluster)
            ]

    def settle(self) -> None:
        """Finish every operation that is not held, as if enough time had passed."""
        with self.lock:
            for compute_op in list(self.compute_operations.values()):
                self.finish_compute(compute_op)
            for gke_op in list(self.gke_operations.values()):
                if gke_op.polls_needed is not None:
                    self.finish_gke(gke_op)

    def _expire(self) -> None:
        seconds = self.settings.operation_seconds
        if seconds is None:
            return
        cutoff = self.now() - timedelta(seconds=seconds)
        for compute_op in list(self.compute_operations.values()):
            if compute_op.status != "DONE" and compute_op.inserted <= cutoff:
                self._finish_compute(compute_op)
        for gke_op in list(self.gke_operations.values()):
            if (
                gke_op.status != "DONE"
                and gke_op.polls_needed is not None
                and gke_op.started <= cutoff
            ):
                self.finish_gke(gke_op)
