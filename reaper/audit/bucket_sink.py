"""What the S3 and GCS sinks share: one object per batch, keys, reading back.

Keys. A batch of records ``first_seq`` to ``last_seq`` is stored as ``{prefix}/
{first_seq:012d}.jsonl``, created only if the key is free (``If-None-Match: *`` on S3,
``if_generation_match=0`` on GCS), never overwritten. Listing the prefix and
concatenating the objects in order of their first seq gives back the file. Trails
written before (keys ``{first_seq:012d}-{last_seq:012d}.jsonl``) are still read, in the
same order.

Why the first seq alone. A key that names the batch's last seq too lets two writers
that continue one chain both succeed (``7-9`` and ``7-8`` are different keys) and fork
it. Keyed by first seq, two writers collide before either stores a record the other
stored, as long as each takes its head from the bucket (or from a copy the bucket is not
ahead of: :class:`~reaper.audit.chain.AuditLog` refuses a local file that is behind it):

* A writer's batches tile its seqs: its first key is ``h + 1`` for its head ``h``, each
  later key is its previous batch's last seq + 1.
* Take the first record two writers V and W both store, and let ``h_W >= h_V`` be their
  heads. W read ``h_W`` as the last seq of some object X. If ``h_V == h_W``, both first
  keys are ``h_W + 1``. If ``h_V < h_W``, V stores seq ``h_W`` too (its batches tile
  everything from ``h_V + 1`` up to the shared record, which is past ``h_W``); had
  another writer stored X, that would be an earlier shared record, so X is V's own and
  V's next key is ``h_W + 1``. Either way both put key ``h_W + 1``, the first seq after
  which they can share anything.
* Create-only puts of one key succeed once: the second writer's put fails with a
  precondition error before it stored anything the first did. The sink then refuses to
  write again (:class:`~reaper.errors.ChainForked`), whatever ``required`` says.

A retried put of the very batch that is already stored (the first try's answer was
lost) is not a collision: the stored body is compared.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence

from reaper.audit.bucket import Bucket
from reaper.audit.chain import record_seq
from reaper.errors import AuditError, ChainForked

# The name of one batch's object under the prefix: its first seq (and, in trails written
# before keys were first seqs alone, its last seq).
_OBJECT = re.compile(r"(\d{12})(?:-(\d{12}))?\.jsonl")

CONTENT_TYPE = "application/x-ndjson"


class BucketSink:
    """What the S3 and GCS sinks share: keys, reading back, no overwrites.

    The bucket (:class:`~reaper.audit.bucket.Bucket`) does the create-only puts, the
    listing and the reading, with its retries and its errors as AuditError; a subclass
    only builds it from its SDK's client.
    """

    def __init__(self, bucket: Bucket, prefix: str, required: bool) -> None:
        self.bucket = bucket.bucket
        self.prefix = prefix.strip("/")
        self.name = f"{bucket.name}/{self.prefix}"
        self.required = required
        self._bucket = bucket
        self._forked: ChainForked | None = None
        # The last object read by ``last_line``, so that reading back starts without a
        # second download of it.
        self._last: tuple[str, bytes] | None = None

    def key(self, first_seq: int) -> str:
        """The object key of the batch whose first record is ``first_seq``."""
        name = f"{first_seq:012d}.jsonl"
        return f"{self.prefix}/{name}" if self.prefix else name

    def write(self, lines: Sequence[bytes]) -> None:
        """Store a batch as a new object; ChainForked if its key holds other records."""
        if self._forked is not None:
            raise self._forked
        if not lines:
            return
        key = self.key(_seq_of(lines[0], self.name))
        body = b"".join(lines)
        if self._bucket.create(key, body, CONTENT_TYPE, what=f"{self.name}: cannot write {key}"):
            return
        # The key is taken: fine if an earlier try of this very batch wrote it.
        if self._get(key) != body:
            self._forked = ChainForked(
                f"{self.name}: {key} already holds other records: another writer "
                "continued this audit chain (two reaper runs on one trail, or a copy "
                "that is behind the bucket); nothing more is written to it"
            )
            raise self._forked

    def last_line(self) -> bytes | None:
        """The last line of the last object in seq order; None when there is none."""
        keys = self._sorted_keys()
        if not keys:
            return None
        body = self._get(keys[-1])
        if not body.endswith(b"\n"):
            raise AuditError(f"{self.name}: {keys[-1]} does not end with a complete record")
        self._last = (keys[-1], body)
        return body[:-1].rsplit(b"\n", 1)[-1]

    def read_lines(self) -> Iterator[bytes]:
        """Every object's lines with their newlines, in seq order, for verification.

        Raises AuditError when there is no object at all, or one cannot be read.
        """
        keys = self._sorted_keys()
        if not keys:
            raise AuditError(f"{self.name}: no audit objects found")
        for key in keys:
            yield from io.BytesIO(self._get(key))

    def read_back(self) -> Iterator[bytes]:
        """The trail's lines without newlines, the last first, object by object.

        Downloads only as many objects as the caller iterates through (the last one
        read by :meth:`last_line` is not downloaded again). Raises AuditError.
        """
        keys = self._sorted_keys()
        for key in reversed(keys):
            if self._last is not None and self._last[0] == key:
                body = self._last[1]
            else:
                body = self._get(key)
            yield from reversed(body.splitlines())

    def close(self) -> None:
        """Nothing to release: the client belongs to the caller."""

    @property
    def _list_prefix(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    def _get(self, key: str) -> bytes:
        """The content of one object. Raises AuditError."""
        return self._bucket.get(key, what=f"{self.name}: cannot read {key}")

    def _first_seq(self, key: str) -> int | None:
        if not key.startswith(self._list_prefix):
            return None
        match = _OBJECT.fullmatch(key.removeprefix(self._list_prefix))
        return int(match.group(1)) if match else None

    def _sorted_keys(self) -> list[str]:
        """The trail's keys in order of their first seq (either key format); other keys
        under the prefix (the global brake's, say) are ignored."""
        listed = self._bucket.keys(
            self._list_prefix, what=f"{self.name}: cannot list the audit objects"
        )
        keys = [k for k in listed if self._first_seq(k) is not None]
        return sorted(keys, key=lambda k: (self._first_seq(k) or 0, k))


def _seq_of(line: bytes, source: str) -> int:
    seq = record_seq(line)
    if seq is None:
        raise AuditError(f"{source}: a line to write is not an audit record with a seq")
    return seq
