"""A run that sweeps only AWS never imports another provider's SDK.

The catalog imports a provider's package only when its section is configured; this runs a
real ``reaper run`` on the sandbox under ``python -X importtime`` and reads every module the
process imported.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from cli_support import CLI_TIMEOUT, explain, sandbox_env
from gcp_support import EXPIRED, NOW, PIPELINE, PROJECT, ZONE, gcp_config, seed_project

from reaper.results import ExitCode
from reaper.sandbox.gcp import FakeGcp
from reaper.sandbox.moto_server import MotoServer

OTHER_SDKS = ("google", "kubernetes")


def imported_modules(stderr: str) -> set[str]:
    """The modules ``-X importtime`` reported: ``import time: self | cumulative | name``."""
    found = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                found.add(name)
    return found


def test_an_aws_only_run_imports_no_other_providers_sdk(
    sandbox: MotoServer, make_config: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    config = tmp_path / "aws-only.yaml"
    config.write_text(yaml.safe_dump(make_config(accounts=("ci",), regions=("us-east-1",))))

    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reaper", "run", "-c", str(config)],
        env=sandbox_env(sandbox.endpoint_url),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )

    assert result.returncode == ExitCode.OK, explain(result)
    modules = imported_modules(result.stderr)
    assert "reaper.providers.aws.ec2" in modules  # the report is real: it sees reaper
    assert "botocore" in modules
    others = sorted(m for m in modules if m.split(".")[0] in OTHER_SDKS)
    assert others == [], f"an AWS-only run imported {others}"


def test_a_gcp_only_run_sweeps_the_fake_and_imports_no_other_providers_sdk(
    tmp_path: Path,
) -> None:
    with FakeGcp(wait_seconds=0.01) as fake:
        seed_project(fake)
        fake.add_instance(PROJECT, ZONE, "old", labels=PIPELINE, created=NOW - EXPIRED)
        config = tmp_path / "gcp-only.yaml"
        config.write_text(yaml.safe_dump(gcp_config(fake, tmp_path / "audit.jsonl")))

        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "reaper", "run", "-c", str(config)],
            env=sandbox_env(None),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )

        assert result.returncode == ExitCode.OK, explain(result)
        assert fake.instance(PROJECT, ZONE, "old") is None  # the config is applied
    modules = imported_modules(result.stderr)
    assert "reaper.providers.gcp.gce" in modules
    assert "google.cloud.compute_v1" in modules
    others = sorted(m for m in modules if m.split(".")[0] in ("kubernetes",))
    assert others == [], f"a GCP-only run imported {others}"
    assert "reaper.providers.aws" not in modules
