"""Turning botocore's errors into reaper's: shared by every AWS module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from reaper.errors import ProviderError


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Turn SDK errors into ProviderError, chained, with the AWS error code kept."""
    try:
        yield
    except ClientError as err:
        error = err.response.get("Error", {})
        code = error.get("Code", "Unknown")
        raise ProviderError(f"{operation} failed: {code}: {error.get('Message', '')}") from err
    except BotoCoreError as err:
        raise ProviderError(f"{operation} failed: {err}") from err


def error_code(err: BaseException) -> str:
    """The AWS error code of a ProviderError's cause, or empty."""
    cause = err.__cause__
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code", ""))
    return ""
