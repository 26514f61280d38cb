"""Leader election over a ``coordination.k8s.io/v1`` Lease: several daemon replicas, one
sweeper.

reaper's own small implementation, not the client's ``kubernetes.leaderelection``: that one
builds its API client from the process-wide default configuration, calls ``sys.exit`` on
timings it dislikes, sends its requests without a timeout (a leader stuck in a request never
notices it lost the lease), measures time with the wall clock, keeps running its
``onstarted_leading`` thread after leadership is lost, and never hands the lease back on a
clean stop. Here:

* Taking and renewing the Lease are writes conditional on its ``resourceVersion``
  (create: 409 AlreadyExists; replace: 409 Conflict): a conflict means another replica
  holds it, and a leader that meets one stops leading at once.
* Followers judge expiry by their own monotonic clock, as client-go does: a Lease whose
  record has not changed for ``leaseDurationSeconds`` since they observed its last change
  may be taken. No clock of another machine is trusted (``renewTime`` is not read). A
  follower reads the Lease at least every ``retry_period``, so it takes a Lease over
  within ``lease_duration + retry_period`` of the last renewal it saw (plus a request).
* A leader that has not renewed for ``renew_deadline`` is no longer the leader
  (:meth:`LeaderElector.is_leader` says so by the clock alone, even while its elector is
  stuck in a request). The daemon then stops its sweep, and abandons it before
  ``lease_duration`` has passed since the last renewal: no other replica can have taken
  over by then.
* Every request has a timeout shorter than ``retry_period``: half of it
  (:attr:`~reaper.config.LeaderElectionSettings.request_timeout`). The config requires
  ``renew_deadline`` to be at least ``2 x retry_period`` plus that timeout (two attempts to
  renew), and ``lease_duration - renew_deadline`` at least the daemon's abandon margin
  (:data:`~reaper.config.ABANDON_MARGIN_SECONDS`).
* A clean stop ends the election loop first, then hands the Lease back (an empty holder):
  a renewal in flight cannot take it back.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kubernetes import client
from kubernetes.config.config_exception import ConfigException

from reaper.config import LeaderElectionSettings
from reaper.durations import parse_api_time
from reaper.errors import ConfigError, ProviderError
from reaper.providers.kubernetes.clients import (
    CONFLICT,
    JSON,
    KubeApiError,
    KubeConnection,
    load_configuration,
    read_json,
    translate_errors,
    unless_missing,
)

log = logging.getLogger(__name__)

LEASE_PERMISSIONS = (
    "leases.coordination.k8s.io:get",
    "leases.coordination.k8s.io:create",
    "leases.coordination.k8s.io:update",
)
"""What the election needs in reaper's own namespace (deploy/kubernetes/daemon/role.yaml)."""
_JITTER = 0.2


class LeaseConflict(KubeApiError):
    """Someone else wrote the Lease first: another replica holds it (or just took it)."""


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says about its holder."""

    holder: str
    """``holderIdentity``; empty when nobody holds it (released)."""
    duration: float
    """``leaseDurationSeconds``."""
    acquired: datetime | None
    renewed: datetime | None
    transitions: int
    version: str = ""
    """``metadata.resourceVersion``: the condition of the next write."""


class LeaseStore(Protocol):
    """Reads and conditionally writes one Lease. Raises ProviderError when the API fails."""

    def read(self) -> LeaseRecord | None: ...

    def create(self, record: LeaseRecord) -> LeaseRecord: ...

    def replace(self, record: LeaseRecord) -> LeaseRecord: ...


def _micro_time(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_of(lease: JSON) -> LeaseRecord:
    """A Lease object's record. Pure."""
    spec = lease.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    transitions = spec.get("leaseTransitions")
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        duration=float(duration) if isinstance(duration, int) and duration > 0 else 0.0,
        acquired=parse_api_time(spec.get("acquireTime")),
        renewed=parse_api_time(spec.get("renewTime")),
        transitions=transitions if isinstance(transitions, int) else 0,
        version=str((lease.get("metadata") or {}).get("resourceVersion") or ""),
    )


class KubeLeases:
    """A :class:`LeaseStore` on a Kubernetes API server."""

    def __init__(
        self, api_client: client.ApiClient, namespace: str, name: str, timeout: float
    ) -> None:
        self._api = client.CoordinationV1Api(api_client)
        self._api_client = api_client
        self.namespace = namespace
        self.name = name
        self._timeout = timeout

    def _body(self, record: LeaseRecord) -> Any:
        meta: JSON = {"name": self.name, "namespace": self.namespace}
        if record.version:
            meta["resourceVersion"] = record.version
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": record.holder or None,
                "leaseDurationSeconds": max(1, round(record.duration)),
                "acquireTime": _micro_time(record.acquired),
                "renewTime": _micro_time(record.renewed),
                "leaseTransitions": record.transitions,
            },
        }
        return self._api_client.deserialize(json.dumps(body), "V1Lease", "application/json")

    def read(self) -> LeaseRecord | None:
        lease = unless_missing(
            f"get lease {self.namespace}/{self.name}",
            lambda: self._api.read_namespaced_lease(
                self.name, self.namespace, _preload_content=False, _request_timeout=self._timeout
            ),
        )
        return None if lease is None else record_of(lease)

    def create(self, record: LeaseRecord) -> LeaseRecord:
        try:
            with translate_errors(f"create lease {self.namespace}/{self.name}"):
                raw = self._api.create_namespaced_lease(
                    self.namespace,
                    self._body(replace(record, version="")),
                    _preload_content=False,
                    _request_timeout=self._timeout,
                )
        except KubeApiError as err:
            if err.status == CONFLICT:
                raise LeaseConflict(str(err), err.status, err.reason) from err
            raise
        return record_of(read_json(raw))

    def replace(self, record: LeaseRecord) -> LeaseRecord:
        try:
            with translate_errors(f"update lease {self.namespace}/{self.name}"):
                raw = self._api.replace_namespaced_lease(
                    self.name,
                    self.namespace,
                    self._body(record),
                    _preload_content=False,
                    _request_timeout=self._timeout,
                )
        except KubeApiError as err:
            if err.status == CONFLICT:
                raise LeaseConflict(str(err), err.status, err.reason) from err
            raise
        return record_of(read_json(raw))


@dataclass(frozen=True)
class Timings:
    """The election's timings, in seconds (validated in the config)."""

    lease_duration: float
    renew_deadline: float
    retry_period: float

    @classmethod
    def of(cls, settings: LeaderElectionSettings) -> Timings:
        return cls(
            settings.lease_duration.total_seconds(),
            settings.renew_deadline.total_seconds(),
            settings.retry_period.total_seconds(),
        )


class LeaderElector:
    """Takes and keeps a Lease for one identity; run :meth:`run` in a thread of its own.

    Thread-safe: the daemon asks :meth:`is_leader` and :meth:`lease_left` from other
    threads. ``monotonic``, ``wall`` and ``jitter`` are the clocks and randomness (tests
    pass their own).
    """

    def __init__(
        self,
        store: LeaseStore,
        identity: str,
        timings: Timings,
        *,
        lease_name: str = "",
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.identity = identity
        self.timings = timings
        self.lease_name = lease_name
        self._store = store
        self._monotonic = monotonic
        self._wall = wall
        self._jitter = jitter
        self._lock = threading.Lock()
        self._leading = False
        self._renewed_at = 0.0
        """Monotonic time at which the last successful write of ours was sent."""
        self._record: LeaseRecord | None = None
        """The Lease as we last wrote or read it."""
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0
        self._contact_at: float | None = None
        self._problem = ""

    # -- what the daemon asks -------------------------------------------------------------

    def is_leader(self) -> bool:
        """Leading, and renewed within ``renew_deadline``: by the clock, whatever the thread."""
        with self._lock:
            return self._leading_now()

    def _leading_now(self) -> bool:
        return self._leading and self._monotonic() - self._renewed_at < self.timings.renew_deadline

    def lease_left(self) -> float:
        """Seconds until another replica may take the Lease over: what a sweep running
        under our leadership has left (0 when we never led)."""
        with self._lock:
            if not self._renewed_at:
                return 0.0
            return self._renewed_at + self.timings.lease_duration - self._monotonic()

    def status(self) -> tuple[bool, str]:
        """Whether the elector hears from the API server, and who leads, for ``/readyz``."""
        with self._lock:
            now = self._monotonic()
            if self._leading_now():
                return True, f"leading (Lease {self.lease_name})"
            if self._contact_at is None or now - self._contact_at > self.timings.lease_duration:
                return False, f"no answer about the Lease {self.lease_name}: {self._problem}"
            if self._problem:
                return True, f"standby: the last attempt on the Lease failed: {self._problem}"
            holder = self._record.holder if self._record is not None else ""
            return True, f"standby: the Lease {self.lease_name} is held by {holder or 'nobody'}"

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Try to take or renew the Lease every retry period until ``stop`` is set."""
        while not stop.is_set():
            self.step()
            stop.wait(self._pause())

    def step(self) -> bool:
        """One attempt to take or renew the Lease; whether we lead afterwards."""
        started = self._monotonic()
        try:
            held = self._attempt()
        except ProviderError as err:
            held = False
            with self._lock:
                self._problem = str(err)
            log.warning("leader election: %s", err)
        with self._lock:
            if held:
                if not self._leading:
                    log.info("%s now leads (Lease %s)", self.identity, self.lease_name)
                self._leading, self._renewed_at = True, started
            elif self._leading and (
                self._lost_to_other()
                or self._monotonic() - self._renewed_at >= self.timings.renew_deadline
            ):
                log.warning(
                    "%s no longer leads (Lease %s): %s",
                    self.identity,
                    self.lease_name,
                    self._problem or "held by another replica",
                )
                self._leading = False
            return self._leading_now()

    def _lost_to_other(self) -> bool:
        record = self._record
        return record is not None and record.holder not in ("", self.identity)

    def _pause(self) -> float:
        """Leaders renew every retry period; followers wait a little less (jitter, so that
        they do not go in lockstep), and no longer than until the Lease they watch may
        expire: a follower sees each change within a retry period of it."""
        retry = self.timings.retry_period
        with self._lock:
            if self._leading:
                return retry
            wait = retry * (1 - _JITTER * self._jitter())
            record = self._record
            if record is not None and record.holder and record.holder != self.identity:
                duration = record.duration or self.timings.lease_duration
                expires_in = self._observed_at + duration - self._monotonic()
                wait = min(wait, max(expires_in, 0.0) + 0.05)
            return wait

    def _attempt(self) -> bool:
        with self._lock:
            record, leading = self._record, self._leading
        now = self._wall()
        if leading and record is not None and record.holder == self.identity:
            try:
                return self._wrote(
                    self._store.replace(replace(record, renewed=_after(now, record)))
                )
            except LeaseConflict as err:
                self._note(str(err))  # maybe our last write went through: read and see
        current = self._store.read()
        if current is None:
            mine = LeaseRecord(self.identity, self.timings.lease_duration, now, now, 0)
            try:
                return self._wrote(self._store.create(mine))
            except LeaseConflict as err:
                self._note(str(err))
                return False
        self._saw(current)
        if current.holder == self.identity:
            renewed = _after(now, current)
            renewal = replace(current, renewed=renewed, duration=self.timings.lease_duration)
            return self._try_write(renewal)
        if current.holder:
            with self._lock:
                held_for = self._monotonic() - self._observed_at
            if held_for < (current.duration or self.timings.lease_duration):
                return False
        takeover = LeaseRecord(
            self.identity,
            self.timings.lease_duration,
            now,
            now,
            current.transitions + 1,
            current.version,
        )
        return self._try_write(takeover)

    def _try_write(self, record: LeaseRecord) -> bool:
        try:
            return self._wrote(self._store.replace(record))
        except LeaseConflict as err:
            self._note(str(err))
            return False

    def _wrote(self, record: LeaseRecord) -> bool:
        with self._lock:
            self._record = record
            self._contact_at = self._monotonic()
            self._problem = ""
        return True

    def _saw(self, record: LeaseRecord) -> None:
        with self._lock:
            self._record = record
            self._contact_at = self._monotonic()
            self._problem = ""
            key = (record.holder, record.version)
            if key != self._observed:
                self._observed, self._observed_at = key, self._monotonic()

    def _note(self, problem: str) -> None:
        with self._lock:
            self._contact_at = self._monotonic()
            self._problem = problem

    def release(self) -> None:
        """Hand the Lease back (a clean stop), so another replica takes over at once."""
        with self._lock:
            record, leading = self._record, self._leading_now()
            self._leading = False
        if not leading or record is None or record.holder != self.identity:
            return
        try:
            self._store.replace(replace(record, holder="", duration=1, renewed=self._wall()))
            log.info("%s released the Lease %s", self.identity, self.lease_name)
        except ProviderError as err:
            log.warning("could not release the Lease %s: %s", self.lease_name, err)


def _after(now: datetime, record: LeaseRecord) -> datetime:
    """A renewal time later than the record's: every renewal changes the Lease (an
    unchanged object is a no-op write, which followers would take for a dead leader)."""
    if record.renewed is not None and now <= record.renewed:
        return record.renewed + timedelta(milliseconds=1)
    return now


def build_elector(
    settings: LeaderElectionSettings,
    identity: str,
    namespace: str,
    connection: KubeConnection | None = None,
) -> LeaderElector:
    """The elector of a daemon: in-cluster inside a pod, else ``$KUBECONFIG``'s current
    context. Raises ConfigError when neither can be read."""
    configuration = client.Configuration()
    try:
        given = (connection or KubeConnection()).kubeconfigs.get("leader_election")
        load_configuration(configuration, given)
    except (ConfigException, OSError, ValueError) as err:
        raise ConfigError(
            [
                "daemon.leader_election: cannot reach the Kubernetes API for the Lease "
                f"(in-cluster inside a pod, else $KUBECONFIG's current context): {err}"
            ]
        ) from None
    timings = Timings.of(settings)
    configuration.retries = 0  # the election retries on its own schedule
    timeout = settings.request_timeout.total_seconds()  # shorter than retry_period
    store = KubeLeases(client.ApiClient(configuration), namespace, settings.lease, timeout)
    return LeaderElector(store, identity, timings, lease_name=f"{namespace}/{settings.lease}")
