"""The audit record schema: the one module that writes records' fields and reads them back.

Crash recovery matches an intent to its outcome by what a writer put in the record, so
writer and reader must agree field by field; both live here. Pure: no I/O, no clock
(timestamps are passed in).

A resource is written flat, ``{"provider", "kind", "id", "account", "region"}`` (plus
``name`` and ``tags`` in action records), as reaper 0.1.0 wrote it. ``account`` is the
configured name of the scope's account, project or cluster; ``region`` its region or zone,
empty where there is none. :func:`decode_ref` also reads the nested ``scope`` shape of
0.1.0's JSON plans.

Open intents. An intent stays open until an outcome for the same sweep, resource and
action follows it, however many sweeps that takes. Every ``sweep-end`` carries the
intents still open when it was written (``open_intents``, each with ``why``), so whoever
needs them reads the trail back only to the last ``sweep-end``
(:func:`recovery_window`, :class:`OpenIntents`). A ``sweep-end`` without the field was
written by reaper 0.1.0: as 0.1.0 did, the intents of that sweep and of later ones are
read then.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from reaper.model import Decision, Outcome, Resource, ResourceRef, Result, Scope


class Event(StrEnum):
    """What a record is about: its ``event`` field."""

    SWEEP_START = "sweep-start"
    SWEEP_END = "sweep-end"
    DECISION = "decision"
    """A dry-run decision: what would have been done."""
    INTENT = "intent"
    """Written, and durable, before the action it announces."""
    OUTCOME = "outcome"
    """How an announced action ended (written by the same sweep, or by a later recovery)."""
    SKIPPED = "skipped"
    """An action not attempted (pinned-plan items that no longer qualify, a stop)."""
    SAFETY_BRAKE = "safety-brake"
    SHUTDOWN_ABANDONED = "shutdown-abandoned"


class RecordError(ValueError):
    """A record (or a plan item) does not have the fields this schema writes."""


REF_FIELDS = ("provider", "kind", "id", "account", "region")
OPEN_INTENTS = "open_intents"
"""The ``sweep-end`` field listing the intents still open when the sweep ended."""
CARRIED_FIELDS = ("seq", "sweep_id", "ts", "resource", "action", "intended", "reasons", "deadline")
"""What a ``sweep-end`` keeps of each open intent (with ``why``): enough to complete it."""
NO_OUTCOME = "no outcome recorded"
"""``why`` an intent is open when nothing more is known."""


def encode_ref(ref: ResourceRef) -> dict[str, str]:
    """A resource's identity as record fields. Pure; :func:`decode_ref` reads it back."""
    return {
        "provider": ref.provider,
        "kind": ref.kind,
        "id": ref.id,
        "account": ref.scope.account,
        "region": ref.scope.region,
    }


def decode_ref(raw: object) -> ResourceRef:
    """The ResourceRef of record fields written by :func:`encode_ref`. Pure.

    Also reads 0.1.0's plan items, whose account and region sit in a nested ``scope``.
    Raises RecordError naming the first missing or non-text field.
    """
    if not isinstance(raw, Mapping):
        raise RecordError("the resource is not a mapping")
    nested = raw.get("scope")
    where: Mapping[str, Any] = nested if isinstance(nested, Mapping) else raw
    values: dict[str, str] = {}
    for key in REF_FIELDS:
        value = (where if key in ("account", "region") else raw).get(key)
        if not isinstance(value, str):
            raise RecordError(f"resource field {key!r} is missing or not text")
        values[key] = value
    return ResourceRef(
        values["provider"],
        values["kind"],
        Scope(values["account"], values["region"]),
        values["id"],
    )


def encode_resource(resource: Resource, audited_tags: Collection[str]) -> dict[str, Any]:
    """Identity, name and the audited tags of a resource, for action records. Pure."""
    return {
        **encode_ref(resource.ref),
        "name": resource.name,
        "tags": {k: v for k, v in sorted(resource.tags.items()) if k in audited_tags},
    }


@dataclass(frozen=True)
class Writer:
    """Who writes a sweep's records: the same in each of them."""

    sweep_id: str
    tool: str
    """``reaper/<version>``."""
    host: str

    def sweep_record(self, event: Event, ts: datetime, **fields: Any) -> dict[str, Any]:
        """A sweep-level record (start, end, brake). Pure."""
        return {
            "event": str(event),
            "ts": ts.isoformat(),
            "sweep_id": self.sweep_id,
            "actor": {"tool": self.tool, "host": self.host},
            **fields,
        }

    def action_record(
        self,
        event: Event,
        ts: datetime,
        decision: Decision,
        principal: str,
        audited_tags: Collection[str],
        *,
        outcome: Outcome | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """An intent, outcome or dry-run decision record for one resource. Pure."""
        record = self.sweep_record(event, ts)
        record["actor"]["principal"] = principal
        record.update(
            resource=encode_resource(decision.resource, audited_tags),
            action=str(decision.action),
            intended=str(decision.intended) if decision.intended else None,
            reasons=[str(r) for r in decision.reasons],
            deadline=decision.deadline.isoformat() if decision.deadline else None,
            dry_run=dry_run,
        )
        if outcome is not None:
            record.update(result=str(outcome.result), message=outcome.message)
        return record

    def sweep_end_record(
        self,
        ts: datetime,
        open_intents: Sequence[Mapping[str, Any]],
        why: Mapping[tuple[str, ...], str],
        **fields: Any,
    ) -> dict[str, Any]:
        """The ``sweep-end`` record, carrying the intents still open. Pure.

        ``open_intents`` are intent records (or entries carried by an earlier sweep-end);
        ``why`` says, by :func:`action_key`, why each is open (:data:`NO_OUTCOME` when
        not given).
        """
        return self.sweep_record(
            Event.SWEEP_END,
            ts,
            **fields,
            **{
                OPEN_INTENTS: [
                    carried_intent(i, why.get(action_key(i)) or i.get("why") or NO_OUTCOME)
                    for i in open_intents
                ]
            },
        )

    def skipped_record(self, ts: datetime, outcome: Outcome) -> dict[str, Any]:
        """An action that was not attempted, and why. Pure."""
        return self.sweep_record(
            Event.SKIPPED,
            ts,
            resource=encode_ref(outcome.ref),
            action=str(outcome.action),
            result=str(outcome.result),
            message=outcome.message,
        )

    def recovered_record(
        self, ts: datetime, intent: Mapping[str, Any], result: Result, message: str
    ) -> dict[str, Any]:
        """The outcome an interrupted sweep owed for ``intent``, written by this one. Pure.

        It keeps the interrupted sweep's id and the intent's action fields, so that
        :func:`action_key` matches it to the intent; ``recovered_by`` names this sweep.
        """
        record = self.sweep_record(Event.OUTCOME, ts)
        for key in ("sweep_id", "resource", "action", "intended", "reasons", "deadline"):
            if key in intent:
                record[key] = intent[key]
        record.update(
            dry_run=False,
            result=str(result),
            message=message,
            recovered_by=self.sweep_id,
            intent_seq=intent.get("seq"),
        )
        return record


def action_key(record: Mapping[str, Any]) -> tuple[str, ...]:
    """What an intent and its outcome have in common: sweep, resource and action. Pure.

    Tolerant of odd records (missing fields become ``None``), so one bad line cannot
    hide the others' intents.
    """
    resource = record.get("resource")
    if not isinstance(resource, Mapping):
        resource = {}
    ids = ("provider", "kind", "account", "region", "id")
    return (
        str(record.get("sweep_id")),
        *(str(resource.get(k)) for k in ids),
        str(record.get("action")),
    )


@dataclass(frozen=True)
class Intent:
    """An intent record read back: what was about to be done, and where."""

    ref: ResourceRef
    action: str
    sweep_id: str
    seq: int | None
    record: Mapping[str, Any]
    """The record as written, for the outcome that completes it."""


def read_intent(record: Mapping[str, Any]) -> Intent:
    """An intent record as an :class:`Intent`. Pure. Raises RecordError if unreadable."""
    if record.get("event") != Event.INTENT:
        raise RecordError(f"not an intent record: event {record.get('event')!r}")
    action, sweep_id, seq = record.get("action"), record.get("sweep_id"), record.get("seq")
    if not isinstance(action, str) or not isinstance(sweep_id, str):
        raise RecordError("an intent record without its action or sweep_id")
    return Intent(
        decode_ref(record.get("resource")),
        action,
        sweep_id,
        seq if type(seq) is int else None,
        record,
    )


def carried_intent(intent: Mapping[str, Any], why: str) -> dict[str, Any]:
    """An open intent as a ``sweep-end`` carries it: :data:`CARRIED_FIELDS` and ``why``. Pure."""
    entry = {key: intent[key] for key in CARRIED_FIELDS if key in intent}
    entry["why"] = why
    return entry


def _carried(record: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """The entries a ``sweep-end`` carries; None for a 0.1.0 ``sweep-end`` (no field)."""
    entries = record.get(OPEN_INTENTS)
    if not isinstance(entries, list):
        return None
    return [e for e in entries if isinstance(e, Mapping)]


class OpenIntents:
    """The intents of a trail that have no outcome yet, folded record by record. Pure.

    :meth:`apply` each record in trail order: an ``intent`` opens (a repeated one moves
    last), an ``outcome`` for the same :func:`action_key` closes it, and a ``sweep-end``
    that carries ``open_intents`` states what is open from there on. A 0.1.0
    ``sweep-end`` closes nothing but forgets the intents of sweeps that began before that
    sweep, as 0.1.0's recovery did. Consumed by :class:`reaper.audit.AuditLog` (which
    keeps one up to date as it writes), recovery and ``reaper audit verify``.
    """

    def __init__(self) -> None:
        self._open: dict[tuple[str, ...], dict[str, Any]] = {}
        # The order sweeps first appeared in, for a 0.1.0 sweep-end.
        self._began: dict[str, int] = {}

    def apply(self, record: Mapping[str, Any]) -> None:
        """Fold one record in (records without a ``sweep_id`` change nothing)."""
        event, sweep_id = record.get("event"), record.get("sweep_id")
        if not isinstance(sweep_id, str):
            return
        self._began.setdefault(sweep_id, len(self._began))
        if event == Event.INTENT:
            key = action_key(record)
            self._open.pop(key, None)
            self._open[key] = dict(record)
        elif event == Event.OUTCOME:
            self._open.pop(action_key(record), None)
        elif event == Event.SWEEP_END:
            carried = _carried(record)
            if carried is not None:
                self._open = {action_key(e): {**e, "event": str(Event.INTENT)} for e in carried}
                self._began = {sweep_id: 0}
            else:
                self._forget_before(sweep_id)

    def _forget_before(self, sweep_id: str) -> None:
        began = self._began[sweep_id]
        earlier = {s for s, order in self._began.items() if order < began}
        self._open = {k: r for k, r in self._open.items() if r.get("sweep_id") not in earlier}
        self._began = {s: order for s, order in self._began.items() if s not in earlier}

    def intents(self) -> list[dict[str, Any]]:
        """The open intents, oldest first: intent records, or entries a sweep-end carried
        (with ``event`` set back to ``intent`` and their ``why``)."""
        return [dict(r) for r in self._open.values()]

    def __len__(self) -> int:
        return len(self._open)


def recovery_window(newest_first: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records from which the open intents follow, oldest first. Pure.

    ``newest_first`` is the trail read backwards; it is read only up to the last
    ``sweep-end`` carrying ``open_intents``, or, for a 0.1.0 ``sweep-end``, up to the
    ``sweep-start`` of that sweep; all of it when neither is found. Fold the result
    with :class:`OpenIntents`.
    """
    window: list[Mapping[str, Any]] = []
    ended: str | None = None  # the sweep of a 0.1.0 sweep-end: read back to its start
    for record in newest_first:
        window.append(record)
        event = record.get("event")
        if ended is None and event == Event.SWEEP_END:
            if _carried(record) is not None:
                break
            sweep_id = record.get("sweep_id")
            ended = sweep_id if isinstance(sweep_id, str) else None
        elif ended is not None and event == Event.SWEEP_START and record.get("sweep_id") == ended:
            break
    window.reverse()
    return window


@dataclass(frozen=True)
class Unresolved:
    """An intent still without an outcome after a sweep, and why: its action's fate is
    unknown until a later sweep's recovery checks the resource."""

    seq: int | None
    sweep_id: str
    action: str
    ref: ResourceRef | None
    """None when the record does not name a resource this schema can read."""
    why: str

    @classmethod
    def of(cls, intent: Mapping[str, Any], why: str = "") -> Unresolved:
        """From an intent record or a carried entry. Pure."""
        try:
            ref: ResourceRef | None = decode_ref(intent.get("resource"))
        except RecordError:
            ref = None
        seq = intent.get("seq")
        return cls(
            seq if type(seq) is int else None,
            str(intent.get("sweep_id")),
            str(intent.get("action")),
            ref,
            why or str(intent.get("why") or NO_OUTCOME),
        )

    def describe(self) -> str:
        """``seq 7: delete aws:ec2_instance:i-1 in ci/us-east-1 (sweep 5f4e3d2c1b0a): why``."""
        where = f"{self.ref} in {self.ref.scope}" if self.ref else "an unreadable resource"
        return f"seq {self.seq}: {self.action} {where} (sweep {self.sweep_id}): {self.why}"
