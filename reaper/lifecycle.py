"""Pure: the lifecycle state reaper keeps on resources themselves, as tags, and its signature.

Marks live on the resource so owners see them in their console and so they survive
restarts without a local database. Values are label-safe (lowercase, digits, dashes,
epoch seconds) so the same scheme works for GCP labels and Kubernetes labels.

Anyone who may tag a resource could write these tags too, so reaper signs them: every tag
whose key starts with ``reaper-`` and is not one of the configured keys people set
(``tags:`` in the config) is *owned* by reaper, and ``reaper-signature`` carries an
HMAC-SHA256, under a key from the environment, of the resource's identity and all its
owned tags. Owned tags that do not verify are not reaper's: the policy ignores them (the
resource counts as unmarked, and is marked afresh), and ``release`` refuses to act on them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from reaper.errors import ConfigError, StateKeyMissing
from reaper.model import ResourceRef

if TYPE_CHECKING:
    from reaper.config import Settings

STATE = "reaper-state"
MARKED_AT = "reaper-marked-at"
ACTION = "reaper-action"
REASON = "reaper-reason"
QUARANTINED_AT = "reaper-quarantined-at"
FAILURES = "reaper-failures"
LAST_FAILURE_AT = "reaper-last-failure-at"
SIGNATURE = "reaper-signature"
"""Reserved for signed lifecycle state, not written yet: reaper's IAM policy already lets
reaper write it, and the example SCP already keeps every other principal from it."""

SIGNATURE = "reaper-signature"
OWNED_PREFIX = "reaper-"
"""Every tag key reaper writes on a resource starts with this (lifecycle and recorded
originals alike); the configured keys people set are excluded from what it owns."""
SIGNATURE_LENGTH = 32
"""Hex characters of the HMAC kept: 128 bits, and within a GCP label value's 63."""
MIN_KEY_LENGTH = 16

MARK_KEYS = (STATE, MARKED_AT, ACTION, REASON)
FAILURE_KEYS = (FAILURES, LAST_FAILURE_AT)
ALL_KEYS = (*MARK_KEYS, QUARANTINED_AT, *FAILURE_KEYS)
RESERVED_KEYS = (SIGNATURE,)
"""Lifecycle keys reaper does not write yet but keeps for itself (IAM policy, SCP)."""
_ANY_KEY = frozenset(ALL_KEYS)

# What reaper writes: ASCII digits only (str.isdigit also takes "²" and other scripts'
# digits, which int() then rejects or reads), and epochs of at most 11 digits (up to the
# year 5138), so adding a grace period or a backoff can never overflow a datetime.
_COUNT = re.compile(r"[0-9]+")
_EPOCH = re.compile(r"[0-9]{1,11}")


class State(StrEnum):
    MARKED = "marked"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class Lifecycle:
    """What reaper's own tags say about a resource."""

    state: State | None = None
    marked_at: datetime | None = None
    action: str | None = None
    """The action announced by the mark (``delete`` or ``quarantine``)."""
    reason: str | None = None
    quarantined_at: datetime | None = None
    failures: int = 0
    last_failure_at: datetime | None = None


_UNTOUCHED = Lifecycle()


class LifecycleTagError(ValueError):
    """One of reaper's own tags has a value reaper did not write."""


def read_lifecycle(tags: Mapping[str, str]) -> Lifecycle:
    """Parse reaper's lifecycle tags. Pure. Raises LifecycleTagError for odd values."""
    if _ANY_KEY.isdisjoint(tags):
        return _UNTOUCHED
    state_value = tags.get(STATE)
    state = None
    if state_value is not None:
        try:
            state = State(state_value)
        except ValueError:
            raise LifecycleTagError(f"tag {STATE}: unknown state {state_value!r}") from None
    failures_value = tags.get(FAILURES, "0")
    if not _COUNT.fullmatch(failures_value):
        raise LifecycleTagError(f"tag {FAILURES}: {failures_value!r} is not a count")
    return Lifecycle(
        state=state,
        marked_at=_epoch(tags, MARKED_AT),
        action=tags.get(ACTION),
        reason=tags.get(REASON),
        quarantined_at=_epoch(tags, QUARANTINED_AT),
        failures=int(failures_value),
        last_failure_at=_epoch(tags, LAST_FAILURE_AT),
    )


def epoch(when: datetime) -> str:
    """A timestamp as a label-safe tag value. Pure."""
    return str(int(when.timestamp()))


def _epoch(tags: Mapping[str, str], key: str) -> datetime | None:
    value = tags.get(key)
    if value is None:
        return None
    if not _EPOCH.fullmatch(value):
        raise LifecycleTagError(f"tag {key}: {value!r} is not epoch seconds")
    return datetime.fromtimestamp(int(value), tz=UTC)


def mark_tags(now: datetime, action: str, reason: str) -> dict[str, str]:
    """The tags that mark a resource as due. Pure."""
    return {STATE: State.MARKED, MARKED_AT: epoch(now), ACTION: action, REASON: reason}


def quarantine_tags(now: datetime, reason: str) -> dict[str, str]:
    """The tags of a quarantined resource. Pure."""
    return {
        STATE: State.QUARANTINED,
        QUARANTINED_AT: epoch(now),
        ACTION: "quarantine",
        REASON: reason,
    }


def quarantined_tags(
    trusted: Mapping[str, str], now: datetime, reason: str
) -> dict[str, str | None]:
    """The updates that record a quarantine whose isolation has been read back. Pure.

    A resource reaper had already quarantined (quarantined again because its isolation
    drifted, or an earlier attempt was cut short) keeps its quarantine time and reason, so
    drift never resets the quarantine TTL. Earlier failed attempts are settled.
    """
    tags: dict[str, str | None] = {**quarantine_tags(now, reason)}
    if trusted.get(STATE) == State.QUARANTINED and QUARANTINED_AT in trusted:
        tags[QUARANTINED_AT] = trusted[QUARANTINED_AT]
        tags[REASON] = trusted.get(REASON, reason)
    tags.update(dict.fromkeys(FAILURE_KEYS))
    return tags


def failure_tags(lifecycle: Lifecycle, now: datetime) -> dict[str, str]:
    """The tags recording one more failed attempt. Pure."""
    return {FAILURES: str(lifecycle.failures + 1), LAST_FAILURE_AT: epoch(now)}


def loose_key(key: str) -> str:
    """A tag key as people misspell it: any case, ``_`` for ``-``, stray spaces. Pure."""
    return key.strip().lower().replace("_", "-")


class StateSigner:
    """Signs and verifies the tags reaper owns on a resource. Pure, given the key.

    ``user_keys`` are the configured tag keys people write (``reaper-pipeline`` and its
    kin): reaper reads them but never owns them, whatever their prefix, and in any of
    their spellings (``reaper-Protect``): a misspelt protect tag still protects, so it must
    never read as reaper's own unsigned state, which reaper ignores and removes. Without a
    key (a dry run with no key in the environment) nothing verifies and nothing can be
    signed.
    """

    def __init__(self, key: bytes | None, user_keys: Collection[str]) -> None:
        if key is not None and len(key) < MIN_KEY_LENGTH:
            raise ValueError(f"the state key must be at least {MIN_KEY_LENGTH} bytes")
        self._key = key
        self._user_keys = frozenset(loose_key(k) for k in user_keys)

    @classmethod
    def from_environ(
        cls, variable: str, environ: Mapping[str, str], user_keys: Collection[str]
    ) -> StateSigner:
        """The signer whose key is in ``environ[variable]`` (none if unset or empty). Pure.

        Raises ValueError for a key shorter than :data:`MIN_KEY_LENGTH`.
        """
        value = environ.get(variable, "")
        return cls(value.encode() if value else None, user_keys)

    @classmethod
    def for_settings(cls, settings: Settings, environ: Mapping[str, str]) -> StateSigner:
        """The signer a config names: its key from ``settings.safety.state_key_env``. Pure."""
        user_keys = settings.tags.model_dump().values()
        variable = settings.safety.state_key_env
        try:
            return cls.from_environ(variable, environ, user_keys)
        except ValueError as err:
            raise ConfigError([f"safety.state_key_env: ${variable}: {err}"]) from None

    @property
    def can_sign(self) -> bool:
        return self._key is not None

    def owned(self, tags: Mapping[str, str]) -> dict[str, str]:
        """The tags reaper owns among ``tags``, the signature itself left out."""
        return {
            k: v
            for k, v in tags.items()
            if k.startswith(OWNED_PREFIX) and loose_key(k) not in self._user_keys and k != SIGNATURE
        }

    def signature(self, ref: ResourceRef, owned: Mapping[str, str]) -> str:
        """The signature of a resource's owned tags. Raises StateKeyMissing without a key."""
        if self._key is None:
            raise StateKeyMissing("no state key: reaper cannot sign its lifecycle tags")
        message = json.dumps(
            [
                ref.provider,
                ref.kind,
                ref.scope.account,
                ref.scope.region,
                ref.id,
                sorted(owned.items()),
            ],
            separators=(",", ":"),
        ).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:SIGNATURE_LENGTH]

    def verify(self, ref: ResourceRef, tags: Mapping[str, str]) -> bool:
        """True when ``tags`` hold no owned tag, or their signature is reaper's."""
        owned = self.owned(tags)
        if not owned:
            return True
        given = tags.get(SIGNATURE)
        if self._key is None or given is None:
            return False
        return hmac.compare_digest(given, self.signature(ref, owned))

    def signed(self, ref: ResourceRef, owned: Mapping[str, str]) -> dict[str, str]:
        """``owned`` with its signature: what to write for the owned tags to be exactly these."""
        return {**owned, SIGNATURE: self.signature(ref, owned)}


@dataclass(frozen=True)
class TagChange:
    """Tags to write and keys to remove on one resource, so its owned tags end up signed."""

    write: Mapping[str, str]
    remove: tuple[str, ...]
    owned: Mapping[str, str] = field(default_factory=dict)
    """The owned tags once the change is written (the signature left out)."""


def change_owned(
    signer: StateSigner,
    ref: ResourceRef,
    trusted: Mapping[str, str],
    current: Mapping[str, str],
    updates: Mapping[str, str | None],
) -> TagChange:
    """How to get from ``current`` owned tags to ``trusted`` ones updated by ``updates``. Pure.

    ``trusted`` are the owned tags reaper verified (at planning, or just now); ``updates``
    sets a key, or removes it with None. Owned tags in ``current`` that are not trusted
    (written by someone else since) are removed, so a signature never covers them. When no
    owned tag is left, the signature goes too.
    """
    after = signer.owned(trusted)
    for key, value in updates.items():
        if value is None:
            after.pop(key, None)
        else:
            after[key] = value
    remove = tuple(sorted(k for k in signer.owned(current) if k not in after))
    if not after:
        return TagChange({}, (*remove, SIGNATURE) if SIGNATURE in current else remove)
    write = {k: v for k, v in signer.signed(ref, after).items() if current.get(k) != v}
    return TagChange(write, remove, after)


class SignedTags:
    """Reaper's own tags on one resource while an action changes them in several writes.

    Pure bookkeeping for the kinds' quarantines, which record the originals, isolate, and
    only then record the state: :meth:`change` says what to write so that the owned tags
    become the trusted ones updated, signed (see :func:`change_owned`); as the provider
    removes and writes, :meth:`removed` and :meth:`written` move what reaper can vouch for
    along. ``trusted`` are the tags verified at planning ({} when they did not verify),
    ``current`` the resource's tags as just read.
    """

    def __init__(
        self,
        signer: StateSigner,
        ref: ResourceRef,
        trusted: Mapping[str, str],
        current: Mapping[str, str],
    ) -> None:
        self._signer = signer
        self._ref = ref
        self._trusted = signer.owned(trusted)
        self._current = dict(current)

    @property
    def trusted(self) -> dict[str, str]:
        """The owned tags reaper vouches for: verified at planning, or written since."""
        return dict(self._trusted)

    @property
    def vouched(self) -> dict[str, str]:
        """The resource's tags with only the owned ones reaper vouches for: what a later
        write (a failure count) starts from, trusting all of it."""
        others = {
            k: v for k, v in self._current.items() if k not in self._signer.owned(self._current)
        }
        return {**others, **self._trusted}

    def reread(self, current: Mapping[str, str]) -> None:
        """The resource's tags as read again (a GCP label write, which replaces them all,
        found them changed since): what the next :meth:`change` starts from. What reaper
        vouches for stays as it was."""
        self._current = dict(current)

    def change(self, updates: Mapping[str, str | None]) -> TagChange:
        """What to write and remove so the owned tags become the trusted ones updated."""
        return change_owned(self._signer, self._ref, self._trusted, self._current, updates)

    def removed(self, change: TagChange) -> None:
        """The keys ``change`` removes are gone from the resource."""
        for key in change.remove:
            self._current.pop(key, None)
            self._trusted.pop(key, None)

    def written(self, change: TagChange) -> None:
        """``change`` is written in full: its owned tags are what reaper vouches for."""
        self._current.update(change.write)
        self._trusted = dict(change.owned)
