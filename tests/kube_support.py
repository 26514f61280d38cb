"""Sweeping fake Kubernetes clusters in a test: config, kinds and a sweep service.

Every cluster is a :class:`~reaper.sandbox.kube.KubeFake` reached over HTTP by the real
``kubernetes`` client, through the kubeconfig the fake hands out. All fakes of a test share
one :class:`ManualClock`, which is also the sweep's clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.config import Settings, parse_settings
from reaper.lifecycle import StateSigner
from reaper.metrics import Metrics
from reaper.model import Plan, Scope
from reaper.providers.catalog import build_kinds
from reaper.providers.kubernetes import KubeConnection
from reaper.providers.kubernetes.namespaces import Namespaces
from reaper.results import SweepReport
from reaper.sandbox.kube import KubeFake, ManualClock

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STATE_KEY = "kube-tests-state-key-not-a-secret"
PIPELINE = {"reaper-pipeline": "gitlab-ci-4711", "reaper-owner": "team-payments"}


def kube_config(
    clusters: Sequence[str],
    audit_path: Path | str,
    *,
    policy: Mapping[str, Any] | None = None,
    section: Mapping[str, Any] | None = None,
    safety: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A config sweeping ``clusters`` (names; their kubeconfigs come as connections)."""
    return {
        "providers": {
            "kubernetes": {"clusters": [{"name": name} for name in clusters], **(section or {})}
        },
        "policy": {"default_ttl": "24h", "grace_period": "0s", **(policy or {})},
        "safety": {"max_actions_per_sweep": 100, "max_fraction": 1, **(safety or {})},
        "audit": {"path": str(audit_path)},
    }


class Harness:
    """One or more fake clusters and the reaper that sweeps them."""

    def __init__(
        self,
        fakes: Mapping[str, KubeFake],
        clock: ManualClock,
        audit: Path,
        metrics: Metrics | None = None,
        own_namespace: str | None = None,
        **config: Any,
    ) -> None:
        self.fakes = dict(fakes)
        self.clock = clock
        self.audit = audit
        self.settings: Settings = parse_settings(
            kube_config(list(fakes), audit, **config), "tests/kube.yaml"
        )
        self.signer = StateSigner(STATE_KEY.encode(), self.settings.tags.model_dump().values())
        connection = KubeConnection(
            {name: fake.kubeconfig() for name, fake in fakes.items()}, own_namespace
        )
        self.kinds = build_kinds(
            self.settings, {"kubernetes": connection}, metrics=metrics, signer=self.signer
        )
        self.metrics = metrics

    @property
    def kind(self) -> Namespaces:
        (kind,) = self.kinds
        assert isinstance(kind, Namespaces)
        return kind

    def service(self) -> SweepService:
        return SweepService(
            self.settings,
            self.kinds,
            lambda: AuditLog(self.audit),
            metrics=self.metrics,
            signer=self.signer,
        )

    def sweep(self, *, dry_run: bool = False) -> SweepReport:
        return self.service().run(self.clock.now(), dry_run)

    def plan(self) -> Plan:
        return self.service().plan(self.clock.now())[0]

    def scope(self, cluster: str = "ci") -> Scope:
        return Scope(cluster, "")
