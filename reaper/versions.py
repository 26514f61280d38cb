"""Pure: Kubernetes versions and the end of their standard support on managed services.

The calendar ships with reaper and is overridable in config
(``policy.kubernetes_end_of_support``), because providers publish new dates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

# End of standard support of Amazon EKS Kubernetes versions, from AWS's published
# release calendar. After it a version runs on paid extended support and stops getting
# patches by default: reaper treats clusters on it as unpatched.
EKS_END_OF_STANDARD_SUPPORT: Mapping[str, date] = {
    "1.23": date(2023, 10, 11),
    "1.24": date(2024, 1, 31),
    "1.25": date(2024, 5, 1),
    "1.26": date(2024, 6, 11),
    "1.27": date(2024, 7, 24),
    "1.28": date(2024, 11, 26),
    "1.29": date(2025, 3, 23),
    "1.30": date(2025, 7, 23),
    "1.31": date(2025, 11, 26),
    "1.32": date(2026, 3, 23),
    "1.33": date(2026, 7, 29),
    "1.34": date(2026, 12, 2),
    "1.35": date(2027, 3, 27),
}

_VERSION = re.compile(r"^v?(\d{1,3})\.(\d{1,3})(?:\.\d+)?(?:[-+].*)?$")


def parse_version(text: str) -> tuple[int, int]:
    """``1.29``, ``v1.29.3``, ``1.29-eks-abc`` -> (1, 29). Raises ValueError. Pure."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes version (e.g. 1.29)")
    return int(match.group(1)), int(match.group(2))


def end_of_support(version: str, calendar: Mapping[str, date]) -> date | None:
    """The end of standard support of a version, or None if the calendar does not know it."""
    major, minor = parse_version(version)
    return calendar.get(f"{major}.{minor}")
