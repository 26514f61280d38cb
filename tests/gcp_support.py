"""Running the GCP provider in a test: against the embedded GCP fake, with the real clients.

Each test gets a fresh ``FakeGcp`` on loopback; reaper reaches it the way a user reaches an
emulator, through ``providers.gcp.endpoints`` (plain http on loopback, no credentials).
What a sweep did is read back from the fake (its state and its request counts) and from
the audit trail, not from the sweep's own report.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sweep_support import run_sweep

from reaper.config import Settings, TagKeys, parse_settings
from reaper.lifecycle import StateSigner
from reaper.metrics import Metrics
from reaper.providers.base import ResourceKind
from reaper.providers.catalog import build_kinds
from reaper.providers.gcp.clients import GcpConnection
from reaper.results import SweepReport
from reaper.sandbox.environment import SANDBOX_STATE_KEY
from reaper.sandbox.gcp import FakeGcp

PROJECT = "acme-ci-123"
NAME = "ci"
ZONES = ("us-central1-a", "us-central1-b", "europe-west1-b")
ZONE = ZONES[0]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
EXPIRED = 2 * DAY  # the instance TTL below is 12h
PIPELINE = {"reaper-pipeline": "gitlab-ci-4711", "reaper-owner": "team-payments"}
DEBIAN = "projects/debian-cloud/global/images/debian-12-bookworm-v20261101"
SIGNER = StateSigner(SANDBOX_STATE_KEY.encode(), TagKeys().model_dump().values())
FAST = GcpConnection(
    retry_initial=0.01, retry_maximum=0.02, retry_deadline=5, poll_seconds=0, operation_timeout=10
)
"""Retries and waits for tests: the same logic, without the production pauses."""


def counted(metrics: Metrics) -> dict[str, int]:
    """``reaper_cloud_api_requests_total`` of the gcp provider, by API method."""
    found: dict[str, int] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if (
                sample.name == "reaper_cloud_api_requests_total"
                and sample.labels.get("provider") == "gcp"
            ):
                found[sample.labels["operation"]] = int(sample.value)
    return found


def seed_project(fake: FakeGcp, project: str = PROJECT, zones: Sequence[str] = ZONES) -> None:
    fake.add_project(project, zones=zones)
    fake.add_image("debian-cloud", DEBIAN.rsplit("/", 1)[1], created=NOW - 10 * DAY)


def gcp_config(
    fake: FakeGcp,
    audit_path: Path | str,
    *,
    kinds: Sequence[str] = ("gce_instance",),
    grace: str = "0s",
    projects: Sequence[tuple[str, str]] = ((NAME, PROJECT),),
    section: Mapping[str, Any] | None = None,
    policy: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A GCP-only config against ``fake``: applied, brakes open, 12h instance TTL."""
    return {
        "dry_run": False,
        "providers": {
            "gcp": {
                "projects": [{"name": n, "project_id": p} for n, p in projects],
                "kinds": list(kinds),
                "endpoints": {
                    "compute": fake.endpoint,
                    "container": fake.endpoint,
                    "resourcemanager": fake.endpoint,
                },
                **(section or {}),
            }
        },
        "policy": {
            "grace_period": grace,
            "quarantine_ttl": "3d",
            "kinds": {"gce_instance": {"ttl": "12h"}},
            **copy.deepcopy(dict(policy or {})),
        },
        "safety": {"max_fraction": 1.0, "max_actions_per_sweep": 1000},
        "audit": {"path": str(audit_path)},
    }


def settings_of(data: Mapping[str, Any]) -> Settings:
    return parse_settings(dict(data), "tests/gcp.yaml")


def kinds_of(settings: Settings, metrics: Metrics | None = None) -> list[ResourceKind]:
    """The configured GCP kinds, counting requests in ``metrics`` if given."""
    return build_kinds(settings, {"gcp": FAST}, metrics, SIGNER)


def sweep(
    settings: Settings,
    kinds: Sequence[ResourceKind],
    audit_path: Path | str,
    now: datetime = NOW,
    dry_run: bool = False,
) -> SweepReport:
    return run_sweep(settings, kinds, audit_path, now, dry_run, signer=SIGNER)


def labels(fake: FakeGcp, name: str, zone: str = ZONE, project: str = PROJECT) -> dict[str, str]:
    found = fake.instance(project, zone, name)
    assert found is not None, f"instance {name} is gone"
    return dict(found.get("labels", {}))


def reaper_labels(found: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in found.items() if k.startswith("reaper-") and k not in PIPELINE}
