"""Pure: the end of standard support of Amazon EKS Kubernetes versions.

From AWS's published release calendar. After it a version runs on paid extended support and
stops getting patches by default: reaper treats clusters on it as unpatched. Overridable in
config (``policy.kubernetes_end_of_support``, then ``providers.aws.kubernetes_end_of_support``),
because AWS publishes new dates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

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
