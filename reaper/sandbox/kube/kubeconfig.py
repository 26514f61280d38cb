"""A kubeconfig for one fake cluster. Pure, apart from writing the file.

Written as JSON, which is YAML too: ``kubectl`` and ``kubernetes.config`` both read it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def kubeconfig(
    server: str, *, context: str, namespace: str = "default", token: str | None = None
) -> dict[str, Any]:
    """The kubeconfig document: one cluster, one user, one context, current. Pure."""
    user: dict[str, Any] = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "users": [{"name": context, "user": user}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": context, "namespace": namespace},
            }
        ],
        "current-context": context,
        "preferences": {},
    }


def write_kubeconfig(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` to ``path`` readable by the owner only; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    return path
