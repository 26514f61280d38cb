"""``reaper audit``: commands on the audit trail.

``reaper audit verify SOURCE`` checks the chain of a trail kept in a file
(``/var/log/reaper.jsonl``), in S3 (``s3://bucket/prefix``) or in GCS
(``gs://bucket/prefix``), the objects of a bucket read in key order. Exit codes: 0 the
chain is intact, 1 it is broken, 2 the source cannot be read.

Credentials and endpoints come from the environment: boto3's chain and
``AWS_ENDPOINT_URL`` for S3, Application Default Credentials and
``STORAGE_EMULATOR_HOST`` for GCS. Runs on its own (``python -m reaper.cli.audit``) or as
a subcommand of ``reaper``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

import click

from reaper.audit import verify_lines
from reaper.audit.file_sink import read_file_lines
from reaper.errors import ConfigError, ReaperError
from reaper.safetext import redact

OK, BROKEN, UNREADABLE = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def audit() -> None:
    """Inspect the audit trail."""


@audit.command()
@click.argument("source")
def verify(source: str) -> None:
    """Check the chain of the trail at SOURCE: a file, s3://BUCKET/PREFIX or gs://BUCKET/PREFIX.

    Prints `ok: N records, chain intact`, or `FAILED:` and the first broken line.
    """
    try:
        result = verify_lines(read_source(source))
    except ConfigError as err:
        _unreadable("; ".join(err.problems))
    except ReaperError as err:
        _unreadable(str(err))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not result.ok:
        click.echo(f"FAILED: {result.problem}")
        raise SystemExit(BROKEN)
    click.echo(f"ok: {result.records} records, chain intact")


def read_source(source: str) -> Iterator[bytes]:
    """The lines of a trail, wherever it is kept. Raises ReaperError when unreadable."""
    scheme, separator, rest = source.partition("://")
    if not separator:
        return read_file_lines(source)
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError([f"{source}: no bucket name"])
    # Imported only when asked for: each pulls in its cloud's SDK.
    if scheme == "s3":
        from reaper.audit.s3_sink import S3Sink, s3_client

        return S3Sink(s3_client(), bucket, prefix).read_lines()
    if scheme == "gs":
        from reaper.audit.gcs_sink import GcsSink, gcs_client

        return GcsSink(gcs_client(), bucket, prefix).read_lines()
    raise ConfigError([f"{source}: unknown scheme {scheme!r} (valid: a file path, s3://, gs://)"])


def _unreadable(reason: str) -> NoReturn:
    click.echo(f"error: {redact(reason)}", err=True)  # the source may carry credentials
    raise SystemExit(UNREADABLE)


def main() -> None:
    audit(prog_name="reaper audit")


if __name__ == "__main__":
    main()
