"""The labels a resource should carry for the current CI run, and their renderings. Pure.

Read from the CI system's own environment, as a job sees it:

* GitHub Actions (``GITHUB_ACTIONS=true``): ``GITHUB_RUN_ID``, ``GITHUB_RUN_ATTEMPT`` and
  ``GITHUB_REPOSITORY`` (``GITHUB_API_URL`` tells github.com from an Enterprise Server);
* GitLab CI (``GITLAB_CI=true``): ``CI_PIPELINE_ID`` and ``CI_PROJECT_PATH``
  (``CI_SERVER_URL`` tells instances apart).

The repository or project is mapped to its source alias through ``pipelines.sources``
(``acme/web-app`` is no label value, the alias is). The run is tagged with its attempt on
GitHub (``4711-2``): a re-run attempt is a new set of resources, and the resources of an
attempt that finished are litter even while a later attempt runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from reaper.config import PipelineSettings, TagKeys
from reaper.durations import parse_duration
from reaper.pipelines.errors import PipelineLookupError
from reaper.pipelines.model import LABEL_VALUE, RunRef
from reaper.pipelines.sources import GITHUB_API

FORMATS = ("json", "key-value", "terraform", "kubectl", "gcloud")
"""``json``: an object; ``key-value``: ``key=value`` lines; ``terraform``: a tfvars line
``reaper_labels = {...}`` for ``default_tags``/``default_labels``/``labels``; ``kubectl`` and
``gcloud``: their ``--labels=k=v,...`` argument."""
TERRAFORM_VARIABLE = "reaper_labels"


class LabelsError(PipelineLookupError):
    """The environment or the options do not give the labels of a run."""


@dataclass(frozen=True)
class CiRun:
    """The run a CI job belongs to, as its environment says."""

    system: str
    """``github`` or ``gitlab``."""
    project: str
    """``owner/repo`` or ``group/project``."""
    run_value: str
    """The pipeline tag's value: ``4711-2`` (GitHub, with the attempt) or ``90210``."""
    server: str | None = None
    """The API (GitHub) or instance (GitLab) URL the environment names, if any."""


def ci_run(environ: Mapping[str, str]) -> CiRun:
    """The current run from a CI job's environment. Pure. Raises LabelsError."""
    if environ.get("GITHUB_ACTIONS") == "true" or "GITHUB_RUN_ID" in environ:
        run_id, repository = _need(environ, "GITHUB_RUN_ID", "GITHUB_REPOSITORY")
        attempt = environ.get("GITHUB_RUN_ATTEMPT", "").strip()
        value = f"{run_id}-{attempt}" if attempt else run_id
        return CiRun("github", repository, value, environ.get("GITHUB_API_URL") or None)
    if environ.get("GITLAB_CI") == "true" or "CI_PIPELINE_ID" in environ:
        pipeline_id, project = _need(environ, "CI_PIPELINE_ID", "CI_PROJECT_PATH")
        return CiRun("gitlab", project, pipeline_id, environ.get("CI_SERVER_URL") or None)
    raise LabelsError(
        "not in a GitHub Actions or GitLab CI job: neither GITHUB_RUN_ID nor CI_PIPELINE_ID is set"
    )


def _need(environ: Mapping[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not environ.get(n, "").strip()]
    if missing:
        raise LabelsError(f"the CI environment lacks {', '.join(missing)}")
    return [environ[n].strip() for n in names]


def source_alias(run: CiRun, settings: PipelineSettings) -> str:
    """The alias under ``pipelines.sources`` that points at the run's repository or
    project (on the same server, when both say which). Pure. Raises LabelsError."""
    matches = []
    for alias, source in settings.sources.items():
        if run.system == "github" and source.github is not None:
            same = source.github.repository.lower() == run.project.lower()
            api = source.github.api_url or GITHUB_API
            if same and (run.server is None or _same_url(api, run.server)):
                matches.append(alias)
        elif run.system == "gitlab" and source.gitlab is not None:
            same = source.gitlab.project.lower() == run.project.lower()
            if same and (run.server is None or _same_url(source.gitlab.url, run.server)):
                matches.append(alias)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        configured = ", ".join(sorted(settings.sources)) or "none"
        raise LabelsError(
            f"no source under pipelines.sources points at the {run.system} "
            f"{'repository' if run.system == 'github' else 'project'} {run.project} "
            f"(configured: {configured}); add one, or name it with --source"
        )
    raise LabelsError(f"{run.project} is configured as {', '.join(matches)}; choose with --source")


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def run_labels(
    run_value: str,
    alias: str,
    tags: TagKeys,
    *,
    owner: str | None = None,
    ttl: str | None = None,
) -> dict[str, str]:
    """The labels: the run, its source alias, and the owner and TTL when given. Pure.

    Every value is checked to be a label value GCP and Kubernetes accept, and the TTL to be
    a duration reaper reads. Raises LabelsError.
    """
    try:
        run = RunRef.parse(alias, run_value)
    except ValueError as err:
        raise LabelsError(str(err)) from None
    labels = {tags.pipeline: run.tag_value, tags.ci_source: run.source_alias}
    if owner is not None:
        if not LABEL_VALUE.fullmatch(owner):
            raise LabelsError(
                f"owner {owner!r} is not a label value (lower-case letters, digits, '_' and "
                "'-', at most 63, starting and ending with a letter or digit)"
            )
        labels[tags.owner] = owner
    if ttl is not None:
        try:
            parse_duration(ttl)
        except ValueError as err:
            raise LabelsError(f"ttl: {err}") from None
        if not LABEL_VALUE.fullmatch(ttl):
            raise LabelsError(f"ttl {ttl!r} is not a label value (write it in lower case)")
        labels[tags.ttl] = ttl
    return labels


def render_labels(labels: Mapping[str, str], fmt: str) -> str:
    """The labels in one of :data:`FORMATS`, ending in a newline. Pure.

    Keys and values are label values (checked by :func:`run_labels`), so the ``kubectl``
    and ``gcloud`` argument is one shell word and needs no quoting.
    """
    if fmt == "json":
        return json.dumps(dict(labels), indent=2) + "\n"
    if fmt == "key-value":
        return "".join(f"{k}={v}\n" for k, v in labels.items())
    if fmt == "terraform":
        width = max((len(k) for k in labels), default=0) + 2
        lines = [f"  {json.dumps(k):<{width}} = {json.dumps(v)}" for k, v in labels.items()]
        return f"{TERRAFORM_VARIABLE} = {{\n" + "\n".join(lines) + "\n}\n"
    if fmt in ("kubectl", "gcloud"):
        return "--labels=" + ",".join(f"{k}={v}" for k, v in labels.items()) + "\n"
    raise LabelsError(f"unknown format {fmt!r} (valid: {', '.join(FORMATS)})")
