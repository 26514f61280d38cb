"""The errors of pipeline-run lookups.

:class:`RunLookup <reaper.pipelines.lookup.RunLookup>` never raises these for an API that
fails: an unanswerable question becomes an ``UNKNOWN`` state with a reason. They are raised
for input that cannot be used at all (a tag value that is not a run, a source that is not
``owner/repo``) and, inside the package, for one request that failed (``ApiRequestError``).
Every message is redacted of tokens before the error is built.
"""

from __future__ import annotations

from reaper.errors import ReaperError


class PipelineLookupError(ReaperError):
    """Base class of the errors of :mod:`reaper.pipelines`."""


class InvalidRunTag(PipelineLookupError, ValueError):
    """A tag value does not name a run (``4711``, ``4711-2``) or a source alias."""


class InvalidSource(PipelineLookupError, ValueError):
    """A source's settings cannot be used (a repository that is not ``owner/repo``, ...)."""


class ApiRequestError(PipelineLookupError):
    """One HTTP request did not produce an answer: refused connection, timeout, bad TLS.

    The message is already redacted; the transport error is chained as ``__cause__``.
    """
