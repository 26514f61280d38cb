"""The audit record schema: the one module that writes records' fields and reads them back.

Crash recovery matches an intent to its outcome by what a writer put in the record, so
writer and reader must agree field by field; both live here. Pure: no I/O, no clock
(timestamps are passed in).

A resource is written flat, ``{"provider", "kind", "id", "account", "region"}`` (plus
``name`` and ``tags`` in action records), as reaper 0.1.0 wrote it. ``account`` is the
configured name of the scope's account, project or cluster; ``region`` its region or zone,
empty where there is none. :func:`decode_ref` also reads the nested ``scope`` shape of
0.1.0's JSON plans.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
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
