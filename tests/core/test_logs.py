"""Logging set-up (text and JSON lines, secrets masked) and the collection progress bar."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reaper.logs import configure_logging, redact
from reaper.progress import Progress, ScopeDone
from reaper.safetext import is_unsafe

# Sample secrets; none of them is real.
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEBYaDHhBTEXAMPLETOKEN1234567890abcdefGHIJ"
SLACK_PATH = "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"

SECRETS = [
    pytest.param(f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET, id="aws-secret-key-field"),
    pytest.param(f"assumed role, secret {AWS_SECRET} cached", AWS_SECRET, id="aws-secret-bare"),
    pytest.param(
        f"{{'AccessKeyId': 'ASIAEXAMPLE', 'SessionToken': '{SESSION_TOKEN}'}}",
        SESSION_TOKEN,
        id="session-token-field",
    ),
    pytest.param(f"env dump {SESSION_TOKEN}", SESSION_TOKEN, id="session-token-bare"),
    pytest.param(
        "headers={'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/x, Signature=f00d'}",
        "Signature=f00d",
        id="authorization-header-repr",
    ),
    pytest.param("Authorization: Bearer abc.def.ghi123", "abc.def.ghi123", id="authorization-line"),
    pytest.param("calling GET /v1/x?token=s3cr3t-value&page=2", "s3cr3t-value", id="token-query"),
    pytest.param("login password=hunter2 user=bob", "hunter2", id="password-field"),
    pytest.param(
        '{"password": "correct horse", "user": "bob"}', "correct horse", id="password-json"
    ),
    pytest.param(
        "git clone https://oauth2:hunter2token@gitlab.example.com/g/r.git",
        "hunter2token",
        id="url-userinfo",
    ),
    pytest.param(
        f"webhook https://hooks.slack.com/services/{SLACK_PATH} returned 500",
        SLACK_PATH,
        id="slack-webhook",
    ),
    pytest.param(
        "https://b.s3.amazonaws.com/k?X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE&X-Amz-Signature=beef",
        "IQoJb3JpZ2luX2VjEXAMPLE",
        id="presigned-url",
    ),
    pytest.param(
        "using ghp_0123456789abcdefghijABCDEFGHIJ012345",
        "ghp_0123456789abcdefghijABCDEFGHIJ012345",
        id="github-token",
    ),
]

HARMLESS = [
    "sweep=3f2a9c1b7d4e dry_run=true resources=12 delete=3 collect_errors=0",
    "config_sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "kind=aws:ec2_instance id=i-0abc1234def567890 owner=team-a",
    'File "/work/main/.venv/lib/python3.11/site-packages/botocore/client.py", line 3',
    "https://github.com/org/repo/pull/12 and max_tokens=5",
]

Configure = Callable[..., io.StringIO]


@pytest.fixture
def configure() -> Iterator[Configure]:
    """``configure(fmt, level="DEBUG")`` -> the stream the root logger now writes to."""
    root = logging.getLogger()
    level = root.level
    installed: list[logging.Handler] = []

    def make(fmt: str, level: str = "DEBUG") -> io.StringIO:
        stream = io.StringIO()
        installed.append(configure_logging(level, fmt, stream))  # type: ignore[arg-type]
        return stream

    yield make
    for handler in installed:
        root.removeHandler(handler)
    root.setLevel(level)


# --- formats -----------------------------------------------------------------------------


def test_text_keeps_the_classic_format(configure: Configure) -> None:
    stream = configure("text")
    logging.getLogger("reaper.app").info("sweep=%s done", "abc")
    line = stream.getvalue()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} level=INFO logger=reaper.app sweep=abc done\n",
        line,
    )


def test_text_appends_extra_fields(configure: Configure) -> None:
    stream = configure("text")
    logging.getLogger("reaper").warning("slow", extra={"kind": "aws:eip", "note": "two words"})
    assert stream.getvalue().rstrip().endswith('slow kind=aws:eip note="two words"')


def test_json_lines_parse_with_every_field(configure: Configure) -> None:
    stream = configure("json")
    log = logging.getLogger("reaper.app")
    log.info("sweep=%s done", "abc", extra={"sweep": "abc", "deleted": 3})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("collect failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first == {
        "ts": first["ts"],
        "level": "INFO",
        "logger": "reaper.app",
        "msg": "sweep=abc done",
        "sweep": "abc",
        "deleted": 3,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert datetime.fromisoformat(first["ts"]).utcoffset() is not None
    assert second["level"] == "ERROR"
    assert second["msg"] == "collect failed"
    assert second["exc_info"].startswith("Traceback (most recent call last):")
    assert second["exc_info"].endswith("RuntimeError: boom")


def test_json_keeps_extras_that_collide_with_its_fields(configure: Configure) -> None:
    stream = configure("json")
    logging.getLogger("reaper").info("x", extra={"ts": "mine", "level": 7})
    document = json.loads(stream.getvalue())
    assert document["extra_ts"] == "mine"
    assert document["extra_level"] == 7
    assert document["level"] == "INFO"


def test_json_serialises_odd_extra_values(configure: Configure) -> None:
    stream = configure("json")
    logging.getLogger("reaper").info("x", extra={"when": datetime(2026, 3, 1), "ids": ("a",)})
    document = json.loads(stream.getvalue())
    assert document["when"] == "2026-03-01 00:00:00"
    assert document["ids"] == "('a',)"


# --- values chosen by whoever tags a resource ----------------------------------------------

FORGED = (
    "team-a\n2026-03-01 12:00:00,000 level=INFO logger=reaper.actuator "
    "action=delete id=i-0123456789abcdef0 result=done"
)
HOSTILE = [
    pytest.param(FORGED, id="newline-forging-a-line"),
    pytest.param("team-a\r2026-03-01 level=INFO result=done", id="carriage-return"),
    pytest.param("team-\x1b[2J\x1b[31mred\x1b[0m", id="ansi-escape"),
    pytest.param("team-\u202eevil\u202c", id="bidi-override"),
    pytest.param("team-\u2066x\u2069\u200f", id="bidi-isolate-and-mark"),
    pytest.param("team-\x9b31m", id="c1-csi"),
    pytest.param("a\u2028b\u2029c\x85d", id="unicode-line-separators"),
    pytest.param("a\x00b\x7fc", id="nul-and-del"),
]


# Any text, lone surrogates included (a byte string decoded with surrogateescape has them).
ANY_TEXT = st.text(st.characters(exclude_categories=()))


def _one_safe_line(output: str) -> str:
    """The single line ``output`` holds, checked to be free of unsafe characters."""
    assert output.endswith("\n")
    line = output[:-1]
    assert "\n" not in line
    assert [c for c in line if is_unsafe(c)] == []
    return line


@pytest.mark.parametrize("value", HOSTILE)
def test_text_log_escapes_what_a_tag_value_holds(configure: Configure, value: str) -> None:
    stream = configure("text")
    # As the sweep logs a tag warning: the value in the message and in an extra field.
    logging.getLogger("reaper.app").warning(
        "kind=aws:ec2_instance id=i-1 owner=%s", value, extra={"owner": value}
    )
    line = _one_safe_line(stream.getvalue())
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} level=WARNING logger=reaper.app ", line)


def test_text_log_writes_escapes_that_say_what_was_there(configure: Configure) -> None:
    stream = configure("text")
    logging.getLogger("reaper").info("owner=%s", "a\nb\x1b[31m\u202e", extra={"tag": "x\ty"})
    line = _one_safe_line(stream.getvalue())
    assert line.endswith('owner=a\\nb\\u001b[31m\\u202e tag="x\\ty"')


@pytest.mark.parametrize("value", HOSTILE)
def test_json_log_escapes_what_a_tag_value_holds(configure: Configure, value: str) -> None:
    stream = configure("json")
    logging.getLogger("reaper.app").warning("owner=%s", value, extra={"owner": value})
    document = json.loads(_one_safe_line(stream.getvalue()))
    # Escaped on the line, whole in the document.
    assert document["msg"] == f"owner={value}"
    assert document["owner"] == value


def test_json_log_keeps_ordinary_unicode_readable(configure: Configure) -> None:
    stream = configure("json")
    logging.getLogger("reaper").info("owner=%s", "Jürgen 東京")
    assert '"msg": "owner=Jürgen 東京"' in stream.getvalue()


def test_a_traceback_adds_only_lines_that_start_with_whitespace(configure: Configure) -> None:
    stream = configure("text")
    try:
        raise ValueError(FORGED)
    except ValueError:
        logging.getLogger("reaper.daemon").exception("job=default sweep failed")
    first, *rest = stream.getvalue().splitlines()
    assert "level=ERROR" in first
    assert rest
    assert all(line[:1].isspace() for line in rest)
    assert not any("level=INFO" in line and not line[:1].isspace() for line in rest)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=ANY_TEXT)
def test_no_value_breaks_a_text_log_line(configure: Configure, value: str) -> None:
    stream = configure("text")
    logging.getLogger("reaper.app").warning("owner=%s", value, extra={"owner": value})
    _one_safe_line(stream.getvalue())


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=ANY_TEXT)
def test_no_value_breaks_a_json_log_line(configure: Configure, value: str) -> None:
    stream = configure("json")
    logging.getLogger("reaper.app").warning("owner=%s", value, extra={"owner": value})
    document = json.loads(_one_safe_line(stream.getvalue()))
    assert document["msg"] == redact(f"owner={value}")


# --- redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_redact_masks_secrets(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert "***" in masked


@pytest.mark.parametrize("text", HARMLESS)
def test_redact_leaves_ordinary_lines_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_both_formats_mask_secrets_everywhere(
    configure: Configure, fmt: str, text: str, secret: str
) -> None:
    stream = configure(fmt)
    log = logging.getLogger("reaper.notify")
    log.warning("as message: " + text.replace("%", "%%"))
    log.warning("as argument: %s", text)
    log.warning("as extra", extra={"detail": text})
    try:
        raise ValueError(text)
    except ValueError:
        log.exception("as exception")
    output = stream.getvalue()
    assert secret not in output
    assert output.count("***") >= 4
    if fmt == "json":
        assert len([json.loads(line) for line in output.splitlines()]) == 4


def test_sdk_loggers_stay_at_warning(configure: Configure) -> None:
    stream = configure("text", level="DEBUG")
    for name in ("botocore", "boto3", "urllib3"):
        assert logging.getLogger(name).level == logging.WARNING
    logging.getLogger("botocore.credentials").info("Found credentials in environment")
    logging.getLogger("botocore.credentials").warning("retrying")
    assert "Found credentials" not in stream.getvalue()
    assert "retrying" in stream.getvalue()


def test_configuring_again_replaces_the_handler(configure: Configure) -> None:
    first = configure("text")
    second = configure("json", level="WARNING")
    logging.getLogger("reaper").warning("once")
    logging.getLogger("reaper").info("filtered")
    assert first.getvalue() == ""
    assert [json.loads(line)["msg"] for line in second.getvalue().splitlines()] == ["once"]


def test_default_stream_is_standard_error_at_emit_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("INFO", "json")
    try:
        logging.getLogger("reaper").info("to whatever stderr is now")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert json.loads(capsys.readouterr().err)["msg"] == "to whatever stderr is now"


def test_unknown_level_and_format_name_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown log level 'LOUD' \(valid: DEBUG, INFO"):
        configure_logging("LOUD", "text")
    with pytest.raises(ValueError, match=r"unknown log format 'xml' \(valid: text, json\)"):
        configure_logging("INFO", "xml")  # type: ignore[arg-type]


# --- progress ----------------------------------------------------------------------------


def test_progress_draws_nothing_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress(3, stream) as progress:
        progress.advance("aws:eip ci/us-east-1")
    assert not progress.enabled
    assert stream.getvalue() == ""
    assert progress.done == 1


def test_progress_redraws_one_line_and_clears_it() -> None:
    stream = io.StringIO()
    progress = Progress(40, stream, enabled=True, width=10)
    for _ in range(11):
        progress.advance("aws:ec2_instance ci/eu-west-1")
    progress.advance("aws:ec2_instance ci/us-east-1")
    assert progress.line() == "collecting [###.......] 12/40 aws:ec2_instance ci/us-east-1"
    drawn = stream.getvalue()
    assert "\n" not in drawn
    assert drawn.count("\r") == 12
    assert drawn.endswith("\rcollecting [###.......] 12/40 aws:ec2_instance ci/us-east-1")
    progress.close()
    progress.close()
    assert stream.getvalue().endswith("\r" + " " * 59 + "\r")
    progress.advance("late")
    assert progress.done == 12


def test_progress_pads_a_shorter_line_over_a_longer_one() -> None:
    stream = io.StringIO()
    progress = Progress(2, stream, enabled=True, width=4)
    progress.advance("a-rather-long-label")
    progress.advance("short")
    last = stream.getvalue().split("\r")[-1]
    assert last == "collecting [####] 2/2 short" + " " * 14


def test_progress_callback_is_the_collect_hook() -> None:
    stream = io.StringIO()
    progress = Progress(1, stream, enabled=True)
    hook: ScopeDone = progress.callback
    hook("aws:eip", "staging/us-west-2")
    assert progress.line().endswith("1/1 aws:eip staging/us-west-2")


def test_progress_counts_every_step_from_many_threads() -> None:
    stream = io.StringIO()
    progress = Progress(400, stream, enabled=True)

    def work(n: int) -> None:
        for i in range(50):
            progress.callback(f"aws:kind{n}", f"ci/r{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert progress.done == 400
    frames = stream.getvalue().split("\r")[1:]
    assert len(frames) == 400
    assert all(
        re.fullmatch(r"collecting \[[#.]{20}\] \d+/400 aws:kind\d ci/r\d+ *", f) for f in frames
    )


def test_log_lines_clear_the_bar_and_redraw_it(configure: Configure) -> None:
    stream = configure("text")
    progress = Progress(2, stream, enabled=True, width=4)
    progress.advance("aws:eip ci/us-east-1")
    logging.getLogger("reaper.app").error("collect failed kind=aws:eip")
    progress.close()
    output = stream.getvalue()
    bar = "collecting [##..] 1/2 aws:eip ci/us-east-1"
    cleared = "\r" + " " * len(bar) + "\r"
    # Drawn, cleared for the log line, redrawn after it, cleared by close().
    drawn, logged, last = output.split(cleared)
    assert drawn == "\r" + bar
    line, redrawn = logged.split("\n")
    assert re.fullmatch(r"\d{4}-.* level=ERROR logger=reaper.app collect failed kind=aws:eip", line)
    assert redrawn == "\r" + bar
    assert last == ""
