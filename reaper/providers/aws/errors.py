"""Turning botocore's errors into reaper's: shared by every AWS module.

Every SDK error a call raises becomes a ProviderError (:func:`translate_errors`), and so
does a reply botocore cannot parse (:func:`guard_parsers`): a collector's error for its
scope, never a crash of the sweep.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError, ResponseParserFactory

from reaper.errors import ProviderError
from reaper.safetext import clean

_MAX_DETAIL = 300
LARGE_REPLY = 256 * 1024
"""Bytes from which a reply is parsed only one at a time in the process (see
:class:`_GuardedParser`): about 50 described instances."""
_LARGE_PARSES = threading.Lock()


class _GuardedParser:
    """One of botocore's response parsers, whose every failure is a ResponseParserError.

    botocore turns malformed XML into ResponseParserError, but lets a well-formed reply
    with a bad value through as whatever its conversion raised (``int("x")``: ValueError;
    an unknown timestamp format; JSON nested past the recursion limit: RecursionError).

    A reply of ``LARGE_REPLY`` bytes or more (a page of hundreds of instances) is parsed
    only while no other such reply is: parsing one builds its whole XML tree and its
    dicts, several times the reply's size, and 32 workers parsing pages of 500 instances
    at once held all of theirs together (the organization benchmark's peak RSS). Parsing
    is CPU work under the interpreter lock, so taking turns costs no time.
    """

    def __init__(self, parser: Any) -> None:
        self._parser = parser

    def parse(self, response: Any, shape: Any) -> Any:
        body = response.get("body") if isinstance(response, dict) else None
        large = isinstance(body, bytes | bytearray) and len(body) >= LARGE_REPLY
        try:
            if large:
                with _LARGE_PARSES:
                    return self._parser.parse(response, shape)
            return self._parser.parse(response, shape)
        except ResponseParserError:
            raise
        except (ValueError, TypeError, LookupError, AttributeError, RecursionError) as err:
            raise ResponseParserError(f"{type(err).__name__}: {err}") from err

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


class _GuardedParserFactory:
    """A session's parser factory, handing out guarded parsers."""

    def __init__(self, factory: ResponseParserFactory) -> None:
        self._factory = factory

    def create_parser(self, protocol_name: str) -> _GuardedParser:
        return _GuardedParser(self._factory.create_parser(protocol_name))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory, name)


def guard_parsers(session: botocore.session.Session) -> None:
    """Make every reply the clients of ``session`` (created from now on) cannot parse a
    ResponseParserError, which :func:`translate_errors` turns into a ProviderError.

    The parser is the client's, not its class's: clients built on a shared class
    (``reaper.providers.aws.clients``) get their own session's guarded parser.
    """
    factory = session.get_component("response_parser_factory")
    if not isinstance(factory, _GuardedParserFactory):
        session.register_component("response_parser_factory", _GuardedParserFactory(factory))


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Turn SDK errors into ProviderError, chained, with the AWS error code kept.

    A reply that cannot be parsed is a ProviderError too (``ResponseParserError`` is not a
    ``BotoCoreError``; see :func:`guard_parsers`), so it is a collector's error for its
    scope, never a crash of the sweep.
    """
    try:
        yield
    except ClientError as err:
        error = err.response.get("Error", {})
        code = error.get("Code", "Unknown")
        raise ProviderError(f"{operation} failed: {code}: {error.get('Message', '')}") from err
    except BotoCoreError as err:
        raise ProviderError(f"{operation} failed: {err}") from err
    except ResponseParserError as err:
        # Its message may quote the reply's body: one line, clipped.
        detail = clean(str(err), _MAX_DETAIL)
        raise ProviderError(f"{operation} failed: unparseable response: {detail}") from err


def error_code(err: BaseException) -> str:
    """The AWS error code of a ProviderError's cause, or empty."""
    cause = err.__cause__
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code", ""))
    return ""


__all__ = ["error_code", "guard_parsers", "translate_errors"]
