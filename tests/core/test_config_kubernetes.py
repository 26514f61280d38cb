"""The Kubernetes section and the daemon's leader election: validated at load time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reaper.config import LeaderElectionSettings, parse_settings
from reaper.errors import ConfigError

CLUSTERS = {"kubernetes": {"clusters": [{"name": "ci"}]}}


def problems(data: dict[str, object]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as raised:
        parse_settings(data, "bad.yaml")
    return raised.value.problems


def test_a_minimal_kubernetes_section_and_its_defaults() -> None:
    settings = parse_settings({"providers": CLUSTERS}, "ok.yaml")
    section = settings.providers.kubernetes
    assert section is not None
    assert section.kinds == ("namespace",)
    assert section.exclude_namespaces == ()
    assert section.stuck_after == timedelta(hours=1)
    (cluster,) = section.clusters
    assert (cluster.name, cluster.context, cluster.kubeconfig) == ("ci", None, None)
    assert settings.daemon.leader_election is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        pytest.param(
            {}, "bad.yaml: providers.kubernetes.clusters: required key is missing", id="no-clusters"
        ),
        pytest.param(
            {"clusters": [{"name": "ci"}, {"name": "ci"}]},
            "bad.yaml: providers.kubernetes.clusters: cluster names must be unique",
            id="twice",
        ),
        pytest.param(
            {"clusters": [{"name": "CI/prod"}]},
            "bad.yaml: providers.kubernetes.clusters[0].name: 'CI/prod' is not a valid cluster "
            "name (lowercase, digits, '-', '_')",
            id="bad-name",
        ),
        pytest.param(
            {"clusters": [{"name": "ci"}], "exclude_namespaces": ["ok", "Not_A_Namespace"]},
            "bad.yaml: providers.kubernetes.exclude_namespaces: not namespace names: "
            "'Not_A_Namespace'",
            id="bad-exclusion",
        ),
        pytest.param(
            {"clusters": [{"name": "ci"}], "kinds": ["pod"]},
            "bad.yaml: providers.kubernetes.kinds: unknown kind 'pod' (valid: namespace)",
            id="unknown-kind",
        ),
        pytest.param(
            {"clusters": [{"name": "ci", "token": "x"}]},
            "bad.yaml: providers.kubernetes.clusters[0].token: unknown key "
            "(valid: name, context, kubeconfig)",
            id="no-credentials-in-config",
        ),
    ],
)
def test_kubernetes_section_problems(section: dict[str, object], message: str) -> None:
    assert problems({"providers": {"kubernetes": section}}) == (message,)


def test_leader_election_defaults() -> None:
    settings = parse_settings({"providers": CLUSTERS, "daemon": {"leader_election": {}}}, "ok.yaml")
    election = settings.daemon.leader_election
    assert election is not None
    assert (election.lease, election.namespace) == ("reaper", None)
    assert (election.lease_duration, election.renew_deadline, election.retry_period) == (
        timedelta(seconds=30),
        timedelta(seconds=20),
        timedelta(seconds=5),
    )


@pytest.mark.parametrize(
    ("timings", "message"),
    [
        pytest.param(
            {"lease_duration": "20s", "renew_deadline": "20s"},
            "lease_duration (20s) must be at least 2.6s longer than renew_deadline (20s): a "
            "leader that could not renew needs that long to stop (or abandon) its sweep before "
            "another replica can take over",
            id="lease-not-longer-than-deadline",
        ),
        pytest.param(
            {"lease_duration": "22s", "renew_deadline": "20s"},
            "lease_duration (22s) must be at least 2.6s longer than renew_deadline (20s): a "
            "leader that could not renew needs that long to stop (or abandon) its sweep before "
            "another replica can take over",
            id="gap-shorter-than-the-abandon-margin",
        ),
        pytest.param(
            {"renew_deadline": "6s", "retry_period": "5s"},
            "renew_deadline (6s) must be at least 2 x retry_period + the Lease request timeout "
            "(12.5s: retry_period 5s, each request times out after 2.5s), so a leader gets two "
            "attempts to renew before it stops",
            id="deadline-too-short-for-retries",
        ),
        pytest.param(
            {"renew_deadline": "12s", "retry_period": "5s"},
            "renew_deadline (12s) must be at least 2 x retry_period + the Lease request timeout "
            "(12.5s: retry_period 5s, each request times out after 2.5s), so a leader gets two "
            "attempts to renew before it stops",
            id="no-room-for-a-request-after-two-retries",
        ),
        pytest.param(
            {"lease_duration": "1d", "renew_deadline": "1h", "retry_period": "0s"},
            "'0s' is not a positive duration (e.g. 90m, 6h, 3d)",
            id="zero-retry",
        ),
    ],
)
def test_leader_election_timings_that_cannot_work_are_refused(
    timings: dict[str, str], message: str
) -> None:
    data = {"providers": CLUSTERS, "daemon": {"leader_election": timings}}
    (problem,) = problems(data)
    assert problem.startswith("bad.yaml: daemon.leader_election")
    assert problem.endswith(message)


@pytest.mark.parametrize(
    "timings",
    [
        pytest.param(
            {"lease_duration": "16s", "renew_deadline": "13s", "retry_period": "5s"}, id="tight"
        ),
        pytest.param(
            {"lease_duration": "6s", "renew_deadline": "3s", "retry_period": "1s"}, id="quick"
        ),
    ],
)
def test_leader_election_timings_at_the_bounds_are_accepted(timings: dict[str, str]) -> None:
    data = {"providers": CLUSTERS, "daemon": {"leader_election": {"namespace": "r", **timings}}}
    settings = parse_settings(data, "ok.yaml")
    assert settings.daemon.leader_election is not None


def test_a_lease_request_times_out_before_the_next_attempt_is_due() -> None:
    election = LeaderElectionSettings(
        retry_period=timedelta(seconds=1),
        renew_deadline=timedelta(seconds=3),
        lease_duration=timedelta(seconds=6),
    )
    assert election.request_timeout < election.retry_period
