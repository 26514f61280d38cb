"""The HTML report opened from disk in a real browser (headless Debian Chromium).

Chromium loads the file through a file:// URL, as an operator who double-clicks it would,
prints the DOM it built and takes a screenshot. The screenshot is kept as a test artifact
in ``test-artifacts/report.png`` (git-ignored) for people to look at.

Skipped only when Chromium is missing on a developer machine; in CI (``CI`` set) a missing
Chromium fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from paths import REPO

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
from reaper.report.html import render_html

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
EVIL = "<script>alert(1)</script>"

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(
        f"{CHROMIUM} is not installed (apt-get install chromium); required when CI is set",
        allow_module_level=True,
    )


def _resource(
    n: int,
    kind: str,
    owner: str | None,
    run: str | None,
    age: timedelta,
    scope: Scope,
    name: str | None = None,
) -> Resource:
    prefix = {"ec2_instance": "i-0", "ebs_volume": "vol-0", "eip": "eipalloc-0"}.get(kind, "sg-0")
    rid = f"{prefix}{n:016x}"
    tags = {"reaper-pipeline": run or "", "reaper-owner": owner or ""}
    return Resource(
        ref=ResourceRef("aws", kind, scope, rid),
        name=name or f"{run or 'manual'}-{kind.split('_')[0]}-{n}",
        created_at=NOW - age,
        tags=tags,
        state="running" if kind == "ec2_instance" else "available",
        pipeline_run=run,
        owner=owner,
    )


def realistic_plan() -> tuple[Plan, list[Outcome]]:
    """About 30 decisions over four owners, five kinds and most reasons; one escalated."""
    decisions: list[Decision] = []
    n = 0

    def add(kind: str, owner: str | None, run: str | None, age: timedelta, **kw: object) -> None:
        nonlocal n
        n += 1
        scope = Scope("staging", "eu-west-1") if n % 4 == 0 else Scope("ci", "us-east-1")
        name = kw.pop("name", None)
        r = _resource(n, kind, owner, run, age, scope, name=name)  # type: ignore[arg-type]
        decisions.append(Decision(resource=r, **kw))  # type: ignore[arg-type]

    for i in range(5):
        add(
            "ec2_instance",
            "team-payments",
            "gitlab-ci-4711",
            (30 + i) * H,
            action=Action.DELETE,
            reasons=(Reason.TTL_EXPIRED,),
            deadline=NOW - (6 + i) * H,
            not_before=NOW - (2 + i) * H,
        )
    for i in range(3):
        add(
            "ebs_volume",
            "team-payments",
            "gitlab-ci-4711",
            (30 + i) * H,
            action=Action.DELETE,
            reasons=(Reason.TTL_EXPIRED,),
            deadline=NOW - 6 * H,
            not_before=NOW - H,
        )
    for i in range(4):
        add(
            "ec2_instance",
            "team-payments",
            "gitlab-ci-4802",
            (26 + i) * H,
            action=Action.MARK,
            reasons=(Reason.TTL_EXPIRED,),
            deadline=NOW - 2 * H,
            not_before=NOW + 24 * H,
            intended=Action.DELETE,
        )
    for i in range(3):
        add(
            "eip",
            "team-search",
            "github-actions-991",
            (50 + i) * H,
            action=Action.DELETE,
            reasons=(Reason.EXPIRY_PASSED,),
            deadline=NOW - 3 * H,
            not_before=NOW - 3 * H,
        )
    add(
        "ec2_instance",
        "team-search",
        "github-actions-991",
        80 * H,
        action=Action.QUARANTINE,
        reasons=(Reason.TTL_EXPIRED,),
        deadline=NOW - 50 * H,
        not_before=NOW - 26 * H,
    )
    add(
        "ec2_instance",
        "team-search",
        "github-actions-1002",
        200 * H,
        action=Action.DELETE,
        reasons=(Reason.QUARANTINE_EXPIRED,),
        deadline=NOW - 20 * H,
        not_before=NOW - 20 * H,
    )
    add(
        "ec2_instance",
        "team-search",
        "github-actions-1002",
        30 * H,
        action=Action.KEEP,
        reasons=(Reason.TTL_EXPIRED, Reason.IN_GRACE),
        deadline=NOW - 6 * H,
        not_before=NOW + 18 * H,
        intended=Action.DELETE,
    )
    add(
        "security_group",
        "alice",
        "jenkins-build-77",
        400 * H,
        action=Action.KEEP,
        reasons=(Reason.TTL_EXPIRED, Reason.RETRY_BACKOFF),
        deadline=NOW - 300 * H,
        not_before=NOW + 2 * H,
        intended=Action.DELETE,
        failures=6,
        escalated=True,
    )
    add(
        "security_group",
        "alice",
        "jenkins-build-77",
        40 * H,
        action=Action.UNMARK,
        reasons=(Reason.PROTECTED,),
    )
    add(
        "ebs_volume",
        "alice",
        "jenkins-build-78",
        10 * H,
        action=Action.KEEP,
        reasons=(Reason.INVALID_TAG,),
        warnings=("tag reaper-ttl: '3 dayz' is not a duration (e.g. 90m, 6h, 3d)",),
    )
    add(
        "ec2_instance",
        None,
        "gitlab-ci-4900",
        28 * H,
        action=Action.DELETE,
        reasons=(Reason.TTL_EXPIRED,),
        deadline=NOW - 4 * H,
        not_before=NOW - 4 * H,
        name=EVIL,
    )
    for i in range(8):
        add(
            "ec2_instance" if i % 2 else "ebs_volume",
            ("team-payments", "team-search", "alice", None)[i % 4],
            f"gitlab-ci-{5000 + i}",
            (2 + i) * H,
            action=Action.KEEP,
            reasons=(Reason.WITHIN_TTL,),
            deadline=NOW + (20 - i) * H,
        )
    plan = Plan(
        created_at=NOW,
        decisions=tuple(decisions),
        population={"aws:ec2_instance": 22, "aws:ebs_volume": 9, "aws:eip": 3},
    )
    outcomes = [
        Outcome(d.ref, d.action, Result.DRY_RUN, "dry run")
        for d in decisions
        if d.action is not Action.KEEP
    ]
    return plan, outcomes


def _chromium(url: str, *args: str, profile: Path) -> subprocess.Popen[str]:
    """Start headless Chromium on ``url`` with a fresh profile and no network features."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",  # needed as root (CI runs as root)
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        url,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Wait (60 s at most) for Chromium; its stdout and stderr. Fails on a non-zero exit."""
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("Chromium did not finish within 60 s")
    assert process.returncode == 0, f"Chromium exited {process.returncode}: {err[-2000:]}"
    return out, err


def _png_facts(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the image data of a PNG.

    The image data is filtered (each byte a difference to a neighbour), so a blank or
    single-colour page decompresses to almost nothing but zeros whatever the filters:
    a handful of distinct values. A rendered report has well over a hundred.
    """
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, header, idat = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height = struct.unpack(">II", header[:8])
    return width, height, len(set(zlib.decompress(idat)))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """The report rendered by Chromium: (DOM, Chromium's stderr, screenshot path)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing and CI is set: install Debian's chromium package")
    tmp = tmp_path_factory.mktemp("browser")
    plan, outcomes = realistic_plan()
    brake = SafetyLimitExceeded(
        ["aws:ec2_instance: 8 of 22 pipeline resources planned (36%), more than max_fraction=0.3"],
        [BrakeCount("aws:ec2_instance", 8, 22), BrakeCount("aws:eip", 3, 3)],
    )
    errors = [
        CollectError("aws:eip", Scope("staging", "us-west-2"), "AccessDenied: not authorized")
    ]
    page = tmp / "report.html"
    page.write_text(render_html(plan, outcomes, errors, brake, dry_run=True), encoding="utf-8")
    shot = tmp / "report.png"
    # Both at once: a screenshot, and the DOM Chromium built.
    taking = _chromium(
        page.as_uri(),
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        profile=tmp / "profile-shot",
    )
    dumping = _chromium(page.as_uri(), "--dump-dom", profile=tmp / "profile-dom")
    _, shot_log = _finish(taking)
    dom, dom_log = _finish(dumping)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report.png")
    (ARTIFACTS / "report.html").write_bytes(page.read_bytes())
    return dom, shot_log + dom_log, shot


def test_dom_has_the_chart_with_one_segment_per_kind_and_reason(
    rendered: tuple[str, str, Path],
) -> None:
    dom, _, _ = rendered
    plan, _ = realistic_plan()
    expected = {
        (d.ref.kind, ", ".join(d.reasons)) for d in plan.decisions if d.action is not Action.KEEP
    }
    assert dom.count("<svg") == 1
    segments = re.findall(r'<rect class="seg"[^>]*data-kind="([^"]+)" data-reason="([^"]+)"', dom)
    assert len(segments) == len(expected) == 5
    assert set(segments) == expected
    assert dom.count('class="swatch"') == len({reason for _, reason in expected})


def test_dom_has_the_tables_and_sections(rendered: tuple[str, str, Path]) -> None:
    dom, _, _ = rendered
    for section in ("brake", "collect-errors", "escalated", "chart", "totals", "resources"):
        assert f'id="{section}"' in dom
    # brake counts, collect errors, escalated, totals, and one table per pipeline run listed
    runs = re.findall(r"<h4>Pipeline run", dom)
    assert len(runs) == 7
    assert len(re.findall(r"<table[ >]", dom)) == 4 + len(runs)
    assert dom.count('<table class="resources">') == len(runs) + 1
    assert dom.count('<details class="owner" open="">') == 4


def test_tag_values_stay_text_in_the_browser(rendered: tuple[str, str, Path]) -> None:
    dom, _, _ = rendered
    assert "<script" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def test_no_console_messages_and_no_network(rendered: tuple[str, str, Path]) -> None:
    _, log, _ = rendered
    console = [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    # A blocked load (Content-Security-Policy) or a script error would show up here.
    assert console == []


def test_screenshot_is_a_real_picture(rendered: tuple[str, str, Path]) -> None:
    _, _, shot = rendered
    assert shot.stat().st_size > 10_000
    width, height, distinct = _png_facts(shot)
    assert (width, height) == (1280, 2000)
    assert distinct > 64, "the screenshot looks blank"
    assert (ARTIFACTS / "report.png").stat().st_size == shot.stat().st_size
