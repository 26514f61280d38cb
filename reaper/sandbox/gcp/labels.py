"""The label rules both services enforce on keys and values.

From the Compute and GKE references: at most 64 labels; keys 1-63 characters, starting
with a lowercase letter; keys and values only lowercase letters, digits, ``_`` and ``-``;
values at most 63 characters and possibly empty. (Both services also accept
international lowercase letters; the fake keeps to ASCII.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_LABELS = 64
_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


def label_problem(labels: Mapping[str, object]) -> str | None:
    """Why ``labels`` would be refused, or None when they are valid. Pure."""
    if len(labels) > MAX_LABELS:
        return f"Labels can contain at most {MAX_LABELS} entries, got {len(labels)}."
    for key, value in labels.items():
        if not _KEY.fullmatch(key):
            return (
                f"Label key '{key}' violates format constraints. The key must start with a "
                "lowercase character, can only contain lowercase letters, numeric characters, "
                "underscores and dashes. The key can be at most 63 characters long."
            )
        if not isinstance(value, str) or not _VALUE.fullmatch(value):
            return (
                f"Label value '{value}' violates format constraints. The value can only contain "
                "lowercase letters, numeric characters, underscores and dashes. The value can be "
                "at most 63 characters long."
            )
    return None
