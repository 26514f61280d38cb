"""The tamper-evident audit trail: the chain, the record schema, recovery, verification
and one module per sink (file, stdout, S3, GCS); one bucket adapter per cloud
(``s3_bucket``, ``gcs_bucket``), which the bucket sinks and the global brake's stores
share.

Cloud SDKs are imported only by the bucket sinks that need them, and only when configured.
"""

from reaper.audit.chain import GENESIS, AuditLog, AuditSink, ChainHead, record_seq
from reaper.audit.recovery import dangling_intents, find_dangling, read_records
from reaper.audit.verify import VerifyResult, verify_lines

__all__ = [
    "GENESIS",
    "AuditLog",
    "AuditSink",
    "ChainHead",
    "VerifyResult",
    "dangling_intents",
    "find_dangling",
    "read_records",
    "record_seq",
    "verify_lines",
]
