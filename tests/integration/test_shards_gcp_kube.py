"""Sharded sweeps over GCP projects and Kubernetes clusters: N real ``reaper run --shard i/N
--apply`` processes side by side over several projects on the embedded GCP fake and
several fake Kubernetes API servers, as the AWS test (``test_shards_cli.py``) does on moto.

What a shard owns is the scope whose *collection* finds a resource
(``ResourceKind.sweep_scope``), and the keys are the documented ones:

* with ``providers.gcp.zones`` set, GCE instances are collected per project and zone
  (``gcp/<project>/<zone>``), GKE clusters per project (``gcp/<project>``);
* without it, a project is swept in all its zones at once: one scope ``gcp/<project>``,
  although each of its instances names its own zone;
* a Kubernetes cluster is one scope, ``kubernetes/<cluster>``.

Checked against the fakes and the shards' own audit trails: every due resource is acted
on by exactly one shard (the trails are disjoint and together cover what was due), the
one that owns its key; the fresh ones are left; ``reaper report`` merges the shards' JSON.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import CLI_TIMEOUT, explain, reaper_command, sandbox_env
from gcs_support import storage_client
from kube_support import PIPELINE

from reaper.sandbox.gcp import FakeGcp
from reaper.sandbox.kube import KubeFake
from reaper.shards import assign, owner

PROJECTS = {"web": "acme-web-ci", "data": "acme-data-ci", "infra": "acme-infra-ci"}
ZONES = ("us-central1-a", "europe-west1-b")
CLUSTERS = ("ci-east", "ci-west", "ci-arm")
SHARDS = 3
EXPIRED = timedelta(days=2)  # every TTL below is 12h
FRESH = timedelta(hours=1)


@dataclass(frozen=True)
class Due:
    """A resource the sweep must act on, and the shard key whose owner must act on it."""

    name: str
    """``provider:kind:account/region/id``, as :func:`name_of` names it."""
    key: str


def name_of(ref: Mapping[str, str]) -> str:
    """A resource of a trail record or a plan decision, named unambiguously (instance names
    repeat across projects and zones, namespace names across clusters)."""
    return f"{ref['provider']}:{ref['kind']}:{ref['account']}/{ref['region']}/{ref['id']}"


@pytest.fixture
def gcp() -> Iterator[FakeGcp]:
    # GKE operations are done at once (reaper still waits its poll interval once).
    with FakeGcp(wait_seconds=0.01, operation_polls=0) as fake:
        yield fake
        assert fake.failures == []


@pytest.fixture
def clusters() -> Iterator[dict[str, KubeFake]]:
    fakes = {name: KubeFake(context=name) for name in CLUSTERS}
    for fake in fakes.values():
        fake.start()
    try:
        yield fakes
    finally:
        for fake in fakes.values():
            fake.stop()


def seed_gcp(fake: FakeGcp, now: datetime, *, clusters: bool) -> list[Due]:
    """In each project and zone two expired instances and a fresh one; with ``clusters``,
    an expired and a fresh GKE cluster per project. The due ones, keyed as documented for
    a config that names ``ZONES`` when ``clusters`` (the keys of one without otherwise)."""
    due: list[Due] = []
    for name, project in PROJECTS.items():
        fake.add_project(project, zones=ZONES)
        for zone in ZONES:
            key = f"gcp/{name}/{zone}" if clusters else f"gcp/{name}"
            for n, age in enumerate((EXPIRED, EXPIRED, FRESH)):
                instance = f"ci-{zone[-1]}{n}"
                fake.add_instance(project, zone, instance, labels=PIPELINE, created=now - age)
                if age is EXPIRED:
                    due.append(Due(f"gcp:gce_instance:{name}/{zone}/{instance}", key))
        if clusters:
            fake.add_cluster(project, ZONES[0], "review", labels=PIPELINE, created=now - EXPIRED)
            fake.add_cluster(project, ZONES[1], "preview", labels=PIPELINE, created=now - FRESH)
            due.append(Due(f"gcp:gke_cluster:{name}/{ZONES[0]}/review", f"gcp/{name}"))
    return due


def seed_kube(fakes: Mapping[str, KubeFake], now: datetime) -> list[Due]:
    due: list[Due] = []
    for name, fake in fakes.items():
        for namespace, age in (("ci-1-review", EXPIRED), ("ci-2-e2e", EXPIRED), ("ci-3", FRESH)):
            fake.seed_namespace(namespace, labels=PIPELINE, created=now - age)
            if age is EXPIRED:
                ref = f"{name}//{name}/{namespace}"
                due.append(Due(f"kubernetes:namespace:{ref}", f"kubernetes/{name}"))
    return due


def write_config(
    tmp_path: Path,
    gcp: FakeGcp,
    *,
    zones: Sequence[str] = (),
    gke: bool = False,
    clusters: Mapping[str, KubeFake] | None = None,
    brake: Mapping[str, Any] | None = None,
) -> Path:
    providers: dict[str, Any] = {
        "gcp": {
            "projects": [{"name": n, "project_id": p} for n, p in PROJECTS.items()],
            "zones": list(zones),
            "kinds": ["gce_instance", "gke_cluster"] if gke else ["gce_instance"],
            "endpoints": {"compute": gcp.endpoint, "container": gcp.endpoint},
        }
    }
    if clusters is not None:
        providers["kubernetes"] = {
            "clusters": [
                {"name": name, "kubeconfig": str(fake.write_kubeconfig(tmp_path / name))}
                for name, fake in clusters.items()
            ]
        }
    config = {
        "dry_run": True,  # `--apply` acts
        "providers": providers,
        "policy": {"grace_period": "0s", "default_ttl": "12h"},
        "safety": {"max_actions_per_sweep": 100, "max_fraction": 1.0, **(brake or {})},
        "audit": {"path": str(tmp_path / "audit.jsonl")},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_shards(
    config: Path, count: int, out: Path, env: Mapping[str, str] | None = None
) -> list[Path]:
    """``reaper run --shard i/count --apply`` for every i at once; the JSON each wrote."""
    outputs = [out / f"run-{i}-of-{count}.json" for i in range(count)]
    processes = [
        subprocess.Popen(
            [
                *reaper_command(),
                *("run", "-c", str(config), "--apply", "--shard", f"{i}/{count}"),
                *("--format", "json", "-o", str(outputs[i])),
            ],
            env={**sandbox_env(None), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    for process in processes:
        stdout, stderr = process.communicate(timeout=CLI_TIMEOUT)
        result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        assert process.returncode == 0, explain(result)
    return outputs


def acted_on(trail: Path) -> list[str]:
    """The resources a trail records a done delete for (:func:`name_of`)."""
    records = [json.loads(line) for line in trail.read_text(encoding="utf-8").splitlines()]
    return [
        name_of(r["resource"])
        for r in records
        if r["event"] == "outcome" and r["action"] == "delete" and r["result"] == "done"
    ]


def decisions_by_shard(runs: Sequence[Path]) -> dict[str, int]:
    """Every decision's resource (kept ones too, :func:`name_of`): the shard whose plan
    holds it. A resource in two plans fails."""
    found: dict[str, int] = {}
    for index, run in enumerate(runs):
        for d in json.loads(run.read_text(encoding="utf-8"))["decisions"]:
            name = name_of(d)
            assert name not in found, f"{name} is in the plans of shards {found[name]} and {index}"
            found[name] = index
    return found


def check_trails(tmp_path: Path, due: Sequence[Due], count: int) -> list[list[str]]:
    """Every due resource deleted by exactly one shard, the owner of its key."""
    trails = [tmp_path / f"audit.shard-{i}.jsonl" for i in range(count)]
    assert not (tmp_path / "audit.jsonl").exists()
    deleted = [acted_on(trail) for trail in trails]
    everything = [i for ids in deleted for i in ids]
    assert len(everything) == len(set(everything)), "a resource was acted on by two shards"
    assert sorted(everything) == sorted(d.name for d in due)
    for index, names in enumerate(deleted):
        assert set(names) == {d.name for d in due if owner(d.key, count) == index}, index
    return deleted


def test_shards_split_gcp_zones_projects_and_clusters_by_their_documented_keys(
    gcp: FakeGcp, clusters: dict[str, KubeFake], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    due = seed_gcp(gcp, now, clusters=True) + seed_kube(clusters, now)
    keys = {d.key for d in due}
    assert len(keys) == len(PROJECTS) * (len(ZONES) + 1) + len(CLUSTERS)
    owners = assign(keys, SHARDS)
    assert set(owners.values()) == set(range(SHARDS)), "every shard has a share"
    # Zones and projects are keys of their own: some project's zone goes elsewhere than
    # the project (its GKE clusters), or this estate would not tell the two apart.
    assert any(owners[f"gcp/{n}/{z}"] != owners[f"gcp/{n}"] for n in PROJECTS for z in ZONES)

    config = write_config(tmp_path, gcp, zones=ZONES, gke=True, clusters=clusters)
    runs = run_shards(config, SHARDS, tmp_path)

    deleted = check_trails(tmp_path, due, SHARDS)
    assert all(deleted), "every shard acted"
    planned = decisions_by_shard(runs)
    for name, index in planned.items():
        _, kind, where = name.split(":")
        account, region, _ = where.split("/", 2)
        key = {
            "gce_instance": f"gcp/{account}/{region}",
            "gke_cluster": f"gcp/{account}",
            "namespace": f"kubernetes/{account}",
        }[kind]
        assert owner(key, SHARDS) == index, name

    # The fakes agree: nothing due is left, everything fresh is.
    for project in PROJECTS.values():
        left = {i["name"] for i in gcp.instances(project)}
        assert left == {"ci-a2", "ci-b2"}, project
        assert {c["name"] for c in gcp.clusters(project)} == {"preview"}, project
    for name, fake in clusters.items():
        phases = {ns: fake.namespace_phase(ns) for ns in ("ci-1-review", "ci-2-e2e", "ci-3")}
        assert phases == {
            "ci-1-review": "Terminating",
            "ci-2-e2e": "Terminating",
            "ci-3": "Active",
        }, name

    # One report of the shards' runs; its JSON is a plan of the whole estate.
    merged = tmp_path / "merged.json"
    report = subprocess.run(
        [*reaper_command(), "report", *map(str, runs), "-o", str(merged)],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        env=sandbox_env(None),
        check=False,
    )
    assert report.returncode == 0, explain(report)
    document: dict[str, Any] = json.loads(merged.read_text(encoding="utf-8"))
    assert document["summary"]["population"] == {
        "gcp:gce_instance": 3 * len(PROJECTS) * len(ZONES),
        "gcp:gke_cluster": 2 * len(PROJECTS),
        "kubernetes:namespace": 3 * len(CLUSTERS),
    }
    assert document["summary"]["actions"]["delete"] == len(due)
    assert {d["result"] for d in document["decisions"] if d["action"] == "delete"} == {"done"}
    assert len(document["decisions"]) == len(planned)


def test_a_project_swept_in_all_zones_is_one_shards_whatever_its_instances_zones(
    gcp: FakeGcp, gcs_emulator: str, tmp_path: Path
) -> None:
    # Without providers.gcp.zones a project is listed in one aggregated call: its scope is
    # gcp/<project>, and every instance of it, in any zone, is that scope's shard's. The
    # shards agree on one brake through a GCS bucket, as a GCP user with audit.gcs would.
    now = datetime.now(UTC)
    due = seed_gcp(gcp, now, clusters=False)
    storage_client(gcs_emulator).create_bucket("brake-bucket")
    brake = {"global_brake": {"gcs_bucket": "brake-bucket", "wait": "60s"}}
    config = write_config(tmp_path, gcp, brake=brake)
    env = {"STORAGE_EMULATOR_HOST": gcs_emulator, "REAPER_SWEEP_GROUP": "reaper-sharded-1"}

    runs = run_shards(config, 2, tmp_path, env)

    check_trails(tmp_path, due, 2)
    for name, index in decisions_by_shard(runs).items():
        account, region, _ = name.split(":")[2].split("/", 2)
        assert region in ZONES
        assert owner(f"gcp/{account}", 2) == index, name
    published = {
        b.name: b
        for b in storage_client(gcs_emulator).list_blobs("brake-bucket", prefix="reaper-brake/")
    }
    assert sorted(published) == [
        "reaper-brake/reaper-sharded-1/shard-0.json",
        "reaper-brake/reaper-sharded-1/shard-1.json",
        "reaper-brake/reaper-sharded-1/verdict.json",
    ]
    verdict = json.loads(
        published["reaper-brake/reaper-sharded-1/verdict.json"].download_as_bytes()
    )
    assert (verdict["decision"], verdict["reason"], verdict["published"]) == (
        "act",
        "all-published",
        [0, 1],
    )
    for project in PROJECTS.values():
        assert {i["name"] for i in gcp.instances(project)} == {"ci-a2", "ci-b2"}, project
