"""Local fakes of the CI systems' REST endpoints reaper asks about pipeline runs.

Standard library only, and nothing from the rest of reaper, so the demo, the tests and a
developer's shell can all start them:

* :class:`FakeGithub`: ``GET /repos/{owner}/{repo}/actions/runs/{id}[/attempts/{n}]`` with
  GitHub's primary and secondary rate limits and ETags;
* :class:`FakeGitlab`: ``GET /api/v4/projects/{id}/pipelines/{id}`` with GitLab's
  ``RateLimit-*`` headers and 429s;
* :class:`FakeClock`: one manual clock for a fake and the code under test.

Each fake is a ``ThreadingHTTPServer`` on ``127.0.0.1`` and a free port, served from a
background thread; use it as a context manager. Its control methods are thread-safe.
"""

from reaper.sandbox.ci._server import FakeStats, RecordedRequest
from reaper.sandbox.ci.clock import FakeClock
from reaper.sandbox.ci.github import GET_ATTEMPT, GET_RUN, FakeGithub, GithubRateLimit
from reaper.sandbox.ci.gitlab import GET_PIPELINE, FakeGitlab, GitlabRateLimit

__all__ = [
    "GET_ATTEMPT",
    "GET_PIPELINE",
    "GET_RUN",
    "FakeClock",
    "FakeGithub",
    "FakeGitlab",
    "FakeStats",
    "GithubRateLimit",
    "GitlabRateLimit",
    "RecordedRequest",
]
