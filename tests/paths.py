"""Where things are, for tests that read the repository's own files."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The repository's root."""
