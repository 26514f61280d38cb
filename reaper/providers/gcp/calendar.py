"""Pure: the end of standard support of GKE Kubernetes minor versions.

From Google's GKE release schedule ("End of standard support"). After it a version is on
extended support at best and no longer patched by default: reaper treats clusters on it as
unpatched. Overridable in config (``policy.kubernetes_end_of_support``, then
``providers.gcp.kubernetes_end_of_support``), because Google publishes new dates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

GKE_END_OF_STANDARD_SUPPORT: Mapping[str, date] = {
    "1.24": date(2023, 10, 31),
    "1.25": date(2024, 3, 30),
    "1.26": date(2024, 6, 30),
    "1.27": date(2024, 10, 1),
    "1.28": date(2025, 2, 4),
    "1.29": date(2025, 4, 12),
    "1.30": date(2025, 9, 30),
    "1.31": date(2026, 1, 16),
    "1.32": date(2026, 4, 11),
    "1.33": date(2026, 8, 3),
    "1.34": date(2026, 10, 1),
    "1.35": date(2027, 4, 11),
}
