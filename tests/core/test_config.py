"""Loading and validating the YAML configuration: every problem, by file and key path."""

from __future__ import annotations

import hashlib
import re
import textwrap
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
            "bad.yaml: providers: no provider configured (add one of providers.aws)",
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
            "(valid: dry_run, tags, providers, policy, safety, audit, notify, metrics, daemon)",
            id="top-level",
        ),
        pytest.param(
            with_minimal(safety={"max_action": 5}),
            "bad.yaml: safety.max_action: unknown key "
            "(valid: max_actions_per_sweep, max_fraction, min_actions_for_fraction, plan_max_age, "
            "global_brake)",
            id="safety-typo",
        ),
        pytest.param(
            with_minimal(tags={"protected": "x"}),
            "bad.yaml: tags.protected: "
            "unknown key (valid: pipeline, ttl, expires_at, protect, owner)",
            id="tags-typo",
        ),
        pytest.param(
            {"providers": {"aws": {"regions": ["us-east-1"]}, "gcp": {}}},
            "bad.yaml: providers.gcp: unknown key (valid: aws)",
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
            "(valid: ec2_instance, eks_cluster, aws:ec2_instance, aws:eks_cluster)",
            id="policy-kinds",
        ),
        pytest.param(
            with_minimal(policy={"kinds": {"gcp:ec2_instance": {"ttl": "1h"}}}),
            "bad.yaml: policy.kinds.gcp:ec2_instance: unknown kind 'gcp:ec2_instance' "
            "(valid: ec2_instance, eks_cluster, aws:ec2_instance, aws:eks_cluster)",
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
