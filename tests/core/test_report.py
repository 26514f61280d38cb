"""The ops reports: Markdown and self-contained HTML, built on one view of the plan."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper.errors import BrakeCount, SafetyLimitExceeded
from reaper.model import (
    Action,
    CollectError,
    Decision,
    Outcome,
    Plan,
    Reason,
    Resource,
    ResourceRef,
    Result,
    Scope,
)
from reaper.report import (
    FORMATS,
    plan_to_json,
    render,
    render_chunks,
    render_json,
    render_markdown,
    render_resources,
    render_table,
)
from reaper.report.html import render_html
from reaper.report.text import clean
from reaper.report.view import NO_OWNER, build_view, time_left
from reaper.safetext import is_unsafe

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
CI = Scope("ci", "us-east-1")
EVIL = "<script>alert(1)</script>"


def decision(
    id: str,
    action: Action = Action.DELETE,
    reasons: tuple[Reason, ...] = (Reason.TTL_EXPIRED,),
    *,
    owner: str | None = "team-a",
    run: str | None = "run-1",
    kind: str = "ec2_instance",
    provider: str = "aws",
    name: str | None = None,
    age: timedelta | None = 30 * H,
    tags: Mapping[str, str] | None = None,
    **fields: Any,
) -> Decision:
    resource = Resource(
        ref=ResourceRef(provider, kind, CI, id),
        name=name or f"name-{id}",
        created_at=None if age is None else NOW - age,
        tags=dict(tags or {"reaper-pipeline": run or ""}),
        pipeline_run=run,
        owner=owner,
    )
    return Decision(resource, action, reasons, **fields)


def plan_of(*decisions: Decision) -> Plan:
    population: dict[str, int] = {}
    for d in decisions:
        population[d.ref.kind_key] = population.get(d.ref.kind_key, 0) + 1
    return Plan(created_at=NOW, decisions=decisions, population=population)


def mixed_plan() -> Plan:
    """Two owners and no-owner, several runs, every kind of row the report has."""
    return plan_of(
        decision("i-1", owner="team-b", run="run-10", not_before=NOW - 2 * H),
        decision("i-2", owner="team-b", run="run-9", not_before=NOW - 30 * H),
        decision(
            "vol-1",
            Action.MARK,
            kind="ebs_volume",
            owner="team-a",
            run="run-1",
            not_before=NOW + 24 * H,
            intended=Action.DELETE,
        ),
        decision(
            "i-3",
            Action.KEEP,
            (Reason.TTL_EXPIRED, Reason.IN_GRACE),
            owner="team-a",
            run="run-1",
            not_before=NOW + 6 * H,
            intended=Action.DELETE,
        ),
        decision(
            "sg-1",
            Action.KEEP,
            (Reason.TTL_EXPIRED, Reason.RETRY_BACKOFF),
            kind="security_group",
            owner=None,
            run="run-7",
            not_before=NOW + 2 * H,
            intended=Action.DELETE,
            failures=5,
            escalated=True,
        ),
        decision(
            "i-4",
            Action.QUARANTINE,
            (Reason.EXPIRY_PASSED,),
            owner="team-a",
            run="run-2",
            not_before=NOW - H,
        ),
        decision("i-5", Action.KEEP, (Reason.WITHIN_TTL,), deadline=NOW + 5 * H, owner="team-b"),
        decision("i-6", Action.KEEP, (Reason.WITHIN_TTL,), deadline=NOW + 9 * H, owner="team-c"),
        decision("i-7", Action.KEEP, (Reason.PROTECTED,), owner="team-a"),
    )


def section(text: str, title: str) -> str:
    """The Markdown from the heading starting with ``title`` to the next heading of its level."""
    level = re.match(r"#+", title)
    assert level is not None
    start = text.index(title)
    rest = text[start + len(title) :]
    end = re.search(rf"^{level.group()} ", rest, re.MULTILINE)
    return text[start : start + len(title) + (end.start() if end else len(rest))]


# --- time left ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"not_before": NOW + 6 * H}, ("in 6h", False), id="future"),
        pytest.param({"not_before": NOW - 26 * H}, ("overdue by 1d2h", True), id="overdue"),
        pytest.param({"not_before": NOW}, ("overdue by 0s", True), id="due-now"),
        pytest.param({}, ("now", False), id="action-without-time"),
    ],
)
def test_time_left_of_an_action(fields: dict[str, Any], expected: tuple[str, bool]) -> None:
    assert time_left(decision("i-1", **fields), NOW) == expected


def test_time_left_of_kept_resources_counts_to_not_before_then_deadline() -> None:
    in_grace = decision(
        "i-1",
        Action.KEEP,
        (Reason.TTL_EXPIRED, Reason.IN_GRACE),
        deadline=NOW - H,
        not_before=NOW + 3 * H,
        intended=Action.DELETE,
    )
    quarantined = decision("i-2", Action.KEEP, (Reason.QUARANTINED,), deadline=NOW + 50 * H)
    unknown = decision("i-3", Action.KEEP, (Reason.UNKNOWN_AGE,), age=None)
    assert time_left(in_grace, NOW) == ("in 3h", False)
    assert time_left(quarantined, NOW) == ("in 2d2h", False)
    assert time_left(unknown, NOW) == ("-", False)


# --- the view ----------------------------------------------------------------------------


def test_view_groups_by_owner_then_pipeline_run_in_natural_order() -> None:
    view = build_view(mixed_plan())
    assert [o.owner for o in view.owners] == ["team-a", "team-b", None]
    team_a, team_b, _ = view.owners
    assert [p.run for p in team_a.pipelines] == ["run-1", "run-2"]
    assert [p.run for p in team_b.pipelines] == ["run-9", "run-10"]
    assert [r.decision.ref.id for r in team_a.pipelines[0].rows] == ["vol-1", "i-3"]


def test_view_counts_quiet_keeps_instead_of_listing_them() -> None:
    view = build_view(mixed_plan())
    assert dict(view.quiet) == {"within-ttl": 2, "protected": 1}
    listed = {r.decision.ref.id for o in view.owners for p in o.pipelines for r in p.rows}
    assert listed == {"i-1", "i-2", "vol-1", "i-3", "sg-1", "i-4"}
    # team-c has nothing but a within-ttl resource: no section at all.
    assert [(o.owner, o.listed, o.quiet) for o in view.owners] == [
        ("team-a", 3, 1),
        ("team-b", 2, 1),
        (None, 1, 0),
    ]


def test_kept_resources_with_warnings_are_listed() -> None:
    invalid = decision("i-1", Action.KEEP, (Reason.INVALID_TAG,), warnings=("tag reaper-ttl: bad",))
    quarantined_protected = decision(
        "i-2", Action.KEEP, (Reason.PROTECTED,), warnings=("quarantined; release it",)
    )
    view = build_view(plan_of(invalid, quarantined_protected))
    assert view.listed == 2
    assert not view.quiet


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_resource_held_in_transition_is_listed_with_its_reason(fmt: str) -> None:
    held = decision(
        "i-7",
        Action.KEEP,
        (Reason.IN_TRANSITION,),
        details=("stopping: between two states, decided again on the next sweep",),
    )
    plan = plan_of(held, decision("i-8", Action.KEEP, (Reason.WITHIN_TTL,)))

    view = build_view(plan)
    text = render(fmt, plan, dry_run=True)

    assert dict(view.quiet) == {"within-ttl": 1}
    assert [r.decision.ref.id for o in view.owners for p in o.pipelines for r in p.rows] == ["i-7"]
    assert "in-transition" in text
    assert "i-7" in text


# --- Markdown ----------------------------------------------------------------------------


def test_markdown_lists_owners_and_runs_as_headings() -> None:
    text = render_markdown(mixed_plan())
    headings = re.findall(r"^#{3,4} .*$", text, re.MULTILINE)
    assert headings == [
        "### Owner `team-a` (3 listed, 1 more kept and not listed)",
        "#### Pipeline run `run-1`",
        "#### Pipeline run `run-2`",
        "### Owner `team-b` (2 listed, 1 more kept and not listed)",
        "#### Pipeline run `run-9`",
        "#### Pipeline run `run-10`",
        f"### Owner *\\{NO_OWNER[:-1]}\\)* (1 listed)",
        "#### Pipeline run `run-7`",
    ]
    run_1 = section(text, "#### Pipeline run `run-1`")
    assert "| mark | aws:ebs_volume | `ci/us-east-1` | `vol-1` | `name-vol-1` |" in run_1
    assert "| keep → delete | aws:ec2_instance |" in run_1
    assert "| ttl-expired, in-grace | 1d6h | in 6h |" in run_1
    assert "`i-1`" not in run_1


def test_markdown_says_kept_resources_are_counted_not_listed() -> None:
    text = render_markdown(mixed_plan())
    assert "3 kept resources with nothing pending are counted, not listed" in text
    assert "1 protected, 2 within-ttl" in text
    assert "`i-5`" not in text
    assert "`i-7`" not in text


def test_markdown_marks_overdue_actions() -> None:
    text = render_markdown(mixed_plan())
    assert "| `i-2` | `name-i-2` | ttl-expired | 1d6h | **overdue by 1d6h** |" in text
    assert "**delete**" in text
    assert "**quarantine**" in text


def test_markdown_totals_per_provider_kind_and_reason() -> None:
    text = section(render_markdown(mixed_plan()), "## Totals")
    assert "| Provider | Kind | Reason | delete | quarantine | mark | keep | Total |" in text
    assert "| aws | ec2_instance | ttl-expired | 2 | 0 | 0 | 0 | 2 |" in text
    assert "| aws | ec2_instance | within-ttl | 0 | 0 | 0 | 2 | 2 |" in text
    assert "| aws | security_group | ttl-expired, retry-backoff | 0 | 0 | 0 | 1 | 1 |" in text
    assert "| **all** |  |  | **2** | **1** | **1** | **5** | **9** |" in text


def test_markdown_puts_alarms_first() -> None:
    brake = SafetyLimitExceeded(
        ["3 actions planned, more than max_actions_per_sweep=2"],
        [BrakeCount("aws:ec2_instance", 3, 4)],
    )
    errors = [CollectError("aws:eip", Scope("staging", "eu-west-1"), "AccessDenied")]
    text = render_markdown(mixed_plan(), (), errors, brake)
    order = [
        text.index(h)
        for h in (
            "## Safety brake tripped",
            "## Collect errors: 1 scope not read",
            "## Escalated: 1 resource needs a person",
            "## Totals",
            "## Resources by owner",
        )
    ]
    assert order == sorted(order)
    assert text.splitlines()[2].startswith("**Safety brake tripped: nothing was changed.**")
    assert "- 3 actions planned, more than max\\_actions\\_per\\_sweep=2" not in text
    assert "- 3 actions planned, more than max_actions_per_sweep=2" in text
    assert "| aws:ec2_instance | 3 | 4 | 75% |" in text
    assert "| aws:eip | `staging/eu-west-1` | `AccessDenied` |" in text
    escalated = section(text, "## Escalated")
    assert "| keep → delete | aws:security_group | `ci/us-east-1` | `sg-1` |" in escalated
    assert "| 5 | ttl-expired, retry-backoff | in 2h |" in escalated


def test_markdown_brake_as_plain_reasons() -> None:
    text = render_markdown(plan_of(), brake=["too many"])
    assert "## Safety brake tripped" in text
    assert "- too many" in text


def test_markdown_shows_results_and_outcomes_outside_the_plan() -> None:
    plan = mixed_plan()
    outcomes = [
        Outcome(plan.decisions[0].ref, Action.DELETE, Result.DONE),
        Outcome(plan.decisions[1].ref, Action.DELETE, Result.FAILED, "DependencyViolation"),
        Outcome(ResourceRef("aws", "eip", CI, "eipalloc-9"), Action.DELETE, Result.SKIPPED, "gone"),
    ]
    text = render_markdown(plan, outcomes, dry_run=False)
    assert "Live run" in text
    assert "Results: 1 done, 1 failed, 1 skipped." in text
    assert "| **overdue by 2h** | done |" in text
    assert "| **failed**: `DependencyViolation` |" in text
    unplanned = section(text, "## Outcomes of resources not in the plan")
    assert "| `aws:eip:eipalloc-9` | delete | skipped | `gone` |" in unplanned


def test_markdown_keeps_tag_values_inert() -> None:
    nasty = decision(
        "i-1",
        owner="[click](https://evil.example)",
        run="a|b",
        name="``x` a|b " + EVIL,
        warnings=("tag reaper-ttl: 'https://evil.example' is not a duration",),
    )
    text = render_markdown(plan_of(nasty))
    assert "### Owner `[click](https://evil.example)` (1 listed)" in text
    assert "#### Pipeline run `a\\|b`" in text
    assert "``` ``x` a\\|b <script>alert(1)</script> ```" in text
    assert ": `tag reaper-ttl: 'https://evil.example' is not a duration`" in text
    row = next(line for line in text.splitlines() if "`i-1`" in line)
    assert len(re.findall(r"(?<!\\)\|", row)) == 9  # 8 columns: no extra cell from "a|b"


def test_clean_removes_control_and_bidi_characters() -> None:
    assert clean("ok\u202egnp.exe\x1b[31m\n next") == "ok\ufffdgnp.exe\ufffd[31m next"
    assert clean("x" * 100, 10) == "x" * 9 + "…"


# --- HTML --------------------------------------------------------------------------------


def test_html_chart_has_one_segment_per_provider_kind_and_reason() -> None:
    page = render_html(mixed_plan())
    segments = re.findall(
        r'<rect class="seg" [^>]*data-provider="(\w+)" data-kind="(\w+)" '
        r'data-reason="([\w, -]+)" data-count="(\d+)"',
        page,
    )
    assert sorted(segments) == [
        ("aws", "ebs_volume", "ttl-expired", "1"),
        ("aws", "ec2_instance", "expiry-passed", "1"),
        ("aws", "ec2_instance", "ttl-expired", "2"),
    ]
    assert page.count('<rect class="swatch"') == 2
    assert ">ttl-expired</text>" in page
    assert ">expiry-passed</text>" in page
    assert page.count("<svg") == 1
    assert "<title>aws:ec2_instance ttl-expired: 2</title>" in page


def test_html_sections_and_tables() -> None:
    brake = SafetyLimitExceeded(["over the limit"], [BrakeCount("aws:ec2_instance", 3, 4)])
    errors = [CollectError("aws:eip", CI, "AccessDenied")]
    page = render_html(mixed_plan(), (), errors, brake, dry_run=True)
    ids = re.findall(r'<section[^>]* id="([\w-]+)"', page)
    assert ids == ["brake", "collect-errors", "escalated", "chart", "totals", "resources"]
    assert page.count('<details class="owner" open>') == 3
    assert page.count("<h4>Pipeline run") == 5
    assert "3 kept resources with nothing pending are counted, not listed" in page
    assert '<span class="overdue">overdue by 1d6h</span>' in page
    assert '<span class="badge a-delete">keep → delete</span>' in page
    assert "<em>(no owner tag)</em>" in page


@pytest.mark.parametrize(
    "where",
    ["owner", "run", "name", "warning", "message", "id"],
)
def test_html_escapes_values_from_resources(where: str) -> None:
    values = {
        "owner": {"owner": EVIL},
        "run": {"run": EVIL},
        "name": {"name": EVIL},
        "warning": {"warnings": (EVIL,), "action": Action.KEEP, "reasons": (Reason.INVALID_TAG,)},
        "message": {},
        "id": {},
    }[where]
    d = decision(EVIL if where == "id" else "i-1", **values)  # type: ignore[arg-type]
    outcomes = [Outcome(d.ref, d.action, Result.FAILED, EVIL)] if where == "message" else []
    page = render_html(plan_of(d), outcomes)
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_html_escapes_attribute_breakouts() -> None:
    d = decision("i-1", name='x" onmouseover="alert(1)', kind='k"><svg onload=alert(1)>')
    page = render_html(plan_of(d))
    assert 'onmouseover="' not in page
    assert "<svg onload" not in page
    assert 'data-kind="k&quot;&gt;&lt;svg onload=alert(1)&gt;"' in page


def test_html_is_self_contained() -> None:
    page = render_html(mixed_plan())
    assert "http://" not in page
    assert "https://" not in page
    assert "<link" not in page
    assert "<script" not in page
    assert "<img" not in page
    assert "@import" not in page
    assert "url(" not in page
    assert "src=" not in page
    assert 'http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;' in page
    assert page.startswith("<!doctype html>")


def test_empty_plan_renders() -> None:
    empty = plan_of()
    page = render_html(empty)
    text = render_markdown(empty)
    assert "No candidates: nothing will be deleted" in page
    assert "<svg" not in page
    assert "No resources were seen." in page
    assert "No resources were seen." in text
    assert "Nothing to list" in page
    assert "Nothing to list" in text
    assert "0 resources: 0 delete, 0 quarantine, 0 mark, 0 unmark, 0 keep" in text


def test_html_empty_chart_with_only_kept_resources() -> None:
    page = render_html(plan_of(decision("i-1", Action.KEEP, (Reason.WITHIN_TTL,))))
    assert "No candidates" in page
    assert "1 kept resources with nothing pending are counted" in page


# --- terminal table ----------------------------------------------------------------------

ANSI = "\x1b[2J\x1b[1;1H\x1b[32mall clear\x1b[0m"
BIDI = "invoice\u202egnp.exe"
FORGED_ROW = "x\ndelete  aws:ec2_instance  ci/us-east-1  i-0fake"


def _safe_rows(text: str, rows: int) -> list[str]:
    """The table's lines, checked: header, ``rows`` rows, a blank line, totals; nothing unsafe."""
    lines = text.splitlines()
    assert len(lines) == 1 + rows + 2, lines
    assert lines[-2] == ""
    assert [c for c in text if is_unsafe(c) and c != "\n"] == []
    return lines


@pytest.mark.parametrize("field", ["name", "owner", "id"])
@pytest.mark.parametrize("value", [ANSI, BIDI, FORGED_ROW], ids=["ansi", "bidi", "newline"])
def test_table_shows_tag_values_inert(field: str, value: str) -> None:
    fields: dict[str, Any] = {"name": "web", "owner": "team-a", "id": "i-1", field: value}
    hostile = decision(fields["id"], owner=fields["owner"], name=fields["name"])
    plain = decision("i-2", Action.KEEP, (Reason.WITHIN_TTL,))
    text = render_table(plan_of(hostile, plain), [Outcome(hostile.ref, Action.DELETE, Result.DONE)])
    lines = _safe_rows(text, 2)
    assert lines[1].startswith("delete ")
    assert lines[1].endswith(" done")
    assert lines[2].startswith("keep ")


def test_resources_table_shows_tag_values_inert() -> None:
    resources = [
        Resource(ResourceRef("aws", "ec2_instance", CI, f"i-{n}"), v, None, state=v)
        for n, v in enumerate((ANSI, BIDI, FORGED_ROW))
    ]
    lines = render_resources(resources, NOW).splitlines()
    assert len(lines) == 4
    assert [c for line in lines for c in line if is_unsafe(c)] == []


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(st.characters(exclude_categories=())),
    owner=st.text(st.characters(exclude_categories=())),
    id=st.text(st.characters(exclude_categories=()), min_size=1),
)
def test_no_value_adds_a_line_or_an_unsafe_character_to_the_table(
    name: str, owner: str, id: str
) -> None:
    hostile = decision(id, owner=owner, name=name or "-")
    _safe_rows(render_table(plan_of(hostile, decision(f"{id}-2"))), 2)


# --- one entry point ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_every_format(fmt: str) -> None:
    plan = mixed_plan()
    brake = SafetyLimitExceeded(["over"], [])
    text = render(fmt, plan, dry_run=True, brake=brake, config_sha256="abc")
    marker = {"table": "i-1", "json": '"config_sha256": "abc"', "markdown": "# reaper report"}
    assert marker.get(fmt, "<!doctype html>") in text


def test_render_json_takes_the_brake_error() -> None:
    brake = SafetyLimitExceeded(["over"], [])
    text = render("json", mixed_plan(), brake=brake)
    assert '"reasons": [\n      "over"\n    ]' in text


@pytest.mark.parametrize(
    "plan",
    [plan_of(), plan_of(decision("i-1")), None],
    ids=["no-decisions", "one-decision", "mixed"],
)
def test_render_json_in_pieces_is_the_whole_document(plan: Plan | None) -> None:
    plan = plan or mixed_plan()
    brake = SafetyLimitExceeded(["over"], [])
    pieces = list(render_chunks("json", plan, dry_run=True, brake=brake, config_sha256="c"))
    whole = render_json(plan_to_json(plan, True, (), ["over"], config_sha256="c"))
    assert "".join(pieces) == whole
    assert len(pieces) == len(plan.decisions) + 2


def test_render_unknown_format_names_the_valid_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown format 'pdf' \(valid: table, json, markdown, html\)"
    ):
        render("pdf", mixed_plan())
