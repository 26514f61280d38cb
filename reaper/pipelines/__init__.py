"""Whether the CI run that created a resource is over: GitHub Actions runs, GitLab pipelines.

A resource names its run with two tags: the run (``4711``, or ``4711-2`` for attempt 2) and
a source alias that the configuration maps to a GitHub repository or a GitLab project.
:class:`RunLookup` asks each distinct run's CI system once per sweep and answers a
:class:`RunStatus` per run: ``ACTIVE``, ``FINISHED`` (with ``finished_at``) or ``UNKNOWN``
(with a reason). The pure parts (:mod:`.model`, :mod:`.sources`, :mod:`.github`,
:mod:`.gitlab`, :mod:`.labels`) do no I/O and read no clock; :mod:`.lookup` and :mod:`.http`
do. :mod:`.facts` is the sweep's step between collect and plan: it looks the runs of the
collected resources up and attaches what is known for the policy (``reaper.run_policy``).
"""

from reaper.pipelines.errors import (
    ApiRequestError,
    InvalidRunTag,
    InvalidSource,
    PipelineLookupError,
)
from reaper.pipelines.lookup import RunLookup
from reaper.pipelines.model import (
    RunRef,
    RunState,
    RunStatus,
    UnknownReason,
    run_ref_from_tags,
)
from reaper.pipelines.results import LookupResult, LookupStats
from reaper.pipelines.sources import GithubSource, GitlabSource, Source

__all__ = [
    "ApiRequestError",
    "GithubSource",
    "GitlabSource",
    "InvalidRunTag",
    "InvalidSource",
    "LookupResult",
    "LookupStats",
    "PipelineLookupError",
    "RunLookup",
    "RunRef",
    "RunState",
    "RunStatus",
    "Source",
    "UnknownReason",
    "run_ref_from_tags",
]
