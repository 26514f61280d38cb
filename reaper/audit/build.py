"""The audit log a config describes: its sinks, built and opened."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from reaper.audit.chain import AuditLog, AuditSink, ChainHead
from reaper.audit.file_sink import FileSink
from reaper.audit.stdout_sink import StdoutSink
from reaper.config import AuditSettings

if TYPE_CHECKING:
    import boto3

log = logging.getLogger(__name__)


def build_audit_log(
    settings: AuditSettings,
    *,
    aws_session: boto3.Session | None = None,
    s3_endpoint_url: str | None = None,
    gcs_client: Any = None,
    known_head: ChainHead | None = None,
) -> AuditLog:
    """The AuditLog of ``audit:`` in the config: file first, then stdout, S3, GCS.

    The file is locked first (waiting up to ``audit.lock_timeout``), so the chain head is
    read by the only writer. Credentials come from the environment: boto3's default
    chain for S3 (``aws_session`` overrides), Application Default Credentials or
    Workload Identity for GCS (``gcs_client`` overrides; ``STORAGE_EMULATOR_HOST``
    points the client at an emulator). ``known_head``: see :class:`AuditLog`. Raises
    ConfigError when the GCS library is missing, AuditError (AuditLocked,
    ChainHeadUnknown, ...) when a sink cannot be set up or the chain cannot be trusted.
    """
    sinks: list[AuditSink] = []
    try:
        if settings.path is not None:
            sinks.append(
                FileSink(settings.path, lock_timeout=settings.lock_timeout.total_seconds())
            )
        if settings.stdout:
            sinks.append(StdoutSink())
        # Imported only when configured: each pulls in its cloud's SDK.
        if settings.s3 is not None:
            from reaper.audit.s3_sink import s3_sink

            sinks.append(s3_sink(settings.s3, aws_session, s3_endpoint_url))
        if settings.gcs is not None:
            from reaper.audit.gcs_sink import gcs_sink

            sinks.append(gcs_sink(settings.gcs, gcs_client))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    if sinks and all(isinstance(s, StdoutSink) for s in sinks):
        log.warning("the audit trail goes to standard output only: each run starts a new chain")
    return AuditLog(sinks=sinks, known_head=known_head)
