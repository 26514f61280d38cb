"""Fixtures of the Kubernetes provider's tests: a fake cluster ``ci`` and its sweeper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_support import START, Harness

from reaper.sandbox.kube import KubeFake, ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[KubeFake]:
    with KubeFake(clock=clock, context="ci") as running:
        yield running


@pytest.fixture
def harness(fake: KubeFake, clock: ManualClock, tmp_path: Path) -> Callable[..., Harness]:
    """``harness(**config)``: reaper sweeping the ``ci`` fake (config as ``kube_config``)."""

    def make(**config: Any) -> Harness:
        return Harness({"ci": fake}, clock, tmp_path / "audit.jsonl", **config)

    return make
