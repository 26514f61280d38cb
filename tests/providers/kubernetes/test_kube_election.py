"""Leader election over a Lease on the fake API server, with the real client.

Each elector gets its own monotonic clock, moved by hand: the election's rules are about
time, and no test sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from kubernetes import client, config

from reaper.config import LeaderElectionSettings
from reaper.providers.kubernetes.clients import KubeConnection
from reaper.providers.kubernetes.lease import (
    LEASE_PERMISSIONS,
    KubeLeases,
    LeaderElector,
    LeaseConflict,
    LeaseRecord,
    Timings,
    build_elector,
)
from reaper.sandbox.kube import KubeFake, ManualClock

TIMINGS = Timings(lease_duration=30, renew_deadline=20, retry_period=5)


class Monotonic:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def api_client(fake: KubeFake) -> Iterator[client.ApiClient]:
    fake.seed_namespace("reaper")
    built = config.new_client_from_config_dict(fake.kubeconfig(), context=fake.context)
    yield built
    built.close()


ElectorFactory = Callable[[str], tuple[LeaderElector, Monotonic]]


@pytest.fixture
def elector(api_client: client.ApiClient, clock: ManualClock) -> ElectorFactory:
    def make(identity: str) -> tuple[LeaderElector, Monotonic]:
        monotonic = Monotonic()
        store = KubeLeases(api_client, "reaper", "reaper", timeout=2)
        built = LeaderElector(
            store,
            identity,
            TIMINGS,
            lease_name="reaper/reaper",
            monotonic=monotonic,
            wall=clock.now,
            jitter=lambda: 0.0,
        )
        return built, monotonic

    return make


def _lease(fake: KubeFake) -> dict[str, object]:
    found = fake.get("leases", "reaper", "reaper")
    assert found is not None
    spec: dict[str, object] = found["spec"]
    return spec


def test_the_first_takes_the_lease_and_the_second_follows(
    fake: KubeFake, elector: ElectorFactory
) -> None:
    a, _ = elector("pod-a")
    b, _ = elector("pod-b")

    assert a.step() is True
    assert b.step() is False

    assert (a.is_leader(), b.is_leader()) == (True, False)
    assert _lease(fake)["holderIdentity"] == "pod-a"
    assert _lease(fake)["leaseDurationSeconds"] == 30
    assert b.status() == (True, "standby: the Lease reaper/reaper is held by pod-a")
    assert a.status() == (True, "leading (Lease reaper/reaper)")
    # The leader renews without reading first: one conditional write per renewal.
    before = fake.request_count("get", "leases")
    assert a.step() is True
    assert fake.request_count("get", "leases") == before
    assert fake.request_count("update", "leases") == 1


def test_a_follower_takes_over_only_once_the_lease_went_unrenewed_for_its_duration(
    fake: KubeFake, elector: ElectorFactory
) -> None:
    a, a_time = elector("pod-a")
    b, b_time = elector("pod-b")
    a.step()
    b.step()  # b sees pod-a's record for the first time

    b_time.advance(29.9)
    assert b.step() is False
    b_time.advance(0.2)
    assert b.step() is True

    assert _lease(fake)["holderIdentity"] == "pod-b"
    assert _lease(fake)["leaseTransitions"] == 1
    # pod-a never renewed: by its own clock it stopped leading at the renew deadline,
    # before its lease could expire.
    a_time.advance(19.9)
    assert a.is_leader() is True
    a_time.advance(0.2)
    assert a.is_leader() is False
    assert a.lease_left() == pytest.approx(9.9)


def test_a_renewal_every_retry_period_keeps_followers_out(
    fake: KubeFake, elector: ElectorFactory
) -> None:
    a, a_time = elector("pod-a")
    b, b_time = elector("pod-b")
    a.step()
    for _ in range(20):  # 100 s of renewals
        b.step()
        a_time.advance(5)
        b_time.advance(5)
        assert a.step() is True
    assert b.step() is False
    assert _lease(fake)["holderIdentity"] == "pod-a"


def test_a_leader_that_cannot_renew_stops_leading_before_its_lease_expires(
    fake: KubeFake, elector: ElectorFactory
) -> None:
    a, a_time = elector("pod-a")
    a.step()
    fake.fail(500, times=None, verb="update", resource="leases")

    for _ in range(3):
        a_time.advance(5)
        assert a.step() is True  # still within the renew deadline
    a_time.advance(5)

    assert a.step() is False
    assert a.is_leader() is False
    left = a.lease_left()
    assert 0 < left <= TIMINGS.lease_duration - TIMINGS.renew_deadline
    assert a.status() == (
        True,
        "standby: the last attempt on the Lease failed: update lease reaper/reaper failed: "
        "500 InternalError: Internal error occurred: injected fault",
    )


def test_a_conflict_means_another_replica_holds_it(
    fake: KubeFake, elector: ElectorFactory, clock: ManualClock
) -> None:
    a, _ = elector("pod-a")
    a.step()
    # Someone else writes the Lease (another replica that judged it expired).
    fake.change(
        "leases",
        "reaper",
        lambda lease: lease["spec"].update(holderIdentity="pod-c"),
        namespace="reaper",
    )

    assert a.step() is False

    assert a.is_leader() is False
    assert _lease(fake)["holderIdentity"] == "pod-c"
    statuses = [r.status for r in fake.requests() if r.info.key.resource == "leases"]
    assert 409 in statuses


def test_taking_and_renewing_are_conditional_writes(
    fake: KubeFake, api_client: client.ApiClient
) -> None:
    store = KubeLeases(api_client, "reaper", "reaper", timeout=2)
    mine = store.create(LeaseRecord("pod-a", 30, None, None, 0))
    with pytest.raises(LeaseConflict):
        store.create(LeaseRecord("pod-b", 30, None, None, 0))  # 409 AlreadyExists
    renewed = store.replace(replace(mine, transitions=1))
    with pytest.raises(LeaseConflict):
        store.replace(replace(mine, holder="pod-b"))  # a stale resourceVersion: 409
    assert renewed.version != mine.version
    assert _lease(fake)["holderIdentity"] == "pod-a"


def test_a_released_lease_is_taken_at_once(fake: KubeFake, elector: ElectorFactory) -> None:
    a, _ = elector("pod-a")
    b, _ = elector("pod-b")
    a.step()
    b.step()

    a.release()

    assert a.is_leader() is False
    assert _lease(fake).get("holderIdentity") is None
    assert b.step() is True
    assert _lease(fake)["holderIdentity"] == "pod-b"


def test_an_unreachable_api_server_is_not_ready(fake: KubeFake, elector: ElectorFactory) -> None:
    a, _ = elector("pod-a")
    fake.go_offline()

    assert a.step() is False

    ready, why = a.status()
    assert ready is False
    assert why.startswith("no answer about the Lease reaper/reaper: get lease reaper/reaper failed")


def test_the_elector_of_a_daemon_reaches_the_lease_through_the_kubeconfig(
    fake: KubeFake, tmp_path: Path
) -> None:
    fake.seed_namespace("reaper")
    settings = LeaderElectionSettings.model_validate({"lease": "sweeper"})
    built = build_elector(
        settings,
        "pod-a",
        "reaper",
        KubeConnection({"leader_election": fake.kubeconfig()}),
    )
    assert built.step() is True
    found = fake.get("leases", "sweeper", "reaper")
    assert found is not None
    assert found["spec"]["holderIdentity"] == "pod-a"


def test_the_lease_permissions_are_what_the_store_uses(
    fake: KubeFake, elector: ElectorFactory
) -> None:
    a, _ = elector("pod-a")
    b, _ = elector("pod-b")
    a.step()
    b.step()
    a.step()
    used = {
        f"{key.resource}.coordination.k8s.io:{key.verb}"
        for key in fake.request_counts()
        if key.resource == "leases"
    }
    assert used == set(LEASE_PERMISSIONS)
