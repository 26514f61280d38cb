"""One GET with the standard library, answered whatever its status. The package's only I/O.

Why not PyGithub or python-gitlab: reaper needs one request per run, ``If-None-Match`` with
an ETag it keeps across sweeps, the rate-limit headers of every answer (304s included) and
its own decision on waiting; the big clients retry, sleep and cache on their own terms and
hide those headers. Why not ``requests``: it is only installed as a dependency of other
libraries, and two GETs do not need it.

Redirects are followed only within the same scheme, host and port (GitHub answers 301 for a
renamed repository), so a token never travels to another origin.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import Message
from http.client import HTTPMessage
from typing import IO
from urllib.parse import urlsplit

from reaper.pipelines.errors import ApiRequestError
from reaper.pipelines.wire import Answer

MAX_BODY = 1 << 20
"""Bytes read from an answer at most; a run or a pipeline is a few kilobytes."""


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same origin; otherwise the 3xx is the answer."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if _origin(newurl) != _origin(req.full_url):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def build_opener() -> urllib.request.OpenerDirector:
    """An opener that honours the ``HTTPS_PROXY`` / ``NO_PROXY`` environment, as usual."""
    return urllib.request.build_opener(_SameOriginRedirects())


def get(
    opener: urllib.request.OpenerDirector,
    url: str,
    headers: Mapping[str, str],
    *,
    timeout: float,
) -> Answer:
    """GET ``url``; any HTTP status is an :class:`Answer`. No answer at all (refused,
    timed out, broken TLS) raises :class:`ApiRequestError`, whose message names the URL
    (which never holds a token) and not the headers."""
    if _origin(url)[0] not in ("http", "https"):
        raise ApiRequestError(f"GET {url}: only http(s) URLs are asked")
    request = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310 (scheme checked above)
    try:
        with opener.open(request, timeout=timeout) as response:
            return Answer(response.status, _lower(response.headers), response.read(MAX_BODY))
    except urllib.error.HTTPError as err:
        with err:
            body = err.read(MAX_BODY) if err.fp is not None else b""
            return Answer(err.code, _lower(err.headers), body)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise ApiRequestError(f"GET {url}: {type(err).__name__}: {reason}") from err


def _lower(headers: Message | None) -> dict[str, str]:
    return {} if headers is None else {k.lower(): v for k, v in headers.items()}
