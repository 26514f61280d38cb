"""The CronJob mode's metrics: ``reaper run`` pushes to a real Pushgateway.

A session fixture starts ``prometheus-pushgateway`` (the Debian package) on a free loopback
port; each test pushes under a shard of its own and reads the Pushgateway's ``/metrics``
back. Without the binary the tests are skipped, except in CI (``CI`` set), where a
missing binary is a failure.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import CLI_TIMEOUT, explain, reaper_command, sandbox_env
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.parser import text_string_to_metric_families

from reaper.pushgateway import push_metrics
from reaper.results import ExitCode
from reaper.sandbox.estate import SeededInstance, seed_estate
from reaper.sandbox.moto_server import MotoServer

LAYOUT = {"ci": ("us-east-1", "eu-west-1")}
READY_TIMEOUT = 20.0
LAST_SUCCESS = "reaper_last_successful_sweep_timestamp_seconds"
# bcrypt (cost 4) of "s3cret-pw", for the Pushgateway's basic-auth web config.
USER, PASSWORD = "reaper", "s3cret-pw"
PASSWORD_HASH = "$2b$04$TdwknWK.OVO5zpJGteIz4ulnQJUepf8soy4VC/KX1N6z7e5OK9fc."

ConfigFactory = Callable[..., dict[str, Any]]
AliveFactory = Callable[[Mapping[str, Sequence[str]]], set[str]]
Labels = tuple[tuple[str, str], ...]


# -- the Pushgateway -----------------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _binary() -> str:
    """The Pushgateway binary; skips the test without it, fails it in CI."""
    found = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
    if found is None:
        message = (
            "prometheus-pushgateway is not installed "
            "(apt-get install prometheus-pushgateway; .ci/run does)"
        )
        if _in_ci():
            pytest.fail(f"{message}, and CI is set: the CI image must have it")
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass(frozen=True)
class Pushgateway:
    url: str
    auth: tuple[str, str] | None = None

    def get(self, path: str) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path)
        if self.auth is not None:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, ""

    def samples(self, shard: str) -> dict[str, dict[Labels, float]]:
        """Every pushed sample of one shard: name -> labels (but job, shard) -> value."""
        status, text = self.get("/metrics")
        assert status == 200
        found: dict[str, dict[Labels, float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.labels.get("shard") != shard:
                    continue
                assert sample.labels["job"] == "reaper"
                # The Pushgateway adds an empty instance label to pushed groups.
                assert sample.labels.get("instance", "") == ""
                labels = tuple(
                    sorted(
                        (k, v)
                        for k, v in sample.labels.items()
                        if k not in ("job", "shard", "instance")
                    )
                )
                found.setdefault(sample.name, {})[labels] = sample.value
        return found


@contextmanager
def _running(workdir: Path, *extra: str) -> Iterator[str]:
    """A Pushgateway on a free loopback port, in memory only; yields its base URL."""
    binary = _binary()
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "pushgateway.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                binary,
                f"--web.listen-address=127.0.0.1:{port}",
                "--persistence.file=",  # in memory: no state from an earlier run
                *extra,
            ],
            cwd=workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the Pushgateway exited: {log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except (OSError, urllib.error.URLError) as err:
                # With basic auth on, /-/ready answers 401 once it is up.
                if isinstance(err, urllib.error.HTTPError) and err.code == 401:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the Pushgateway did not get ready in {READY_TIMEOUT:g}s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    with _running(tmp_path_factory.mktemp("pushgateway")) as url:
        yield Pushgateway(url)


@pytest.fixture(scope="session")
def guarded_pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    """A Pushgateway that wants basic auth (``USER``/``PASSWORD``)."""
    workdir = tmp_path_factory.mktemp("pushgateway-auth")
    web_config = workdir / "web.yaml"
    web_config.write_text(yaml.safe_dump({"basic_auth_users": {USER: PASSWORD_HASH}}))
    with _running(workdir, f"--web.config.file={web_config}") as url:
        yield Pushgateway(url, (USER, PASSWORD))


@pytest.fixture
def shard() -> str:
    """A grouping key of this test's own, so tests sharing the Pushgateway do not meet."""
    return f"test-{uuid.uuid4().hex[:8]}"


# -- reaper run, as the CronJob runs it -----------------------------------------------------


@dataclass
class Run:
    sandbox: MotoServer
    tmp_path: Path
    make_config: ConfigFactory

    def __call__(
        self,
        metrics: Mapping[str, Any],
        *args: str,
        safety: Mapping[str, Any] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        data = self.make_config(accounts=("ci",), regions=LAYOUT["ci"], safety=safety)
        data["metrics"] = dict(metrics)
        config = self.tmp_path / "reaper.yaml"
        config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return subprocess.run(
            [*reaper_command(), "run", "--config", str(config), *args],
            env=sandbox_env(self.sandbox.endpoint_url),
            cwd=self.tmp_path,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )


@pytest.fixture
def run(sandbox: MotoServer, tmp_path: Path, make_config: ConfigFactory) -> Run:
    return Run(sandbox, tmp_path, make_config)


@pytest.fixture
def seeded(sandbox: MotoServer) -> list[SeededInstance]:
    return seed_estate(sandbox, datetime.now(UTC), LAYOUT)


def _ec2(**labels: str) -> Labels:
    return tuple(sorted({"provider": "aws", "kind": "ec2_instance", **labels}.items()))


def _api(operation: str) -> Labels:
    return (("operation", operation), ("provider", "aws"))


def test_run_apply_pushes_its_metrics_under_job_and_shard(
    pushgateway: Pushgateway, run: Run, seeded: list[SeededInstance], shard: str
) -> None:
    expired = sum(1 for s in seeded if s.expect_deleted)
    before = time.time()

    result = run({"pushgateway": pushgateway.url, "shard": shard}, "--apply")

    assert result.returncode == ExitCode.OK, explain(result)
    assert f"metrics pushed pushgateway={pushgateway.url} job=reaper shard={shard}" in (
        result.stderr
    )
    pushed = pushgateway.samples(shard)
    actions = pushed["reaper_actions_total"]
    assert actions[_ec2(action="delete", outcome="done")] == expired
    quarantined = sum(1 for s in seeded if s.expect_quarantined)
    assert actions.get(_ec2(action="quarantine", outcome="done"), 0) == quarantined
    assert {dict(labels)["outcome"] for labels in actions} == {"done"}
    # Everything seeded but the untagged instances carries the pipeline tag.
    tagged = sum(1 for s in seeded if s.label != "untagged")
    assert pushed["reaper_resources_seen"] == {_ec2(): tagged}
    assert pushed["reaper_sweeps_total"] == {(("result", "ok"),): 1}
    assert pushed["reaper_safety_brake_trips_total"] == {(): 0}
    assert pushed["reaper_sweep_duration_seconds_count"] == {(): 1}
    # One account in two regions: a terminate per region; a describe per region to
    # collect and one more before each region's quarantines.
    requests = pushed["reaper_cloud_api_requests_total"]
    quarantining = len({s.region for s in seeded if s.expect_quarantined})
    assert requests[_api("DescribeInstances")] == 2 + quarantining
    assert requests[_api("TerminateInstances")] == 2
    ((_, last_success),) = pushed[LAST_SUCCESS].items()
    assert before <= last_success <= time.time()
    assert "reaper_errors_total" not in pushed
    # The Pushgateway's own bookkeeping of the group.
    assert pushed["push_time_seconds"][()] >= before
    assert not [
        v
        for values in pushed.values()
        for labels in values
        for _, v in labels
        if v.startswith("i-")
    ]


def test_a_failed_run_keeps_the_last_success_of_the_run_before(
    pushgateway: Pushgateway,
    run: Run,
    seeded: list[SeededInstance],
    shard: str,
    alive: AliveFactory,
) -> None:
    settings = {"pushgateway": pushgateway.url, "shard": shard}
    dry_run = run(settings)
    assert dry_run.returncode == ExitCode.OK, explain(dry_run)
    succeeded = pushgateway.samples(shard)[LAST_SUCCESS][()]
    assert succeeded > 0

    braked = run(settings, "--apply", safety={"max_actions_per_sweep": 1})

    assert braked.returncode == ExitCode.SAFETY_BRAKE, explain(braked)
    assert "method=POST" in braked.stderr
    pushed = pushgateway.samples(shard)
    assert pushed[LAST_SUCCESS] == {(): succeeded}
    assert pushed["reaper_sweeps_total"] == {(("result", "safety_brake"),): 1}
    assert pushed["reaper_safety_brake_trips_total"] == {(): 1}
    assert alive(LAYOUT) == {s.instance_id for s in seeded}


def test_a_push_to_a_dead_port_is_logged_and_the_run_still_succeeds(
    run: Run, seeded: list[SeededInstance], alive: AliveFactory
) -> None:
    user, password = "cronjob-bot", "hunter2-xyz"
    dead = f"http://{user}:{password}@127.0.0.1:{_free_port()}"

    result = run({"pushgateway": dead, "shard": "nowhere"}, "--apply")

    assert result.returncode == ExitCode.OK, explain(result)
    assert alive(LAYOUT) == {s.instance_id for s in seeded if not s.expect_deleted}
    failed = [line for line in result.stderr.splitlines() if "metrics push failed" in line]
    assert len(failed) == 1, explain(result)
    assert "level=ERROR" in failed[0]
    assert "pushgateway=http://127.0.0.1:" in failed[0]
    assert password not in result.stderr
    assert user not in result.stderr


# -- push_metrics on its own -----------------------------------------------------------------


def _registry(value: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("reaper_sweeps_total", "Sweeps.", ["result"], registry=registry).labels("ok").inc(value)
    Gauge(LAST_SUCCESS, "Last success.", registry=registry).set(value)
    return registry


def test_keep_leaves_named_metrics_alone_and_replaces_the_rest(
    pushgateway: Pushgateway, shard: str
) -> None:
    assert push_metrics(_registry(1), pushgateway.url, "reaper", shard)
    failed = CollectorRegistry()
    Counter("reaper_sweeps_total", "Sweeps.", ["result"], registry=failed).labels("error").inc()
    Gauge(LAST_SUCCESS, "Last success.", registry=failed)  # 0: this run did not succeed

    assert push_metrics(failed, pushgateway.url, "reaper", shard, keep=[LAST_SUCCESS])

    pushed = pushgateway.samples(shard)
    assert pushed[LAST_SUCCESS] == {(): 1}
    assert pushed["reaper_sweeps_total"] == {(("result", "error"),): 1}

    # Without keep the group is replaced as a whole.
    assert push_metrics(_registry(5), pushgateway.url, "reaper", shard)
    pushed = pushgateway.samples(shard)
    assert pushed[LAST_SUCCESS] == {(): 5}
    assert pushed["reaper_sweeps_total"] == {(("result", "ok"),): 5}


def test_credentials_in_the_url_are_sent_and_never_logged(
    guarded_pushgateway: Pushgateway, shard: str, caplog: pytest.LogCaptureFixture
) -> None:
    base = guarded_pushgateway.url
    with_credentials = base.replace("://", f"://{USER}:{PASSWORD}@")
    caplog.set_level(logging.INFO, logger="reaper.pushgateway")

    assert push_metrics(_registry(3), with_credentials, "reaper", shard)
    assert guarded_pushgateway.samples(shard)[LAST_SUCCESS] == {(): 3}

    wrong = base.replace("://", f"://{USER}:not-{PASSWORD}@")
    assert not push_metrics(_registry(4), wrong, "reaper", shard)
    assert not push_metrics(_registry(4), base, "reaper", shard)
    assert guarded_pushgateway.samples(shard)[LAST_SUCCESS] == {(): 3}

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert all("401" in r.getMessage() for r in errors)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in text
    assert f"pushgateway={base} job=reaper shard={shard}" in text


def test_a_push_the_pushgateway_refuses_is_an_error_not_an_exception(
    pushgateway: Pushgateway, caplog: pytest.LogCaptureFixture
) -> None:
    # An empty job name: the Pushgateway answers 400.
    assert not push_metrics(_registry(1), pushgateway.url, "", "x")
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "metrics push failed" in error.getMessage()
    assert "400" in error.getMessage()
