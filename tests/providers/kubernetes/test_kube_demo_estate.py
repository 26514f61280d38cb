"""The demo's Kubernetes cluster, swept twice with the demo's policy (mark, then act an
hour later), does what each seeded namespace says, and leaves kube-system alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml
from kube_support import START, STATE_KEY

from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.config import parse_settings
from reaper.lifecycle import StateSigner
from reaper.model import Action, Reason
from reaper.providers.catalog import build_kinds
from reaper.results import ExitCode
from reaper.sandbox import kube_estate
from reaper.sandbox.demo import demo_settings
from reaper.sandbox.kube import KubeFake, ManualClock


def test_the_demo_cluster_comes_out_as_its_specimens_say(tmp_path: Path) -> None:
    demo = demo_settings(str(tmp_path / "audit.jsonl")).model_dump(mode="json")
    demo["providers"] = {"kubernetes": demo["providers"]["kubernetes"]}
    settings = parse_settings(yaml.safe_load(yaml.safe_dump(demo)), "demo.yaml")
    clock = ManualClock(START)
    with KubeFake(clock=clock, context=kube_estate.CLUSTER) as fake:
        specimens = kube_estate.seed_cluster(fake, START)
        signer = StateSigner(STATE_KEY.encode(), settings.tags.model_dump().values())
        kinds = build_kinds(settings, {"kubernetes": kube_estate.connection(fake)}, signer=signer)
        service = SweepService(
            settings, kinds, lambda: AuditLog(tmp_path / "audit.jsonl"), signer=signer
        )
        fake.reset_requests()

        first = service.run(clock.now(), dry_run=False)
        clock.set(START + settings.policy.grace_period)
        second = service.run(clock.now(), dry_run=False)
        summary = kube_estate.summary(fake, specimens)

        assert (first.exit_code, second.exit_code) == (ExitCode.OK, ExitCode.OK)
        assert {o.action for o in first.outcomes} == {Action.MARK}
        for spec in specimens:
            phase = fake.namespace_phase(spec.name)
            isolated = fake.get("networkpolicies", "reaper-quarantine", spec.name) is not None
            if spec.stuck:
                assert phase == "Terminating", spec.label
            elif spec.expect_deleted:
                assert phase is None, spec.label
            else:
                assert phase == "Active", spec.label
            assert isolated is spec.expect_isolated, spec.label
        preview = fake.get("deployments", "web", "ci-4790-preview")
        assert preview is not None
        assert preview["spec"]["replicas"] == 0
        assert "ci-4650-stuck is still Terminating (NamespaceFinalizersRemaining:" in summary
        assert "kube-system carries a pipeline label and an expired TTL: untouched." in summary
        writes = [r.info for r in fake.requests() if r.info.verb not in ("get", "list")]
        assert not any("kube-system" in (w.name, w.namespace) for w in writes)
        assert not any(w.name == "team-shared" or w.namespace == "team-shared" for w in writes)

        clock.advance(timedelta(hours=1, minutes=1))  # past stuck_after
        stuck = {d.resource.name: d for d in service.plan(clock.now())[0].decisions}
        assert stuck["ci-4650-stuck"].reasons == (Reason.DELETING,)
        assert stuck["ci-4650-stuck"].escalated is True
