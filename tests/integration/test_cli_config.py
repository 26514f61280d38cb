"""The CLI as a user meets it: a real ``python -m reaper`` process, config errors and exit codes.

Every bad config must end with exit code 2 and one line per problem on standard error,
naming the file and the key, and never a traceback. Each interpreter start costs most of a
second, so all the runs of this module are started together, once, by the ``runs`` fixture;
the tests then read their own run from it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from paths import REPO

COMMANDS = ("validate", "plan", "run")
EXIT_USAGE = 2

# name -> (file name, contents or None for "do not create", the exact stderr lines expected)
BAD_CONFIGS: Mapping[str, tuple[str, str | None, tuple[str, ...]]] = {
    "missing-file": ("nope.yaml", None, ("nope.yaml: no such file",)),
    "yaml-syntax": (
        "syntax.yaml",
        """\
        dry_run: true
        policy:
          default_ttl: 6h
           kinds: {}
        """,
        ("syntax.yaml: line 4, column 9: YAML syntax error: mapping values are not allowed here",),
    ),
    "wrong-type": (
        "wrong-type.yaml",
        """\
        providers: {aws: {regions: [us-east-1]}}
        safety: {max_actions_per_sweep: lots}
        """,
        (
            "wrong-type.yaml: safety.max_actions_per_sweep: "
            "input should be a valid integer, got 'lots'",
        ),
    ),
    "unknown-key": (
        "unknown-key.yaml",
        """\
        providers: {aws: {regions: [us-east-1]}}
        safety: {max_action: 5}
        """,
        (
            "unknown-key.yaml: safety.max_action: "
            "unknown key (valid: max_actions_per_sweep, max_fraction, min_actions_for_fraction, "
            "plan_max_age, global_brake, state_key_env)",
        ),
    ),
    "bad-duration": (
        "bad-duration.yaml",
        """\
        providers: {aws: {regions: [us-east-1]}}
        policy: {default_ttl: 3 dayz}
        """,
        ("bad-duration.yaml: policy.default_ttl: '3 dayz' is not a duration (e.g. 90m, 6h, 3d)",),
    ),
    "negative-ttl": (
        "negative-ttl.yaml",
        """\
        providers: {aws: {regions: [us-east-1]}}
        policy:
          kinds:
            ec2_instance: {ttl: -2h}
        """,
        (
            "negative-ttl.yaml: policy.kinds.ec2_instance.ttl: "
            "'-2h' is negative; durations must be positive (e.g. 90m, 6h, 3d)",
        ),
    ),
    "two-problems": (
        "two.yaml",
        """\
        providers: {aws: {regions: [us-east-1], colour: blue}}
        policy: {default_ttl: 0h}
        """,
        (
            "two.yaml: providers.aws.colour: "
            "unknown key (valid: kinds, max_workers, max_workers_per_account, accounts, "
            "organization, regions, restrict_public_endpoint, kubernetes_end_of_support)",
            "two.yaml: policy.default_ttl: '0h' is not a positive duration (e.g. 90m, 6h, 3d)",
        ),
    ),
    "duplicate-key": (
        "duplicate.yaml",
        """\
        dry_run: true
        providers: {aws: {regions: [us-east-1]}}
        policy:
          default_ttl: 6h
        dry_run: false
        """,
        (
            "duplicate.yaml: dry_run: duplicate key at lines 1 and 5 "
            "(YAML would silently keep the last one)",
        ),
    ),
    "bad-cron": (
        "cron.yaml",
        """\
        providers: {aws: {regions: [us-east-1]}}
        daemon: {schedule: {cron: "61 * * * *"}}
        """,
        (
            "cron.yaml: daemon.schedule.cron: '61 * * * *': minute '61': Error validating "
            "expression '61': the last value (61) is higher than the maximum value (59)",
        ),
    ),
    "secret-in-url": (
        "secret.yaml",
        """\
        providers: {aws: {regions: [us-east-1]}}
        metrics: {pushgateway: "https://reaper:s3cret-pw@push.example.com:9091/ x"}
        """,
        (
            "secret.yaml: metrics.pushgateway: 'https://***@push.example.com:9091/ x' "
            "is not an http(s) URL",
        ),
    ),
    "overflowing-duration": (
        "overflow.yaml",
        """\
        providers: {aws: {regions: [us-east-1]}}
        policy: {default_ttl: 99999999999999999w}
        """,
        (),  # checked separately, see test_overflowing_duration_is_a_config_error
    ),
}

# The cases the brief names run under every subcommand; the extra ones under validate only,
# to keep the module's interpreter starts (and its runtime) down.
EVERY_COMMAND = (
    "missing-file",
    "yaml-syntax",
    "wrong-type",
    "unknown-key",
    "bad-duration",
    "negative-ttl",
)

OTHER_RUNS: Mapping[str, tuple[str, ...]] = {
    "validate-example": ("validate", "-c", "config.example.yaml"),
    "help": ("--help",),
    "run-help": ("run", "--help"),
    "unknown-subcommand": ("obliterate", "-c", "config.example.yaml"),
}


def _env() -> dict[str, str]:
    """The parent's environment, minus reaper's own, with AWS pointed at a closed local port.

    No test here should reach a cloud; if one ever did, it fails fast instead of talking to AWS.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REAPER_", "AWS_"))}
    env.update(
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def _reaper(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reaper", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str], subprocess.CompletedProcess[str]]:
    """Every CLI run of this module, keyed by (case, command), started in parallel."""
    configs = tmp_path_factory.mktemp("configs")
    for name, text, _ in BAD_CONFIGS.values():
        if text is not None:
            (configs / name).write_text(textwrap.dedent(text), encoding="utf-8")
    jobs: dict[tuple[str, str], tuple[Sequence[str], Path]] = {
        (case, command): ((command, "-c", name), configs)
        for case, (name, _, _) in BAD_CONFIGS.items()
        for command in (COMMANDS if case in EVERY_COMMAND else ("validate",))
    }
    jobs.update({(case, ""): (args, REPO) for case, args in OTHER_RUNS.items()})
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 2)) as pool:
        futures = {key: pool.submit(_reaper, *job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize(
    ("case", "command"),
    [
        *[
            pytest.param(case, cmd, id=f"{case}-{cmd}")
            for case in EVERY_COMMAND
            for cmd in COMMANDS
        ],
        pytest.param("two-problems", "validate", id="two-problems-validate"),
        pytest.param("duplicate-key", "validate", id="duplicate-key-validate"),
        pytest.param("bad-cron", "validate", id="bad-cron-validate"),
        pytest.param("secret-in-url", "validate", id="secret-in-url-validate"),
    ],
)
def test_bad_config_exits_2_with_one_line_per_problem(
    runs: dict[tuple[str, str], subprocess.CompletedProcess[str]], case: str, command: str
) -> None:
    result = runs[case, command]
    expected = BAD_CONFIGS[case][2]
    assert "Traceback" not in result.stderr
    assert result.returncode == EXIT_USAGE, result.stderr
    assert result.stderr.splitlines() == list(expected)
    assert result.stdout == ""


def test_overflowing_duration_is_a_config_error(
    runs: dict[tuple[str, str], subprocess.CompletedProcess[str]],
) -> None:
    result = runs["overflowing-duration", "validate"]
    assert "Traceback" not in result.stderr
    assert result.returncode == EXIT_USAGE
    assert result.stderr.startswith("overflow.yaml: policy.default_ttl: '99999999999999999w'")


def test_validate_accepts_the_example_config(
    runs: dict[tuple[str, str], subprocess.CompletedProcess[str]],
) -> None:
    result = runs["validate-example", ""]
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("config.example.yaml: ok (dry_run=true ")
    assert "regions=us-east-1,eu-west-1" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        pytest.param("help", ("Usage: reaper", "validate", "plan", "run"), id="reaper-help"),
        pytest.param("run-help", ("Usage: reaper run", "--apply", "--config"), id="run-help"),
    ],
)
def test_help_exits_0(
    runs: dict[tuple[str, str], subprocess.CompletedProcess[str]],
    case: str,
    expected: tuple[str, ...],
) -> None:
    result = runs[case, ""]
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout


@pytest.mark.parametrize(
    ("case", "message"),
    [
        pytest.param("unknown-subcommand", "No such command 'obliterate'", id="unknown-subcommand"),
    ],
)
def test_usage_errors_exit_2(
    runs: dict[tuple[str, str], subprocess.CompletedProcess[str]], case: str, message: str
) -> None:
    result = runs[case, ""]
    assert result.returncode == EXIT_USAGE
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# ``python -m reaper`` with at most 1 GiB of address space, so a regression fails fast
# instead of swapping (set in the child itself: preexec_fn is unsafe with threads about).
LIMITED_REAPER = (
    "import resource, runpy, sys; "
    "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
    "sys.argv = ['reaper', *sys.argv[1:]]; "
    "runpy.run_module('reaper', run_name='__main__')"
)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")
def test_an_alias_bomb_exits_2_quickly_within_bounded_memory(tmp_path: Path) -> None:
    # Nine levels of ten aliases: a billion strings once expanded, from under 500 bytes.
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    config = tmp_path / "bomb.yaml"
    config.write_text("\n".join([*lines, "providers: {aws: {regions: *a8}}"]) + "\n")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", LIMITED_REAPER, "validate", "-c", str(config)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,  # before the fix: a MemoryError after 68 s (96 s with this limit)
        check=False,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == EXIT_USAGE, result.stderr
    assert result.stderr.splitlines() == [
        f"{config}: the document is too big: its aliases expand it to more than 20,000 keys "
        "and values (a config needs far less)"
    ]
    assert time.monotonic() - started < 20
