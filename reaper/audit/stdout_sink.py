"""Audit records on standard output, for a cluster's log collector."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from reaper.errors import AuditError


class StdoutSink:
    """Records as JSON lines on standard output, for a cluster's log collector.

    Never required and cannot continue a chain (``last_line`` is None). ``stream``
    defaults to whatever ``sys.stdout`` is at write time.
    """

    name = "stdout"
    required = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def write(self, lines: Sequence[bytes]) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            stream.write(b"".join(lines).decode())
            stream.flush()
        except (OSError, ValueError) as err:
            raise AuditError(f"cannot write audit records to standard output: {err}") from err

    def last_line(self) -> bytes | None:
        return None

    def read_back(self) -> Iterator[bytes]:
        """Nothing: what was printed cannot be read back."""
        return iter(())

    def close(self) -> None:
        """Leaves the stream open: it is not the sink's."""
