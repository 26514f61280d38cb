"""Pure: Kubernetes versions, and looking one up in a provider's support calendar.

The calendars themselves belong to their providers (EKS's in ``reaper.providers.aws``);
a collector reports a cluster's end of support as a fact (``Resource.support_ends``), and
the policy only compares dates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

_VERSION = re.compile(r"^v?(\d{1,3})\.(\d{1,3})(?:\.\d+)?(?:[-+].*)?$")


def parse_version(text: str) -> tuple[int, int]:
    """``1.29``, ``v1.29.3``, ``1.29-eks-abc`` -> (1, 29). Raises ValueError. Pure."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes version (e.g. 1.29)")
    return int(match.group(1)), int(match.group(2))


def end_of_support(version: str, calendar: Mapping[str, date]) -> date | None:
    """The end of standard support of a version, or None if the calendar does not know it
    (or the version cannot be read). Pure."""
    try:
        major, minor = parse_version(version)
    except ValueError:
        return None
    return calendar.get(f"{major}.{minor}")


def merged_calendar(shipped: Mapping[str, date], *overrides: Mapping[str, date]) -> dict[str, date]:
    """A shipped calendar with config overrides applied in order, keyed ``major.minor``. Pure.

    Override keys are normalized (``v1.31`` and ``1.31.0`` both mean ``1.31``).
    """
    merged = dict(shipped)
    for override in overrides:
        for version, ends in override.items():
            major, minor = parse_version(version)
            merged[f"{major}.{minor}"] = ends
    return merged
