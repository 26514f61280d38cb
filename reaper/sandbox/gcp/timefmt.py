"""The three timestamp spellings the two APIs use, so every serializer agrees on them.

Compute Engine writes RFC 3339 in US Pacific time with milliseconds
(``2013-12-13T10:43:58.782-08:00``, as in recorded responses); GKE writes a cluster's
``createTime`` with a ``+00:00`` offset and no fraction (``2017-10-24T19:36:21+00:00``)
and an operation's times in UTC with a ``Z`` and a long fraction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _pacific() -> tzinfo:
    """US Pacific time where the tz database is installed, else a fixed PST offset."""
    try:
        return ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=-8))


_PACIFIC = _pacific()


def aware(moment: datetime) -> datetime:
    """``moment`` with a time zone; a naive datetime is taken to be UTC. Pure."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def compute_timestamp(moment: datetime) -> str:
    """A Compute Engine ``creationTimestamp``: Pacific time, milliseconds, offset. Pure."""
    local = aware(moment).astimezone(_PACIFIC)
    return local.isoformat(timespec="milliseconds")


def gke_create_time(moment: datetime) -> str:
    """A GKE cluster ``createTime``: UTC, whole seconds, ``+00:00``. Pure."""
    return aware(moment).astimezone(UTC).isoformat(timespec="seconds")


def gke_operation_time(moment: datetime) -> str:
    """A GKE operation ``startTime``/``endTime``: UTC with a fraction and ``Z``. Pure."""
    return aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
