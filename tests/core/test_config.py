"""Loading and validating the YAML configuration: every problem, by file and key path."""

from __future__ import annotations

import hashlib
import re
import textwrap
import tracemalloc
import typing
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from paths import REPO
from pydantic import BaseModel, ValidationError

from reaper.config import Settings, load_settings, parse_settings
from reaper.errors import ConfigError, ReaperError

EXAMPLE = REPO / "config.example.yaml"
MINIMAL = {"providers": {"aws": {"regions": ["us-east-1"]}}}


def write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path)
    return excinfo.value.problems


def parse_problems(data: object, source: str = "bad.yaml") -> tuple[str, ...]:
    with pytest.raises(ConfigError) as excinfo:
        parse_settings(data, source)
    return excinfo.value.problems


def with_minimal(**sections: object) -> dict[str, object]:
    return {**MINIMAL, **sections}


# --- valid files ----------------------------------------------------------------------------


def _setting_keys(model: type[BaseModel], path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, key) of every setting, through nested sections and kind overrides."""
    for name, field in model.model_fields.items():
        key = field.alias or name
        dotted = f"{path}.{key}" if path else key
        yield dotted, key
        for arg in (field.annotation, *typing.get_args(field.annotation)):
            for inner in typing.get_args(arg) or (arg,):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield from _setting_keys(inner, dotted)


def test_the_example_config_shows_every_setting() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    undocumented = [
        dotted
        for dotted, key in _setting_keys(Settings)
        # As a YAML key, set or commented out, in block or flow style.
        if not re.search(rf"(^|[\s#{{,]){re.escape(key)}:", text, re.MULTILINE)
    ]
    assert undocumented == []


def test_the_example_config_loads_and_is_a_dry_run() -> None:
    settings, digest = load_settings(EXAMPLE)
    assert settings.dry_run is True
    assert settings.providers.aws is not None
    assert settings.providers.aws.regions == ("us-east-1", "eu-west-1")
    assert settings.providers.aws.kinds == ("ec2_instance",)
    assert settings.policy.ttl_for("aws", "ec2_instance") == timedelta(hours=12)
    assert digest == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()


def test_omitted_sections_take_their_defaults() -> None:
    settings = parse_settings(MINIMAL, "minimal.yaml")
    assert settings.dry_run is True
    assert settings.tags.pipeline == "reaper-pipeline"
    assert settings.tags.ttl == "reaper-ttl"
    assert settings.tags.expires_at == "reaper-expires-at"
    assert settings.tags.protect == "reaper-protect"
    assert settings.tags.owner == "reaper-owner"
    aws = settings.providers.aws
    assert aws is not None
    assert [a.name for a in aws.accounts] == ["default"]
    assert aws.accounts[0].role_arn is None
    assert aws.kinds == ("ec2_instance",)  # clusters are opt-in
    assert aws.max_workers == 8
    assert settings.policy.default_ttl == timedelta(hours=24)
    assert dict(settings.policy.kinds) == {}
    assert settings.safety.max_actions_per_sweep == 50
    assert settings.safety.max_fraction == 0.5
    assert settings.audit.path == "reaper-audit.jsonl"


def test_settings_are_frozen() -> None:
    settings = parse_settings(MINIMAL, "minimal.yaml")
    with pytest.raises(ValidationError, match="frozen"):
        settings.dry_run = False


def test_a_full_valid_file_round_trips_its_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        dry_run: false
        tags: {pipeline: ci-run, ttl: ci-ttl, expires_at: ci-exp, protect: ci-keep, owner: ci-who}
        providers:
          aws:
            accounts:
              - {name: ci}
              - {name: staging, role_arn: "arn:aws:iam::210987654321:role/reaper"}
            regions: [us-east-1, eu-west-1, ap-southeast-2]
            max_workers: 4
        policy:
          default_ttl: 1d12h
          kinds:
            aws:ec2_instance: {ttl: 90m}
        safety: {max_actions_per_sweep: 0, max_fraction: 1}
        audit: {path: /var/log/reaper.jsonl}
        """,
        name="good.yaml",
    )
    settings, _ = load_settings(path)
    assert settings.dry_run is False
    assert settings.tags.protect == "ci-keep"
    assert settings.providers.aws is not None
    assert settings.providers.aws.accounts[1].role_arn == "arn:aws:iam::210987654321:role/reaper"
    assert settings.policy.default_ttl == timedelta(days=1, hours=12)
    assert settings.policy.ttl_for("aws", "ec2_instance") == timedelta(minutes=90)
    assert settings.safety.max_actions_per_sweep == 0
    assert settings.safety.max_fraction == 1.0


# --- every problem at once ------------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_file_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        dry_run: yes-please
        tags:
          pipeline: Reaper-Pipeline
        providers:
          aws:
            regions: [us-east-1, mars-north-1]
            colour: blue
        policy:
          default_ttl: 3 dayz
        safety:
          max_actions_per_sweep: lots
        """,
    )
    problems = problems_of(path)
    expected = [
        f"{path}: dry_run: input should be a valid boolean, got 'yes-please'",
        f"{path}: tags.pipeline: 'Reaper-Pipeline' is not a valid tag key (lowercase letters",
        f"{path}: providers.aws.regions: not AWS region names: 'mars-north-1'",
        f"{path}: providers.aws.colour: unknown key "
        "(valid: kinds, max_workers, max_workers_per_account, accounts, organization, regions, "
        "restrict_public_endpoint, kubernetes_end_of_support)",
        f"{path}: policy.default_ttl: '3 dayz' is not a duration (e.g. 90m, 6h, 3d)",
        f"{path}: safety.max_actions_per_sweep: input should be a valid integer, got 'lots'",
    ]
    for message in expected:
        assert any(p.startswith(message) for p in problems), f"missing: {message}\n{problems}"
    assert len(problems) == len(expected)
    assert all("\n" not in p for p in problems), "one line per problem"


def test_config_error_is_a_reaper_error_with_one_line_per_problem() -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_settings(with_minimal(dry_run="x", safety={"max_fraction": 2}), "c.yaml")
    err = excinfo.value
    assert isinstance(err, ReaperError)
    assert str(err).splitlines() == list(err.problems)
    assert len(err.problems) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({}, "bad.yaml: providers: required key is missing", id="no-providers"),
        pytest.param(
            {"providers": {}},
            "bad.yaml: providers: no provider configured (add one of providers.aws, "
            "providers.gcp, providers.kubernetes)",
            id="empty-providers",
        ),
        pytest.param(
            {"providers": {"aws": {}}},
            "bad.yaml: providers.aws.regions: required key is missing",
            id="no-regions",
        ),
        pytest.param(
            {"providers": {"aws": {"regions": ["us-east-1", "us-east-1"]}}},
            "bad.yaml: providers.aws.regions: regions are listed more than once",
            id="duplicate-region",
        ),
        pytest.param(
            {
                "providers": {
                    "aws": {"regions": ["us-east-1"], "accounts": [{"name": "a"}, {"name": "a"}]}
                }
            },
            "bad.yaml: providers.aws.accounts: account names must be unique",
            id="duplicate-account",
        ),
        pytest.param(
            {"providers": {"aws": {"regions": ["us-east-1"], "max_workers": 0}}},
            "bad.yaml: providers.aws.max_workers: "
            "input should be greater than or equal to 1, got 0",
            id="zero-workers",
        ),
        pytest.param(
            with_minimal(policy={"default_ttl": 24}),
            "bad.yaml: policy.default_ttl: 24 is not a duration (e.g. 90m, 6h, 3d)",
            id="unitless-number-ttl",
        ),
        pytest.param(
            with_minimal(policy={"default_ttl": "-2h"}),
            "bad.yaml: policy.default_ttl: '-2h' is negative; durations must be positive",
            id="negative-ttl",
        ),
        pytest.param(
            with_minimal(policy={"default_ttl": "0h"}),
            "bad.yaml: policy.default_ttl: '0h' is not a positive duration",
            id="zero-ttl",
        ),
        pytest.param(
            with_minimal(policy={"kinds": {"ec2_instance": {"ttl": "3 dayz"}}}),
            "bad.yaml: policy.kinds.ec2_instance.ttl: '3 dayz' is not a duration",
            id="bad-kind-ttl",
        ),
        pytest.param(
            with_minimal(safety={"max_fraction": 0}),
            "bad.yaml: safety.max_fraction: input should be greater than 0, got 0",
            id="zero-fraction",
        ),
        pytest.param(
            with_minimal(safety={"max_fraction": 1.5}),
            "bad.yaml: safety.max_fraction: input should be less than or equal to 1, got 1.5",
            id="fraction-over-one",
        ),
        pytest.param(
            with_minimal(safety={"max_actions_per_sweep": -1}),
            "bad.yaml: safety.max_actions_per_sweep: input should be greater than or equal to 0",
            id="negative-max-actions",
        ),
        pytest.param(
            with_minimal(safety={"max_actions_per_sweep": True}),
            "bad.yaml: safety.max_actions_per_sweep: input should be a valid integer, got True",
            id="bool-is-not-an-int",
        ),
        pytest.param(
            with_minimal(dry_run="false"),
            "bad.yaml: dry_run: input should be a valid boolean, got 'false'",
            id="quoted-bool",
        ),
    ],
)
def test_single_problem_names_the_key(data: dict[str, object], message: str) -> None:
    problems = parse_problems(data)
    assert len(problems) == 1, problems
    assert problems[0].startswith(message), problems


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            with_minimal(bogus=1),
            "bad.yaml: bogus: unknown key "
            "(valid: dry_run, tags, providers, policy, safety, audit, notify, metrics, daemon, "
            "pipelines)",
            id="top-level",
        ),
        pytest.param(
            with_minimal(safety={"max_action": 5}),
            "bad.yaml: safety.max_action: unknown key "
            "(valid: max_actions_per_sweep, max_fraction, min_actions_for_fraction, plan_max_age, "
            "global_brake, state_key_env)",
            id="safety-typo",
        ),
        pytest.param(
            with_minimal(tags={"protected": "x"}),
            "bad.yaml: tags.protected: "
            "unknown key (valid: pipeline, ttl, expires_at, protect, owner, ci_source)",
            id="tags-typo",
        ),
        pytest.param(
            {"providers": {"aws": {"regions": ["us-east-1"]}, "azure": {}}},
            "bad.yaml: providers.azure: unknown key (valid: aws, gcp, kubernetes)",
            id="unknown-provider",
        ),
    ],
)
def test_unknown_key_lists_the_valid_keys(data: dict[str, object], message: str) -> None:
    assert parse_problems(data) == (message,)


def test_unknown_key_in_a_kind_policy_lists_the_valid_keys() -> None:
    data = with_minimal(policy={"kinds": {"ec2_instance": {"ttl": "1h", "tll": "2h"}}})
    assert parse_problems(data) == (
        "bad.yaml: policy.kinds.ec2_instance.tll: unknown key (valid: ttl, actions)",
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            {
                "providers": {
                    "aws": {"regions": ["us-east-1"], "kinds": ["ec2_instance", "s3_bucket"]}
                }
            },
            "bad.yaml: providers.aws.kinds: unknown kind 's3_bucket' "
            "(valid: ec2_instance, eks_cluster)",
            id="provider-kinds",
        ),
        pytest.param(
            with_minimal(policy={"kinds": {"rds_instance": {"ttl": "1h"}}}),
            "bad.yaml: policy.kinds.rds_instance: unknown kind 'rds_instance' "
            "(valid: ec2_instance, eks_cluster, gce_instance, gke_cluster, namespace, "
            "aws:ec2_instance, aws:eks_cluster, gcp:gce_instance, gcp:gke_cluster, "
            "kubernetes:namespace)",
            id="policy-kinds",
        ),
        pytest.param(
            with_minimal(policy={"kinds": {"gcp:ec2_instance": {"ttl": "1h"}}}),
            "bad.yaml: policy.kinds.gcp:ec2_instance: unknown kind 'gcp:ec2_instance' "
            "(valid: ec2_instance, eks_cluster, gce_instance, gke_cluster, namespace, "
            "aws:ec2_instance, aws:eks_cluster, gcp:gce_instance, gcp:gke_cluster, "
            "kubernetes:namespace)",
            id="policy-kinds-wrong-provider",
        ),
    ],
)
def test_unknown_kind_lists_the_valid_kinds(data: dict[str, object], message: str) -> None:
    assert parse_problems(data) == (message,)


def test_unknown_kind_and_bad_kind_ttl_are_both_reported() -> None:
    data = with_minimal(policy={"kinds": {"ec2_instance": {"ttl": "3 dayz"}, "s3_bucket": {}}})
    problems = parse_problems(data)
    assert any("'3 dayz' is not a duration" in p for p in problems)
    assert any("unknown kind 's3_bucket'" in p for p in problems)


# --- role ARNs and tag keys ------------------------------------------------------------------


def _accounts(*accounts: dict[str, str]) -> dict[str, object]:
    return {"providers": {"aws": {"regions": ["us-east-1"], "accounts": list(accounts)}}}


def _account(role_arn: str) -> dict[str, object]:
    return _accounts({"name": "ci", "role_arn": role_arn})


@pytest.mark.parametrize(
    "arn",
    [
        pytest.param("arn:aws:iam::123456789012:role/reaper", id="plain"),
        pytest.param("arn:aws:iam::123456789012:role/ci/reaper-sweeper", id="with-path"),
        pytest.param("arn:aws-us-gov:iam::123456789012:role/reaper", id="govcloud"),
        pytest.param("arn:aws-cn:iam::123456789012:role/reaper", id="china"),
    ],
)
def test_valid_role_arns_are_accepted(arn: str) -> None:
    settings = parse_settings(_account(arn), "ok.yaml")
    assert settings.providers.aws is not None
    assert settings.providers.aws.accounts[0].role_arn == arn


@pytest.mark.parametrize(
    "arn",
    [
        pytest.param("reaper", id="bare-name"),
        pytest.param("arn:aws:iam::12345678901:role/reaper", id="11-digit-account"),
        pytest.param("arn:aws:iam::123456789012:user/bob", id="user-not-role"),
        pytest.param("arn:aws:iam::123456789012:role/", id="empty-role-name"),
        pytest.param("arn:aws:sts::123456789012:role/reaper", id="sts-service"),
        pytest.param("arn:aws:iam::123456789012:role/re aper", id="space-in-name"),
    ],
)
def test_invalid_role_arns_are_rejected(arn: str) -> None:
    problems = parse_problems(_account(arn))
    assert (
        f"bad.yaml: providers.aws.accounts[0].role_arn: {arn!r} is not an IAM role ARN "
        "(arn:aws:iam::123456789012:role/NAME)"
    ) in problems


BAD_ACCOUNTS = [
    pytest.param(
        _account("reaper"),
        "bad.yaml: providers.aws.accounts[0].role_arn: 'reaper' is not an IAM role ARN",
        id="bad-role-arn",
    ),
    pytest.param(
        _accounts({"name": "CI"}),
        "bad.yaml: providers.aws.accounts[0].name: 'CI' is not a valid account name",
        id="uppercase-name",
    ),
    pytest.param(
        _accounts({"name": "ci", "region": "x"}),
        "bad.yaml: providers.aws.accounts[0].region: unknown key (valid: name, role_arn)",
        id="unknown-key-in-entry",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_ACCOUNTS)
def test_a_bad_account_entry_is_named_by_its_index(data: dict[str, object], message: str) -> None:
    assert any(p.startswith(message) for p in parse_problems(data))


def test_a_bad_second_account_is_the_only_problem_reported() -> None:
    problems = parse_problems(_accounts({"name": "ci"}, {"name": "CI"}))
    assert problems == (
        "bad.yaml: providers.aws.accounts[1].name: 'CI' is not a valid account name "
        "(lowercase, digits, '-', '_')",
    )


@pytest.mark.parametrize(("data", "message"), BAD_ACCOUNTS)
def test_a_bad_account_entry_is_the_only_problem_reported(
    data: dict[str, object], message: str
) -> None:
    problems = parse_problems(data)
    assert len(problems) == 1, problems
    assert problems[0].startswith(message)


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        pytest.param(
            {"pipeline": "Reaper-Pipeline"},
            "tags.pipeline: 'Reaper-Pipeline' is not a valid tag key",
            id="uppercase",
        ),
        pytest.param(
            {"ttl": "1-ttl"}, "tags.ttl: '1-ttl' is not a valid tag key", id="leading-digit"
        ),
        pytest.param(
            {"owner": "team.owner"}, "tags.owner: 'team.owner' is not a valid tag key", id="dot"
        ),
        pytest.param(
            {"protect": "p" * 64},
            "tags.protect: '" + "p" * 64 + "' is not a valid tag key",
            id="64-chars",
        ),
        pytest.param({"protect": ""}, "tags.protect: '' is not a valid tag key", id="empty"),
        pytest.param(
            {"ttl": "reaper-pipeline"},
            "tags: tag keys must differ; used twice: reaper-pipeline",
            id="duplicate-with-default",
        ),
        pytest.param(
            {"owner": "who", "protect": "who"},
            "tags: tag keys must differ; used twice: who",
            id="duplicate-pair",
        ),
    ],
)
def test_tag_keys_are_validated(tags: dict[str, str], message: str) -> None:
    problems = parse_problems(with_minimal(tags=tags))
    assert len(problems) == 1
    assert problems[0].startswith(f"bad.yaml: {message}")


def test_63_character_tag_key_is_accepted() -> None:
    key = "k" * 63
    assert parse_settings(with_minimal(tags={"owner": key}), "ok.yaml").tags.owner == key


# --- the file itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [pytest.param("", id="zero-bytes"), pytest.param("# only a comment\n\n", id="comment-only")],
)
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert problems_of(path) == (f"{path}: the file is empty",)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("- dry_run: true\n", id="list"),
        pytest.param("just a string\n", id="scalar"),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert problems_of(path) == (f"{path}: the top level must be a mapping of keys",)


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        dry_run: true
        policy:
          default_ttl: 6h
           kinds: {}
        """,
    )
    assert problems_of(path) == (
        f"{path}: line 4, column 9: YAML syntax error: mapping values are not allowed here",
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert problems_of(path) == (f"{path}: no such file",)


def test_unreadable_bytes_are_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"dry_run: true\n# caf\xe9\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: cannot read: ")


def test_a_directory_is_a_config_error(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path)
    assert problem.startswith(f"{tmp_path}: cannot read: ")


def test_absurdly_large_duration_is_a_config_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        providers: {aws: {regions: [us-east-1]}}
        policy: {default_ttl: 99999999999999999w}
        """,
    )
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: policy.default_ttl: '99999999999999999w'")


def test_sha256_is_of_the_file_and_changes_with_it(tmp_path: Path) -> None:
    text = "providers: {aws: {regions: [us-east-1]}}\n"
    path = write(tmp_path, text, name="c.yaml")
    settings_a, digest_a = load_settings(path)
    assert digest_a == hashlib.sha256(text.encode()).hexdigest()
    assert load_settings(path)[1] == digest_a, "same bytes, same digest"

    path.write_text(text + "# a comment changes nothing but the digest\n", encoding="utf-8")
    settings_b, digest_b = load_settings(path)
    assert digest_b != digest_a
    assert settings_b == settings_a
    assert isinstance(settings_b, Settings)


def test_a_crlf_file_has_the_digest_of_its_text(tmp_path: Path) -> None:
    path = tmp_path / "crlf.yaml"
    path.write_bytes(b"providers: {aws: {regions: [us-east-1]}}\r\n")
    assert (
        load_settings(path)[1]
        == hashlib.sha256(b"providers: {aws: {regions: [us-east-1]}}\n").hexdigest()
    )


# --- duplicate keys ----------------------------------------------------------------------------

LATER = "(YAML would silently keep the last one)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            """\
            dry_run: true
            providers: {aws: {regions: [us-east-1]}}
            dry_run: false
            """,
            (f"dry_run: duplicate key at lines 1 and 3 {LATER}",),
            id="top-level",
        ),
        pytest.param(
            """\
            providers:
              aws:
                regions: [us-east-1]
                accounts:
                  - name: ci
                    role_arn: arn:aws:iam::123456789012:role/a
                    name: prod
            """,
            (f"providers.aws.accounts[0].name: duplicate key at lines 5 and 7 {LATER}",),
            id="in-a-list-entry",
        ),
        pytest.param(
            """\
            providers: {aws: {regions: [us-east-1]}}
            policy:
              kinds:
                ec2_instance: {ttl: 6h}
                ec2_instance: {ttl: 1w}
              default_ttl: 1h
              default_ttl: 2h
              default_ttl: 3h
            """,
            (
                f"policy.kinds.ec2_instance: duplicate key at lines 4 and 5 {LATER}",
                f"policy.default_ttl: duplicate key at lines 6, 7 and 8 {LATER}",
            ),
            id="every-one-at-once",
        ),
        pytest.param(
            """\
            providers: {aws: {regions: [us-east-1], regions: [eu-west-1]}}
            """,
            (f"providers.aws.regions: duplicate key at lines 1 and 1 {LATER}",),
            id="flow-style",
        ),
        pytest.param(
            """\
            providers: {aws: {regions: [us-east-1]}}
            "dry_run": true
            dry_run: false
            """,
            (f"dry_run: duplicate key at lines 2 and 3 {LATER}",),
            id="quoted-and-plain",
        ),
    ],
)
def test_a_key_given_twice_is_an_error_naming_both_lines(
    tmp_path: Path, text: str, expected: tuple[str, ...]
) -> None:
    path = write(tmp_path, text)
    assert problems_of(path) == tuple(f"{path}: {problem}" for problem in expected)


def test_a_merge_key_may_be_overridden(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        providers: {aws: {regions: [us-east-1]}}
        policy:
          kinds:
            ec2_instance: &short {ttl: 6h}
            eks_cluster:
              <<: *short
              ttl: 1d
        """,
    )
    settings, _ = load_settings(path)
    assert settings.policy.ttl_for("aws", "eks_cluster") == timedelta(days=1)
    assert settings.policy.ttl_for("aws", "ec2_instance") == timedelta(hours=6)


# --- size, aliases and nesting ----------------------------------------------------------------


def alias_bomb(levels: int, width: int = 10) -> str:
    """``a0`` is ``width`` strings, each ``a{n}`` is ``width`` aliases of ``a{n-1}``: once
    expanded, ``width ** levels`` values from a few hundred bytes."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * width)}]" for n in range(1, levels)]
    lines.append(f"dry_run: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    path = write(tmp_path, alias_bomb(6))  # a million values: seconds and megabytes before
    tracemalloc.start()
    try:
        problems = problems_of(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems == (
        f"{path}: the document is too big: its aliases expand it to more than 20,000 keys "
        "and values (a config needs far less)",
    )
    # Refused before expansion: a million values would take hundreds of megabytes.
    assert peak < 20_000_000


def test_aliases_of_a_long_string_count_its_length(tmp_path: Path) -> None:
    text = f'a: &a "{"x" * 200_000}"\npolicy: {{exposed_ports: [{", ".join(["*a"] * 10)}]}}\n'
    path = write(tmp_path, text)
    assert problems_of(path) == (
        f"{path}: the document is too big: its aliases expand it to more than 1024 KiB of text "
        "(a config needs far less)",
    )


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        regions: &regions [us-east-1, eu-west-1]
        providers: {aws: {regions: *regions}}
        """,
    )
    assert problems_of(path) == (
        f"{path}: regions: unknown key (valid: dry_run, tags, providers, policy, safety, "
        "audit, notify, metrics, daemon, pipelines)",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a: &a [*a]\n", "line 1: a[0]: a recursive alias", id="list"),
        pytest.param("a: &a {b: [1, *a]}\n", "line 1: a.b[1]: a recursive alias", id="mapping"),
    ],
)
def test_a_recursive_alias_is_an_error(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert problems_of(path) == (f"{path}: {expected}: the value contains itself",)


@pytest.mark.parametrize("depth", [51, 400, 20_000], ids=["just-over", "python-limit", "deep"])
def test_nesting_is_bounded(tmp_path: Path, depth: int) -> None:
    path = write(tmp_path, "dry_run: " + "[" * depth + "]" * depth + "\n")
    assert problems_of(path) == (
        f"{path}: line 1: nested more than 50 levels deep (a config needs fewer than ten)",
    )


def test_nesting_through_aliases_is_bounded(tmp_path: Path) -> None:
    half = 30
    text = f"a: &a {'[' * half}1{']' * half}\nb: {'[' * half}*a{']' * half}\n"
    path = write(tmp_path, text)
    assert problems_of(path) == (
        f"{path}: line 1: with its aliases expanded, nested more than 50 levels deep "
        "(a config needs fewer than ten)",
    )


def test_a_file_over_a_mebibyte_is_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, "dry_run: true\n" + "#" * 1024 * 1024 + "\n")
    assert problems_of(path) == (
        f"{path}: the file is larger than 1024 KiB; a config is far smaller",
    )


def test_a_long_wrong_value_is_clipped_in_the_message(tmp_path: Path) -> None:
    path = write(
        tmp_path, f"providers: {{aws: {{regions: [us-east-1]}}}}\ndry_run: [{'1, ' * 500}1]\n"
    )
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: dry_run: input should be a valid boolean, got [1, 1,")
    assert len(problem) < len(str(path)) + 300


# --- schedules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "cron", "problem"),
    [
        pytest.param(
            "schedule",
            "61 * * * *",
            "'61 * * * *': minute '61': Error validating expression '61': the last value (61) "
            "is higher than the maximum value (59)",
            id="minute-out-of-range",
        ),
        pytest.param(
            "schedule",
            "0 24 * * *",
            "'0 24 * * *': hour '24': Error validating expression '24': the last value (24) "
            "is higher than the maximum value (23)",
            id="hour-out-of-range",
        ),
        pytest.param(
            "schedule",
            "0 9 * * 1-8",
            "'0 9 * * 1-8': '8' is not a day of the week (0-7 or sun-sat)",
            id="weekday-out-of-range",
        ),
        pytest.param(
            "schedule",
            "0 0 1 * 1",
            "'0 0 1 * 1': give a day of the month or a day of the week, not both "
            "(crontab runs on either, the scheduler only on both)",
            id="day-and-weekday",
        ),
        pytest.param("schedule", "0 0 30 2 *", "'0 0 30 2 *' never fires", id="february-30"),
        pytest.param(
            "schedule",
            "*/15 * * *",
            "'*/15 * * *' is not a five-field cron expression",
            id="four-fields",
        ),
        pytest.param(
            "providers.aws",
            "*/x * * * *",
            "'*/x * * * *': minute '*/x': Unrecognized expression \"*/x\" for field \"minute\"",
            id="per-provider",
        ),
    ],
)
def test_a_cron_the_daemon_would_refuse_is_refused_at_load(
    key: str, cron: str, problem: str
) -> None:
    section: dict[str, object] = {"schedule": {"cron": cron}}
    if key != "schedule":
        section = {"providers": {"aws": {"cron": cron}}}
    assert parse_problems(with_minimal(daemon=section)) == (
        f"bad.yaml: daemon.{key}.cron: {problem}",
    )


@pytest.mark.parametrize(
    "cron", ["*/30 * * * *", "0 9 * * 1-5", "0 0 29 2 *", "15 3 * * sun", "0 */6 1,15 * *"]
)
def test_a_cron_the_daemon_accepts_loads(cron: str) -> None:
    settings = parse_settings(with_minimal(daemon={"schedule": {"cron": cron}}), "ok.yaml")
    assert settings.daemon.schedule.cron == cron


# --- secrets in messages --------------------------------------------------------------------------

PASSWORD = "s3cret-pw"


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        pytest.param(
            {"metrics": {"pushgateway": f"https://reaper:{PASSWORD}@push.example.com:9091/ x"}},
            "metrics.pushgateway: 'https://***@push.example.com:9091/ x' is not an http(s) URL",
            id="pushgateway-userinfo",
        ),
        pytest.param(
            {"metrics": f"https://reaper:{PASSWORD}@push.example.com"},
            "metrics: input should be a valid dictionary or instance of MetricsSettings, "
            "got 'https://***@push.example.com'",
            id="url-in-place-of-a-section",
        ),
        pytest.param(
            {"notify": {"webhook_url_env": f"https://hooks.slack.com/services/T0/B0/{PASSWORD}"}},
            "notify.webhook_url_env: 'https://hooks.slack.com/services/***' is not an "
            "environment variable name; put the URL in the environment and name the variable here",
            id="webhook-url-in-place-of-its-variable",
        ),
        pytest.param(
            {"policy": {"default_ttl": f"password={PASSWORD}"}},
            "policy.default_ttl: 'password=***' is not a duration (e.g. 90m, 6h, 3d)",
            id="token-like-field",
        ),
    ],
)
def test_a_secret_in_a_bad_value_is_masked_in_the_message(
    sections: dict[str, object], expected: str
) -> None:
    problems = parse_problems(with_minimal(**sections))
    assert problems == (f"bad.yaml: {expected}",)
    assert PASSWORD not in "\n".join(problems)


def test_a_key_named_like_a_secret_keeps_its_message() -> None:
    problems = parse_problems(with_minimal(notify={"api_key": "x"}))
    assert problems == (
        "bad.yaml: notify.api_key: unknown key (valid: webhook_url_env, on_mark, summary)",
    )
