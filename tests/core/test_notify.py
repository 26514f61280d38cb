"""Webhook notifications, against a real local HTTP server."""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from reaper import __version__
from reaper.errors import BrakeCount, ConfigError, SafetyLimitExceeded
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
from reaper.notify import MAX_BLOCK_TEXT, WebhookNotifier, render_marked, render_summary
from reaper.results import Collection, SweepReport
from reaper.safetext import is_unsafe

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SCOPE = Scope("prod", "us-east-1")
SECRET_PATH = "/services/T0001/B0002/s3cr3t-t0k3n"


# --- a recording webhook server -------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """All block texts joined, as a reader of the channel would see them."""
        return "\n".join(b["text"]["text"] for b in self.body["blocks"])


@dataclass
class Webhook:
    url: str
    statuses: list[int] = field(default_factory=list)
    """Statuses to answer, in order; 200 once they run out."""
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            with lock:
                hook.received.append(Received(self.path, dict(self.headers), body))
                status = hook.statuses.pop(0) if hook.statuses else 200
            answer = b"ok" if status == 200 else b"server_error"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{SECRET_PATH}"


class Sleeps(list[float]):
    """Records the backoff instead of sleeping, so retry tests stay fast."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def notifier(url: str | None, sleeps: Sleeps | None = None, **kwargs: Any) -> WebhookNotifier:
    return WebhookNotifier(
        url, timeout=2.0, sleep=sleeps if sleeps is not None else Sleeps(), **kwargs
    )


# --- builders ---------------------------------------------------------------------------------


def resource(
    id: str, owner: str | None = None, name: str = "", kind: str = "ec2_instance"
) -> Resource:
    return Resource(
        ref=ResourceRef("aws", kind, SCOPE, id),
        name=name or f"ci-{id}",
        created_at=NOW - timedelta(days=2),
        tags={"reaper-pipeline": "run-1"},
        pipeline_run="run-1",
        owner=owner,
    )


def marked(
    id: str, owner: str | None = None, in_: timedelta = timedelta(hours=1, minutes=30), **kw: Any
) -> Decision:
    return Decision(
        resource(id, owner, **kw),
        Action.MARK,
        (Reason.TTL_EXPIRED,),
        deadline=NOW - timedelta(hours=1),
        not_before=NOW + in_,
    )


@dataclass(frozen=True)
class IntendedDecision(Decision):
    """A Decision from a future model that says what marking leads to."""

    intended: Action = Action.QUARANTINE


def sweep_report(
    outcomes: tuple[Outcome, ...] = (),
    errors: tuple[CollectError, ...] = (),
    brake: SafetyLimitExceeded | None = None,
    dry_run: bool = False,
) -> SweepReport:
    decisions = (
        Decision(resource("i-del1", "team-a"), Action.DELETE, (Reason.TTL_EXPIRED,)),
        Decision(resource("i-del2", "team-b"), Action.DELETE, (Reason.EXPIRY_PASSED,)),
        Decision(resource("i-del3"), Action.DELETE, (Reason.TTL_EXPIRED,)),
        marked("i-mark1", "team-a"),
        Decision(resource("i-keep1"), Action.KEEP, (Reason.WITHIN_TTL,)),
    )
    plan = Plan(created_at=NOW, decisions=decisions, population={"aws:ec2_instance": 5})
    collection = Collection(tuple(d.resource for d in decisions), errors, skipped=2)
    return SweepReport("abc123", plan, collection, dry_run, outcomes, brake)


def ref(id: str) -> ResourceRef:
    return ResourceRef("aws", "ec2_instance", SCOPE, id)


# --- notify_marked ----------------------------------------------------------------------------


def test_marked_lists_resources_grouped_by_owner(webhook: Webhook) -> None:
    n = notifier(webhook.url)
    decisions = [
        marked("i-b1", "team-b", name="web-b"),
        marked("i-none", None, in_=timedelta(minutes=10)),
        marked("i-a1", "team-a", name="db-a"),
        marked("i-a2", "team-a", in_=timedelta(days=1, hours=2)),
        Decision(resource("i-keep"), Action.KEEP, (Reason.WITHIN_TTL,)),
        Decision(resource("i-del"), Action.DELETE, (Reason.TTL_EXPIRED,)),
    ]

    assert n.notify_marked(decisions, NOW) is True

    assert (n.sent, n.failed) == (1, 0)
    [got] = webhook.received
    assert got.path == SECRET_PATH
    assert got.headers["Content-Type"].startswith("application/json")
    assert got.headers["User-Agent"] == f"reaper/{__version__}"
    assert set(got.body) == {"text", "blocks"}
    assert all(b["type"] == "section" and b["text"]["type"] == "mrkdwn" for b in got.body["blocks"])
    text = got.text
    # Only the marked ones, and each owner's resources under its own heading, unowned last.
    assert "i-keep" not in text
    assert "i-del" not in text
    a, b, none = (
        text.index("*Owner:* `team-a` (2)"),
        text.index("*Owner:* `team-b` (1)"),
        text.index("*Owner:* no owner (1)"),
    )
    assert (
        a
        < text.index("i-a1")
        < text.index("i-a2")
        < b
        < text.index("i-b1")
        < none
        < text.index("i-none")
    )
    assert "`aws:ec2_instance` `i-a1` `db-a` in prod/us-east-1" in text
    assert "will delete at 2024-05-01T13:30:00+00:00 (in 1h30m) · reasons: ttl-expired" in text
    assert "(in 1d2h)" in text
    assert "(in 10m)" in text
    assert (
        got.body["text"] == "reaper marked 4 resources for action: team-a 2, team-b 1, no owner 1"
    )


def test_marked_uses_the_intended_action_when_the_decision_has_one(webhook: Webhook) -> None:
    decision = IntendedDecision(
        resource("i-q", "team-a"),
        Action.MARK,
        (Reason.EXPIRY_PASSED,),
        not_before=NOW - timedelta(minutes=5),
        intended=Action.QUARANTINE,
    )
    assert notifier(webhook.url).notify_marked([decision], NOW)
    text = webhook.received[0].text
    assert "will quarantine from 2024-05-01T11:55:00+00:00 (due now)" in text
    assert "reasons: expiry-passed" in text


def test_marked_without_not_before_says_so(webhook: Webhook) -> None:
    decision = Decision(resource("i-x"), Action.MARK, (Reason.TTL_EXPIRED,))
    assert notifier(webhook.url).notify_marked([decision], NOW)
    assert "will delete at a time not yet set" in webhook.received[0].text


def test_marked_caps_the_list_and_keeps_blocks_under_the_slack_limit(webhook: Webhook) -> None:
    long_name = "n" * 250
    decisions = [marked(f"i-{i:03}", f"team-{i % 3}", name=long_name) for i in range(120)]

    assert notifier(webhook.url).notify_marked(decisions, NOW)

    body = webhook.received[0].body
    text = webhook.received[0].text
    assert text.count("• `aws:ec2_instance`") == 50
    # Owners in order: all 40 of team-0, the first 10 of team-1; headings give full counts.
    assert "*Owner:* `team-0` (40)" in text
    assert "*Owner:* `team-1` (40)" in text
    assert "team-2" not in text.split("… and")[0]
    assert "… and 70 more (`team-1` 30, `team-2` 40)" in text
    assert len(body["blocks"]) > 1
    assert all(len(b["text"]["text"]) < 3000 for b in body["blocks"])
    assert all(len(b["text"]["text"]) <= MAX_BLOCK_TEXT for b in body["blocks"])
    assert len(body["text"]) < 3000


def test_marked_escapes_slack_control_sequences(webhook: Webhook) -> None:
    decision = marked("i-`x`", "<!channel>", name="a & <@U123>")
    assert notifier(webhook.url).notify_marked([decision], NOW)
    got = webhook.received[0]
    assert "<!channel>" not in json.dumps(got.body)
    assert "<@U123>" not in got.text
    assert "*Owner:* `&lt;!channel&gt;` (1)" in got.text
    assert "`a &amp; &lt;@U123&gt;`" in got.text
    assert "`i-'x'`" in got.text


FORGED_OWNER = "team-x* (0)\n\n*Owner: team-payments* (1)\n• `aws:ec2_instance` `i-0real`"


def _unsafe(payload: dict[str, Any]) -> list[str]:
    """Unsafe characters anywhere in a payload's texts (line breaks between lines aside)."""
    texts = [payload["text"], *(b["text"]["text"] for b in payload["blocks"])]
    return [c for t in texts for c in t if is_unsafe(c) and c != "\n"]


def test_marked_keeps_newlines_mrkdwn_and_bidi_of_tag_values_inert() -> None:
    decisions = [
        marked("i-1", FORGED_OWNER, name="web\u202egnp.exe\n*urgent*"),
        marked("i-2", "_team_\x1b[31m~b~"),
    ]
    payload = render_marked(decisions, NOW)
    text = "\n".join(b["text"]["text"] for b in payload["blocks"])
    assert _unsafe(payload) == []
    # One heading per owner, each value in a code span where Slack formats nothing.
    assert [line for line in text.splitlines() if line.startswith("*Owner")] == [
        "*Owner:* `_team_\ufffd[31m~b~` (1)",
        "*Owner:* `team-x* (0) *Owner: team-payments* (1) • 'aws:ec2_instance' 'i-0real'` (1)",
    ]
    assert "`i-1` `web\ufffdgnp.exe *urgent*` in prod/us-east-1" in text
    assert "\n" not in payload["text"]


def test_summary_keeps_newlines_and_bidi_of_owners_and_messages_inert() -> None:
    outcomes = (Outcome(ref("i-del2"), Action.DELETE, Result.FAILED, "denied\nforged line\u202e"),)
    errors = (CollectError("aws:ec2_instance", SCOPE, "broken\r\n*bold*\x9b"),)
    report = sweep_report(outcomes, errors)
    decisions = tuple(
        Decision(
            resource(d.ref.id, FORGED_OWNER if d.ref.id == "i-del2" else d.resource.owner),
            d.action,
            d.reasons,
        )
        for d in report.plan.decisions
    )
    plan = Plan(created_at=NOW, decisions=decisions, population=report.plan.population)
    payload = render_summary(SweepReport("abc123", plan, report.collection, False, outcomes))
    text = "\n".join(b["text"]["text"] for b in payload["blocks"])
    assert _unsafe(payload) == []
    (failure,) = [line for line in text.splitlines() if "i-del2" in line]
    assert failure.endswith("delete failed: denied forged line\ufffd")
    assert "`team-x* (0) *Owner: team-payments* (1)" in failure
    assert "• `aws:ec2_instance` in prod/us-east-1: broken *bold*\ufffd" in text


def test_nothing_marked_sends_nothing(webhook: Webhook) -> None:
    n = notifier(webhook.url)
    keep = Decision(resource("i-keep"), Action.KEEP, (Reason.WITHIN_TTL,))
    assert n.notify_marked([keep], NOW) is True
    assert n.notify_marked([], NOW) is True
    assert webhook.received == []
    assert (n.sent, n.failed) == (0, 0)


# --- notify_summary ---------------------------------------------------------------------------


def test_summary_counts_failures_and_collect_errors(webhook: Webhook) -> None:
    outcomes = (
        Outcome(ref("i-del1"), Action.DELETE, Result.DONE),
        Outcome(ref("i-del2"), Action.DELETE, Result.FAILED, "UnauthorizedOperation: denied"),
        Outcome(ref("i-del3"), Action.DELETE, Result.ALREADY_GONE),
        Outcome(ref("i-mark1"), Action.MARK, Result.DONE),
    )
    errors = (CollectError("aws:ec2_instance", Scope("dev", "eu-west-1"), "throttled"),)
    report = sweep_report(outcomes, errors)
    n = notifier(webhook.url)

    assert n.notify_summary(report) is True

    got = webhook.received[0]
    text = got.text
    assert "*reaper sweep abc123: 1 failure, 1 collect error*" in text
    assert "*Planned* (5 resources): keep 1 · unmark 0 · mark 1 · quarantine 0 · delete 3" in text
    assert "*Results:* mark: done 1 · delete: already-gone 1, done 1, failed 1" in text
    assert "*Unreadable items skipped:* 2" in text
    assert "*Failures* (1):" in text
    assert (
        "`i-del2` in prod/us-east-1 (`team-b`): delete failed: UnauthorizedOperation: denied"
        in text
    )
    assert "i-del1`" not in text.split("*Failures*")[1]
    assert "*Collect errors* (1):\n• `aws:ec2_instance` in dev/eu-west-1: throttled" in text
    assert "Safety brake" not in text
    assert got.body["text"].startswith(
        "reaper sweep abc123: 1 failure, 1 collect error\nsweep=abc123"
    )


def test_summary_lists_at_most_20_failures(webhook: Webhook) -> None:
    outcomes = tuple(
        Outcome(ref(f"i-f{i:02}"), Action.DELETE, Result.FAILED, "boom") for i in range(27)
    )
    assert notifier(webhook.url).notify_summary(sweep_report(outcomes))
    text = webhook.received[0].text
    assert "*Failures* (27):" in text
    assert text.count("delete failed: boom") == 20
    assert "… and 7 more" in text
    assert "(no owner): delete failed" in text


def test_summary_reports_the_safety_brake(webhook: Webhook) -> None:
    brake = SafetyLimitExceeded(
        ["3 actions planned, more than max_actions_per_sweep=2"],
        [BrakeCount("aws:ec2_instance", 3, 5)],
    )
    assert notifier(webhook.url).notify_summary(sweep_report(brake=brake, dry_run=True))
    text = webhook.received[0].text
    assert "*reaper sweep abc123 (dry run): safety brake tripped, nothing was done*" in text
    assert "*Safety brake:*\n• 3 actions planned, more than max_actions_per_sweep=2" in text
    assert "*Results:* nothing was attempted" in text


def test_the_webhook_url_is_redacted_from_the_message(webhook: Webhook) -> None:
    errors = (CollectError("aws:ec2_instance", SCOPE, f"proxy refused {webhook.url}"),)
    assert notifier(webhook.url).notify_summary(sweep_report(errors=errors))
    raw = json.dumps(webhook.received[0].body)
    assert webhook.url not in raw
    assert SECRET_PATH not in raw
    assert "proxy refused [redacted]" in webhook.received[0].text


# --- delivery: retries and failures -----------------------------------------------------------


def test_retries_server_errors_then_succeeds(webhook: Webhook) -> None:
    webhook.statuses = [500, 503]
    sleeps = Sleeps()
    n = notifier(webhook.url, sleeps)

    assert n.notify_marked([marked("i-1")], NOW) is True

    assert len(webhook.received) == 3
    assert webhook.received[0].body == webhook.received[2].body
    assert sleeps == [0.2, 0.4]
    assert (n.sent, n.failed) == (1, 0)


def test_retries_rate_limiting(webhook: Webhook) -> None:
    webhook.statuses = [429]
    n = notifier(webhook.url)
    assert n.notify_marked([marked("i-1")], NOW) is True
    assert len(webhook.received) == 2
    assert (n.sent, n.failed) == (1, 0)


def test_gives_up_on_a_server_that_keeps_failing(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.statuses = [500] * 10
    sleeps = Sleeps()
    n = notifier(webhook.url, sleeps)

    with caplog.at_level(logging.WARNING, logger="reaper.notify"):
        assert n.notify_summary(sweep_report()) is False

    assert len(webhook.received) == 3
    assert sleeps == [0.2, 0.4]
    assert (n.sent, n.failed) == (0, 1)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "attempts=3: HTTP 500: server_error" in record.getMessage()
    assert webhook.url not in caplog.text
    assert SECRET_PATH not in caplog.text


def test_does_not_retry_client_errors(webhook: Webhook) -> None:
    webhook.statuses = [400]
    sleeps = Sleeps()
    n = notifier(webhook.url, sleeps)
    assert n.notify_marked([marked("i-1")], NOW) is False
    assert len(webhook.received) == 1
    assert sleeps == []
    assert (n.sent, n.failed) == (0, 1)


def test_a_closed_port_fails_quietly(
    closed_port_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps = Sleeps()
    n = notifier(closed_port_url, sleeps)

    with caplog.at_level(logging.WARNING, logger="reaper.notify"):
        assert n.notify_marked([marked("i-1")], NOW) is False
        assert n.notify_summary(sweep_report()) is False

    assert (n.sent, n.failed) == (0, 2)
    assert sleeps == [0.2, 0.4, 0.2, 0.4]
    assert len(caplog.records) == 2
    assert "connection failed" in caplog.records[0].getMessage()
    assert closed_port_url not in caplog.text
    assert SECRET_PATH not in caplog.text
    assert closed_port_url not in repr(n)


def test_the_url_is_redacted_from_exception_text(
    closed_port_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(self: object, request: urllib.request.Request, *args: Any, **kwargs: Any) -> Any:
        raise urllib.error.URLError(f"cannot reach {request.full_url} via proxy")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", fail)
    n = notifier(closed_port_url, retries=0)

    with caplog.at_level(logging.WARNING, logger="reaper.notify"):
        assert n.notify_marked([marked("i-1")], NOW) is False

    assert "cannot reach [redacted] via proxy" in caplog.text
    assert SECRET_PATH not in caplog.text


def test_a_disabled_notifier_does_nothing() -> None:
    n = WebhookNotifier(None)
    assert not n.enabled
    assert n.notify_marked([marked("i-1")], NOW) is True
    assert n.notify_summary(sweep_report()) is True
    assert (n.sent, n.failed) == (0, 0)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://hooks.example.com/x", id="not-http"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("hooks.example.com/services/x", id="no-scheme"),
        pytest.param("http://hooks.example.com:port/x", id="bad-port"),
    ],
)
def test_rejects_urls_that_are_not_http(url: str) -> None:
    with pytest.raises(ValueError, match="http") as err:
        WebhookNotifier(url)
    assert url not in str(err.value)


# --- from_env ---------------------------------------------------------------------------------


def test_from_env_reads_the_named_variable(webhook: Webhook) -> None:
    n = WebhookNotifier.from_env("REAPER_TEST_HOOK_SET", {"REAPER_TEST_HOOK_SET": webhook.url})
    assert n.enabled
    assert n.notify_marked([marked("i-1")], NOW)
    assert len(webhook.received) == 1


@pytest.mark.parametrize("value", [pytest.param(None, id="unset"), pytest.param(" ", id="empty")])
def test_from_env_without_a_value_is_disabled_and_warns_once(
    value: str | None, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    # A name no other test has warned about: the warning is once per process.
    var = f"REAPER_TEST_HOOK_{'UNSET' if value is None else 'EMPTY'}"
    environ = {} if value is None else {var: value}
    with caplog.at_level(logging.WARNING, logger="reaper.notify"):
        first = WebhookNotifier.from_env(var, environ)
        second = WebhookNotifier.from_env(var, environ)

    assert not first.enabled
    assert not second.enabled
    assert first.notify_marked([marked("i-1")], NOW) is True
    assert first.notify_summary(sweep_report()) is True
    assert webhook.received == []
    [record] = caplog.records
    assert f"environment variable {var} is not set or empty" in record.getMessage()


def test_from_env_not_configured_is_disabled_silently(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="reaper.notify"):
        n = WebhookNotifier.from_env(None, {"ANYTHING": "http://example.com/x"})
    assert not n.enabled
    assert caplog.records == []


def test_from_env_with_a_bad_url_is_a_config_error() -> None:
    secret = "hooks.example.com/services/s3cr3t"
    with pytest.raises(ConfigError, match="environment variable REAPER_TEST_HOOK_BAD") as err:
        WebhookNotifier.from_env("REAPER_TEST_HOOK_BAD", {"REAPER_TEST_HOOK_BAD": secret})
    assert secret not in str(err.value)
