"""Slack-compatible webhook notifications: what was just marked, and how a sweep went.

Notifications are best effort. A network or HTTP failure is retried briefly, then logged
and counted (``failed``), never raised: a chat outage must not block a sweep.

The webhook URL is a secret (anyone holding it can post to the channel). It comes from
an environment variable whose *name* is configured, never from the config file; it is
never logged, never shown in ``repr``, and is redacted from error texts and messages.

Reads no clock: ``now`` is passed in, and the retry backoff only sleeps.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reaper import __version__
from reaper.errors import ConfigError
from reaper.model import Action, CollectError, Decision, Outcome, ResourceRef, Result
from reaper.report.text import human
from reaper.safetext import clean, clip

if TYPE_CHECKING:
    from reaper.results import SweepReport

log = logging.getLogger(__name__)

MAX_BLOCK_TEXT = 2900
"""Slack rejects section text of 3000 characters or more; keep a margin."""
MAX_BLOCKS = 50
"""Slack's limit of blocks per message."""
MAX_MARKED = 50
"""Resources listed in one "marked" message; the rest are counted."""
MAX_FAILURES = 20
"""Failed outcomes (and collect errors) listed in one summary; the rest are counted."""
BACKOFF = 0.2
"""Seconds before the first retry; doubled for each further one (0.2 s, 0.4 s, ...)."""
REDACTED = "[redacted]"

_MAX_VALUE = 200
"""Longest name, id or owner shown; longer ones are clipped."""
_MAX_MESSAGE = 500
"""Longest error message shown."""
_NO_OWNER = "no owner"

# Names of environment variables already warned about, so a daemon calling ``from_env``
# every sweep logs the missing variable once per process, not once per sweep.
_warned_env: set[str] = set()
_warned_lock = threading.Lock()


class WebhookNotifier:
    """Posts Slack-compatible messages to one incoming webhook.

    With ``url=None`` the notifier is disabled: every method is a no-op returning True.
    ``sent`` and ``failed`` count messages (not attempts) since construction.
    """

    def __init__(
        self,
        url: str | None,
        timeout: float = 5.0,
        retries: int = 2,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Raise ValueError (which never contains the URL) if ``url`` is not http(s)."""
        if url is not None:
            _check_url(url)
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        if retries < 0:
            raise ValueError(f"retries must be zero or more, got {retries!r}")
        self._url = url
        self._secrets = _secret_forms(url) if url is not None else ()
        self.timeout = timeout
        self.retries = retries
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._lock = threading.Lock()
        self.sent = 0
        """Messages delivered."""
        self.failed = 0
        """Messages given up on after the last retry."""

    @classmethod
    def from_env(
        cls,
        env_var: str | None,
        environ: Mapping[str, str],
        *,
        timeout: float = 5.0,
        retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> WebhookNotifier:
        """The notifier for the URL held by the environment variable named ``env_var``.

        ``env_var=None`` (notifications not configured) gives a disabled notifier silently;
        a variable that is missing or empty gives a disabled notifier and one warning per
        process. A value that is not an http(s) URL raises ConfigError naming the variable
        but not its value.
        """
        if env_var is None:
            return cls(None, timeout, retries, sleep=sleep)
        url = environ.get(env_var, "").strip()
        if not url:
            with _warned_lock:
                first = env_var not in _warned_env
                _warned_env.add(env_var)
            if first:
                log.warning(
                    "notifications disabled: environment variable %s is not set or empty",
                    env_var,
                )
            return cls(None, timeout, retries, sleep=sleep)
        try:
            return cls(url, timeout, retries, sleep=sleep)
        except ValueError as err:
            raise ConfigError([f"environment variable {env_var}: {err}"]) from None

    @property
    def enabled(self) -> bool:
        return self._url is not None

    def __repr__(self) -> str:
        # Never the URL: reprs end up in logs and tracebacks.
        return (
            f"WebhookNotifier(enabled={self.enabled}, timeout={self.timeout}, "
            f"retries={self.retries}, sent={self.sent}, failed={self.failed})"
        )

    def notify_marked(self, decisions: Sequence[Decision], now: datetime) -> bool:
        """Tell owners which resources were just marked, and what will happen to them when.

        Only decisions whose action is ``mark`` are listed; with none, nothing is sent.
        Returns True if the message was delivered (or there was nothing to deliver).
        """
        if not self.enabled:
            return True
        marked = [d for d in decisions if d.action is Action.MARK]
        if not marked:
            return True
        return self._post(render_marked(marked, now), "marked")

    def notify_summary(self, report: SweepReport) -> bool:
        """Post the outcome of a sweep: counts, failures, the safety brake, collect errors."""
        if not self.enabled:
            return True
        return self._post(render_summary(report), "summary")

    # --- delivery -------------------------------------------------------------------------

    def _post(self, payload: Mapping[str, Any], what: str) -> bool:
        assert self._url is not None
        body = json.dumps(self._redact_payload(payload)).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self._url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": f"reaper/{__version__}",
            },
        )
        attempts = 0
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(BACKOFF * 2 ** (attempt - 1))
            attempts += 1
            retryable, error = self._attempt(request)
            if error is None:
                with self._lock:
                    self.sent += 1
                return True
            problem = error
            if not retryable:
                break
        with self._lock:
            self.failed += 1
        log.warning(
            "webhook notification failed message=%s attempts=%d: %s",
            what,
            attempts,
            self.redact(problem),
        )
        return False

    def _attempt(self, request: urllib.request.Request) -> tuple[bool, str | None]:
        """One POST. Returns (retryable, problem); problem is None on success."""
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(1024)
        except urllib.error.HTTPError as err:
            with err:
                detail = _snippet(err)
            retryable = err.code == 429 or err.code >= 500
            return retryable, f"HTTP {err.code}{': ' + detail if detail else ''}"
        except urllib.error.URLError as err:
            return True, f"connection failed: {err.reason}"
        except (OSError, http.client.HTTPException) as err:
            return True, f"connection failed: {type(err).__name__}: {err}"
        return False, None

    # --- redaction ------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with the webhook URL, and its secret path, replaced by ``[redacted]``."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _redact_payload(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self._redact_payload(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact_payload(v) for v in value]
        return value


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would turn the POST into a bodiless GET and report success."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        raise ValueError(
            "the webhook URL cannot be parsed as an http:// or https:// URL (value not shown)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the webhook URL must be an http:// or https:// URL (value not shown)")


def _secret_forms(url: str) -> tuple[str, ...]:
    """The spellings of the URL to redact, longest first: whole, without scheme, path."""
    parts = urlsplit(url)
    forms = {url, url.split("://", 1)[-1]}
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(path) > 1:
        forms.add(path)
    if parts.password:
        forms.add(parts.password)
    forms |= {_esc(form) for form in forms}  # as it appears in rendered message text
    return tuple(sorted(forms, key=len, reverse=True))


def _snippet(err: urllib.error.HTTPError) -> str:
    """The start of an error response body (Slack answers ``invalid_blocks`` and the like)."""
    try:
        raw = err.read(200)
    except (OSError, http.client.HTTPException):
        return ""
    return " ".join(raw.decode("utf-8", "replace").split())[:200]


# --- rendering (pure) ---------------------------------------------------------------------


def render_marked(decisions: Sequence[Decision], now: datetime) -> dict[str, Any]:
    """The Slack payload listing marked resources, grouped by owner. Pure.

    Lists at most ``MAX_MARKED`` resources, owners in alphabetical order with unowned
    resources last; each owner's heading carries that owner's full count.
    """
    ordered = sorted(decisions, key=lambda d: (_owner_key(d), _time_key(d.not_before), d.ref))
    by_owner: dict[str, int] = Counter(_owner(d) for d in ordered)
    shown = ordered[:MAX_MARKED]
    total = len(ordered)
    headline = f"reaper marked {_plural(total, 'resource')} for action"
    lines = [f"*{_esc(headline)}*"]
    current: str | None = None
    for d in shown:
        owner = _owner(d)
        if owner != current:
            current = owner
            lines.append("")
            lines.append(f"*Owner:* {_owner_text(owner)} ({by_owner[owner]})")
        lines.append(_marked_line(d, now))
    if total > len(shown):
        hidden = Counter(_owner(d) for d in ordered[len(shown) :])
        detail = ", ".join(
            f"{_owner_text(o)} {n}" for o, n in sorted(hidden.items(), key=_owner_item)
        )
        lines.append("")
        lines.append(f"… and {total - len(shown)} more ({detail})")
    owners = ", ".join(f"{o} {n}" for o, n in sorted(by_owner.items(), key=_owner_item))
    return _payload(f"{headline}: {owners}", lines)


def _marked_line(d: Decision, now: datetime) -> str:
    r = d.resource
    intended = d.intended
    action = str(intended) if intended is not None else str(Action.DELETE)
    when = _when(d.not_before, now)
    reasons = ", ".join(str(x) for x in d.reasons) or "none given"
    return (
        f"• `{_code(r.ref.kind_key)}` `{_code(r.ref.id)}`{_name_text(r.name)}"
        f" in {_text(str(r.ref.scope))}\n"
        f"      will {_esc(action)} {when} · reasons: {_esc(reasons)}"
    )


def render_summary(report: SweepReport) -> dict[str, Any]:
    """The Slack payload describing one finished sweep. Pure."""
    plan = report.plan
    failed = report.failed
    errors = report.collection.errors
    if report.brake is not None:
        status = "safety brake tripped, nothing was done"
    elif failed or errors:
        status = f"{_plural(len(failed), 'failure')}, {_plural(len(errors), 'collect error')}"
    else:
        status = "ok"
    mode = " (dry run)" if report.dry_run else ""
    headline = f"reaper sweep {report.sweep_id}{mode}: {status}"

    planned = " · ".join(f"{a} {plan.count(a)}" for a in Action)
    lines = [f"*{_esc(headline)}*", f"*Planned* ({len(plan.decisions)} resources): {planned}"]
    lines.append(f"*Results:* {_results(report.outcomes)}")
    if report.collection.skipped:
        lines.append(f"*Unreadable items skipped:* {report.collection.skipped}")

    if report.brake is not None:
        lines.append("")
        lines.append("*Safety brake:*")
        lines.extend(f"• {_text(reason, _MAX_MESSAGE)}" for reason in report.brake.reasons)

    if failed:
        owners = {d.ref: d.resource.owner for d in plan.decisions}
        lines.append("")
        lines.append(f"*Failures* ({len(failed)}):")
        lines.extend(_failure_line(o, owners.get(o.ref)) for o in failed[:MAX_FAILURES])
        if len(failed) > MAX_FAILURES:
            lines.append(f"… and {len(failed) - MAX_FAILURES} more")

    if errors:
        lines.append("")
        lines.append(f"*Collect errors* ({len(errors)}):")
        lines.extend(_error_line(e) for e in errors[:MAX_FAILURES])
        if len(errors) > MAX_FAILURES:
            lines.append(f"… and {len(errors) - MAX_FAILURES} more")

    return _payload(f"{headline}\n{report.summary()}", lines)


def _results(outcomes: Iterable[Outcome]) -> str:
    """``delete: done 2, failed 1 · mark: done 3``, actions in their enum order."""
    counts: dict[Action, Counter[Result]] = defaultdict(Counter)
    for outcome in outcomes:
        counts[outcome.action][outcome.result] += 1
    parts = []
    for action in Action:
        if action in counts:
            results = ", ".join(f"{r} {n}" for r, n in sorted(counts[action].items()))
            parts.append(f"{action}: {results}")
    return " · ".join(parts) or "nothing was attempted"


def _failure_line(outcome: Outcome, owner: str | None) -> str:
    ref: ResourceRef = outcome.ref
    message = _text(outcome.message, _MAX_MESSAGE) or "no message"
    owner_text = _NO_OWNER if not owner else f"`{_code(owner)}`"
    return (
        f"• `{_code(ref.kind_key)}` `{_code(ref.id)}` in {_text(str(ref.scope))}"
        f" ({owner_text}): {outcome.action} failed: {message}"
    )


def _error_line(error: CollectError) -> str:
    message = _text(error.message, _MAX_MESSAGE) or "no message"
    return f"• `{_code(error.kind_key)}` in {_text(str(error.scope))}: {message}"


def _payload(fallback: str, lines: Sequence[str]) -> dict[str, Any]:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in _chunks(lines)
    ]
    if len(blocks) > MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1]
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "… message truncated"}}
        )
    return {"text": _esc(clip(fallback, MAX_BLOCK_TEXT)), "blocks": blocks}


def _chunks(lines: Sequence[str]) -> list[str]:
    """Join lines into texts under ``MAX_BLOCK_TEXT``, breaking only between lines."""
    chunks: list[str] = []
    current = ""
    for raw in lines:
        line = clip(raw, MAX_BLOCK_TEXT)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= MAX_BLOCK_TEXT:
            current = candidate
            continue
        if current.strip():
            chunks.append(current)
        current = line
    if current.strip():
        chunks.append(current)
    return chunks


def _when(not_before: datetime | None, now: datetime) -> str:
    if not_before is None:
        return "at a time not yet set"
    stamp = _iso(not_before)
    if not_before <= now:
        return f"from {stamp} (due now)"
    return f"at {stamp} (in {human(not_before - now)})"


def _iso(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")


def _time_key(moment: datetime | None) -> tuple[int, str]:
    return (1, "") if moment is None else (0, _iso(moment))


def _owner(d: Decision) -> str:
    """The owner as shown (made safe, clipped), or ``no owner``."""
    owner = clean(d.resource.owner, _MAX_VALUE) if d.resource.owner else ""
    return owner or _NO_OWNER


def _owner_text(owner: str) -> str:
    """An owner from :func:`_owner` in mrkdwn: in a code span, where Slack formats nothing."""
    return owner if owner == _NO_OWNER else f"`{_code(owner)}`"


def _name_text(name: str) -> str:
    """A resource's name in mrkdwn, with its leading space; nothing when it has none."""
    code = _code(name)
    return f" `{code}`" if code else ""


def _owner_key(d: Decision) -> tuple[bool, str]:
    return (not d.resource.owner, _owner(d))


def _owner_item(item: tuple[str, int]) -> tuple[bool, str]:
    return (item[0] == _NO_OWNER, item[0])


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _esc(text: str) -> str:
    """Escape Slack's control characters, so a tag value like ``<!channel>`` pings no one."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(text: str, width: int = _MAX_VALUE) -> str:
    """A value for running text: one line, no control or bidi characters, clipped, escaped."""
    return _esc(clean(text, width))


def _code(text: str) -> str:
    """A value for inside backticks, where Slack applies no formatting: one line, no control
    or bidi characters, clipped, escaped, without backticks of its own. Every value from a
    resource (owner, name, id) is shown this way, so its ``*``, ``_`` or ``~`` format nothing.
    """
    return _esc(clean(text, _MAX_VALUE).replace("`", "'"))


__all__ = ["WebhookNotifier", "render_marked", "render_summary"]
