"""``reaper demo``: a full sweep on the embedded sandbox, no cloud account needed."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import click

from reaper.app import SweepService
from reaper.audit.build import build_audit_log
from reaper.config import Settings, parse_settings
from reaper.lifecycle import StateSigner
from reaper.pipelines.facts import PipelineFacts
from reaper.providers.aws.clients import AwsConnection
from reaper.providers.aws.iam_policy import policy_document
from reaper.providers.catalog import build_kinds
from reaper.providers.gcp.clients import GcpConnection
from reaper.report import human, render_sweep
from reaper.results import ExitCode, SweepReport
from reaper.sandbox import gcp_estate, kube_estate
from reaper.sandbox.ci import FakeGithub, FakeGitlab
from reaper.sandbox.ci_estate import (
    ci_specimens,
    ci_summary,
    pipelines_section,
    sandbox_ci_environ,
    seed_runs,
    take_ci_calls,
)
from reaper.sandbox.environment import SANDBOX_STATE_KEY
from reaper.sandbox.estate import live_instances, sandbox_session, seed_estate
from reaper.sandbox.estate_eks import ClusterSpec, cluster_specs, seed_clusters
from reaper.sandbox.gcp import FakeGcp
from reaper.sandbox.kube import KubeFake
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.principals import sweeper

log = logging.getLogger(__name__)

CLUSTER_REGION = "us-east-1"


def demo_cluster_specs(now: datetime) -> list[ClusterSpec]:
    """The EKS part of the demo: the kind's specimens, two more fresh clusters (so the
    brake's max_fraction holds) and one on a Kubernetes version past standard support."""
    pipeline = {"reaper-pipeline": "gitlab-ci-310", "reaper-owner": "team-platform"}
    extra = [
        ClusterSpec(
            f"ci-fresh-extra-{n}",
            timedelta(hours=3),
            pipeline,
            {"workers": (1, 1, 2)},
            label="fresh",
        )
        for n in (1, 2)
    ]
    outdated = ClusterSpec(
        "ci-outdated-k8s",
        timedelta(hours=4),
        pipeline,
        {"workers": (1, 2, 3)},
        version="1.29",
        label="outdated-kubernetes",
    )
    return [*cluster_specs(now), *extra, outdated]


DEMO_LAYOUT = {"ci": ("us-east-1", "eu-west-1", "us-west-2"), "staging": ("eu-west-1",)}


def demo_settings(
    audit_path: str,
    pipelines: Mapping[str, object] | None = None,
    gcp_endpoint: str | None = None,
) -> Settings:
    """The packaged demo config, writing its audit trail to ``audit_path``; ``pipelines``
    is its pipelines section (the CI fakes' URLs are known only once they run); with
    ``gcp_endpoint``, also sweeping the GCP project of the fake serving there."""
    import yaml

    text = resources.files("reaper.sandbox").joinpath("demo.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["audit"] = {"path": audit_path}
    if pipelines is not None:
        data["pipelines"] = pipelines
    if gcp_endpoint is not None:
        data["providers"]["gcp"] = gcp_estate.demo_section(gcp_endpoint)
    return parse_settings(data, "reaper/sandbox/demo.yaml")


def run_demo(apply: bool, fmt: str, audit_path: str | None) -> ExitCode:
    """Start moto, the GCP fake, a fake Kubernetes API and the CI fakes, seed the estate,
    sweep it, print the result; returns the exit code.

    With ``apply`` the demo runs two sweeps: the first marks what is due, the second runs
    one grace period later (the clock is passed forward, as it is in the tests) and acts.
    The AWS sweeps run as an IAM user (and, in the staging account, a role) holding only
    the policy ``reaper iam-policy`` generates for the demo config, with IAM enforced.
    Both ask the CI fakes about the runs some instances name, through one lookup, so the
    second sends the ETags of the first.
    """
    audit = audit_path or str(Path(tempfile.mkdtemp(prefix="reaper-demo-")) / "audit.jsonl")
    log.info(
        "starting the sandbox (moto server mode, the GCP fake, a fake Kubernetes API and the "
        "CI fakes, on loopback)"
    )
    with (
        MotoServer() as server,
        FakeGcp(wait_seconds=0.2) as gcp,
        KubeFake(context=kube_estate.CLUSTER) as cluster,
        FakeGithub() as github,
        FakeGitlab() as gitlab,
    ):
        now = datetime.now(UTC)
        settings = demo_settings(audit, pipelines_section(github.url, gitlab.url), gcp.endpoint)
        seed_runs(github, gitlab, now)
        gcp_seeded = gcp_estate.seed_gcp(gcp, now)
        seeded = seed_estate(server, now, DEMO_LAYOUT, risks=True, extra=ci_specimens())
        clusters = seed_clusters(
            server,
            sandbox_session(),
            CLUSTER_REGION,
            now,
            demo_cluster_specs(now),
            age=server.age_clusters,
        )
        namespaces = kube_estate.seed_cluster(cluster, now)
        log.info(
            "seeded %d instances in %d accounts, %d EKS clusters and %d namespaces",
            len(seeded),
            len(DEMO_LAYOUT),
            len(clusters),
            len(namespaces),
        )
        log.info("seeded %d GCE instances and GKE clusters in GCP", len(gcp_seeded))
        principal = sweeper(server, settings, policy_document(settings))
        log.info(
            "sweeping as %s, which holds only the policy `reaper iam-policy` makes for this "
            "config (IAM enforced)",
            principal.arn,
        )
        connections = {
            "aws": AwsConnection(principal.session, server.endpoint_url),
            "gcp": GcpConnection(retry_initial=0.1, poll_seconds=0.05),
            "kubernetes": kube_estate.connection(cluster),
        }
        user_keys = settings.tags.model_dump().values()
        signer = StateSigner(SANDBOX_STATE_KEY.encode(), user_keys)
        kinds = build_kinds(settings, connections, signer=signer)
        pipelines = PipelineFacts.from_settings(settings, sandbox_ci_environ(os.environ))
        service = SweepService(
            settings,
            kinds,
            lambda: build_audit_log(settings.audit),
            pipelines=pipelines,
            signer=signer,
        )
        with server.iam_enforced():
            report = service.run(now, dry_run=not apply)
            ci_calls = [take_ci_calls(github, gitlab)]
            _show(report, fmt, "Sweep 1: mark what is due" if apply else "")
            if apply and report.exit_code == ExitCode.OK:
                later = now + settings.policy.grace_period
                report = service.run(later, dry_run=False)
                ci_calls.append(take_ci_calls(github, gitlab))
                title = f"Sweep 2: {human(settings.policy.grace_period)} later, act on the marked"
                _show(report, fmt, title)
        if fmt == "table":
            if apply:
                alive = live_instances(server, DEMO_LAYOUT)
                gone = [s for s in seeded if s.instance_id not in alive]
                quarantined = sorted({s.label for s in seeded if s.expect_quarantined})
                eks = sandbox_session().client(
                    "eks", region_name=CLUSTER_REGION, endpoint_url=server.endpoint_url
                )
                left = set(eks.list_clusters()["clusters"])
                deleted_clusters = sorted(c.label for c in clusters if c.name not in left)
                click.echo(
                    f"\nAfter the sweeps: {len(alive)} of {len(seeded)} instances left, "
                    f"{len(gone)} terminated "
                    f"({', '.join(sorted({s.label for s in gone})) or 'none'}); "
                    f"unpatched and exposed ones quarantined ({', '.join(quarantined)}): "
                    "stopped, isolated, deleted after policy.quarantine_ttl unless released."
                )
                click.echo(
                    f"EKS: {len(left)} of {len(clusters)} clusters left, "
                    f"{len(deleted_clusters)} deleted with their node groups "
                    f"({', '.join(deleted_clusters) or 'none'}); the cluster on an outdated "
                    "Kubernetes version quarantined (node groups scaled to zero)."
                )
                click.echo(gcp_estate.summary(gcp, gcp_seeded))
                click.echo(kube_estate.summary(cluster, namespaces))
            else:
                click.echo("\nDry run: nothing was changed. Run `reaper demo --apply` to act.")
            click.echo(ci_summary(seeded, ci_calls))
            click.echo(f"Audit trail: {audit}")
    return report.exit_code


def _show(report: SweepReport, fmt: str, title: str) -> None:
    if fmt == "table" and title:
        click.echo(f"\n== {title} ==")
    click.echo("".join(render_sweep(report, fmt)), nl=False)
