"""Where a source alias points: a GitHub repository or a GitLab project. Pure data.

The real configuration section (pydantic, in ``reaper.config``) builds these; they check
only what the lookup itself relies on, and raise :class:`InvalidSource` otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from reaper.pipelines.errors import InvalidSource
from reaper.pipelines.model import RunRef

GITHUB_API = "https://api.github.com"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GITHUB_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _check_env(token_env: str) -> None:
    if not _ENV_NAME.fullmatch(token_env):
        raise InvalidSource(f"token_env {token_env!r} is not an environment variable name")


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise InvalidSource(f"{what} {url!r} is not an http(s) URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidSource(f"{what} must not carry credentials, a query or a fragment")
    return url.rstrip("/")


@dataclass(frozen=True)
class GithubSource:
    """A GitHub repository whose Actions runs reaper asks about."""

    repository: str
    """``owner/repo``."""
    token_env: str
    """The environment variable holding the token (a PAT, an App installation token or a
    ``GITHUB_TOKEN``) with ``actions: read`` on the repository. The name, never the value."""
    api_url: str | None = None
    """The REST root; None is ``https://api.github.com``. GitHub Enterprise Server:
    ``https://HOST/api/v3``."""

    def __post_init__(self) -> None:
        owner, _, repo = self.repository.partition("/")
        if not (_GITHUB_NAME.fullmatch(owner) and _GITHUB_NAME.fullmatch(repo)):
            raise InvalidSource(f"repository {self.repository!r} is not owner/repo")
        _check_env(self.token_env)
        if self.api_url is not None:
            _check_url(self.api_url, "api_url")

    @property
    def api_root(self) -> str:
        return _check_url(self.api_url, "api_url") if self.api_url else GITHUB_API

    def run_url(self, ref: RunRef) -> str:
        """Pure: the URL of "get a workflow run", or of one attempt when ``ref`` has one."""
        url = f"{self.api_root}/repos/{self.repository}/actions/runs/{ref.run_id}"
        return url if ref.attempt is None else f"{url}/attempts/{ref.attempt}"


@dataclass(frozen=True)
class GitlabSource:
    """A GitLab project whose pipelines reaper asks about."""

    project: str
    """The project's full path, ``group/project`` or ``group/subgroup/project``."""
    url: str
    """The instance, e.g. ``https://gitlab.com`` (the API lives under ``/api/v4``)."""
    token_env: str
    """The environment variable holding a token with ``read_api`` on the project."""

    def __post_init__(self) -> None:
        parts = self.project.split("/")
        if len(parts) < 2 or not all(parts):
            raise InvalidSource(f"project {self.project!r} is not group/project")
        _check_env(self.token_env)
        _check_url(self.url, "url")

    @property
    def api_root(self) -> str:
        return f"{_check_url(self.url, 'url')}/api/v4"

    def pipeline_url(self, ref: RunRef) -> str:
        """Pure: the URL of "get a single pipeline", the project path URL-encoded."""
        return f"{self.api_root}/projects/{quote(self.project, safe='')}/pipelines/{ref.run_id}"


Source = GithubSource | GitlabSource
