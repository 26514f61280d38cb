"""Every Kubernetes manifest under deploy/, checked offline: by the API's OpenAPI schemas
(``kubernetes-validate``, strict: unknown fields are errors), and every kustomization
built with ``kubectl kustomize`` with its output checked the same way.

Used by ``tests/integration/test_manifests.py`` and by ``.ci/run``
(``python tests/manifests.py``: prints each problem, exits 1 if there is one).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from kubernetes_validate.utils import ValidationError

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
KUBERNETES_VERSION = "1.32.0"
"""The API version the manifests must be valid for (kubernetes-validate ships 1.25-1.37)."""
KUSTOMIZE_KINDS = ("Kustomization", "Component")
KUBECTL_TIMEOUT = 60


@dataclass(frozen=True)
class Manifest:
    source: str
    """``deploy/kubernetes/cronjob.yaml`` or ``kubectl kustomize deploy/kubernetes``."""
    index: int
    """Of the document in its YAML stream."""
    body: dict[str, Any]

    def __str__(self) -> str:
        kind = self.body.get("kind", "?")
        name = (self.body.get("metadata") or {}).get("name", "?")
        return f"{self.source}[{self.index}] {kind}/{name}"


def documents(text: str, source: str) -> Iterator[Manifest]:
    """The Kubernetes objects of a YAML stream: documents with an apiVersion and a kind
    that are not kustomize's own (Prometheus rules and the like are not objects)."""
    for index, body in enumerate(yaml.safe_load_all(text)):
        if (
            isinstance(body, dict)
            and "apiVersion" in body
            and "kind" in body
            and body["kind"] not in KUSTOMIZE_KINDS
        ):
            yield Manifest(source, index, body)


def file_manifests(root: Path = DEPLOY) -> list[Manifest]:
    found: list[Manifest] = []
    for path in sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")]):
        found += documents(path.read_text(encoding="utf-8"), str(path.relative_to(root.parent)))
    return found


def kustomizations(root: Path = DEPLOY) -> list[Path]:
    """Every directory under ``root`` that kustomize can build."""
    return sorted(p.parent for p in root.rglob("kustomization.yaml"))


def kubectl() -> str | None:
    return shutil.which("kubectl")


def build(directory: Path, binary: str) -> tuple[list[Manifest], str | None]:
    """``kubectl kustomize DIR``: its objects, or the error it printed."""
    shown = directory.relative_to(DEPLOY.parent) if directory.is_relative_to(DEPLOY) else directory
    source = f"kubectl kustomize {shown}"
    done = subprocess.run(
        [binary, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=KUBECTL_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        return [], f"{source}: {done.stderr.strip() or f'exit {done.returncode}'}"
    return list(documents(done.stdout, source)), None


def problems_of(manifest: Manifest, version: str = KUBERNETES_VERSION) -> list[str]:
    """What the schema of the manifest's kind says is wrong with it (empty: valid)."""
    try:
        kubernetes_validate.validate(manifest.body, version, strict=True)
    except ValidationError as err:
        where = ".".join(str(p) for p in err.absolute_path) or "(top)"
        return [f"{manifest}: {where}: {err.message}"]
    except Exception as err:  # an unknown kind or version: no schema to check against
        return [f"{manifest}: cannot validate: {err}"]
    return []


def check_all(root: Path = DEPLOY) -> tuple[int, list[str]]:
    """(objects checked, problems) for every file and every kustomize build under ``root``."""
    binary = kubectl()
    problems: list[str] = []
    manifests = file_manifests(root)
    if binary is None:
        problems.append("kubectl not found: cannot build the kustomizations")
    else:
        for directory in kustomizations(root):
            built, error = build(directory, binary)
            if error is not None:
                problems.append(error)
            elif not built:
                problems.append(f"kubectl kustomize {directory}: built no objects")
            manifests += built
    for manifest in manifests:
        problems += problems_of(manifest)
    return len(manifests), problems


def main() -> int:
    checked, problems = check_all()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(
        f"manifests: {checked} objects (files and kustomize builds) checked against the "
        f"Kubernetes {KUBERNETES_VERSION} schemas: {len(problems)} problem(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
