"""What bounds a sweep's memory while many workers parse large replies (the organization
benchmark in the README): one large reply parsed at a time, glibc's arenas capped."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from botocore.parsers import ResponseParserError

from reaper.cli.malloc import cap_malloc_arenas
from reaper.providers.aws.errors import LARGE_REPLY, _GuardedParser


class _SlowParser:
    """Parses in 20 ms, counting how many parses run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def parse(self, response: Any, shape: Any) -> Any:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.02)
        with self.lock:
            self.running -= 1
        if response["body"].startswith(b"bad"):
            raise ValueError("bad value")
        return {"size": len(response["body"])}


def _parse_together(body: bytes, threads: int) -> int:
    inner = _SlowParser()
    parser = _GuardedParser(inner)
    workers = [
        threading.Thread(target=parser.parse, args=({"body": body}, None)) for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return inner.most


@pytest.mark.parametrize(
    ("size", "most"),
    [(LARGE_REPLY, 1), (LARGE_REPLY - 1, 8)],
    ids=["large-one-at-a-time", "small-all-at-once"],
)
def test_large_replies_are_parsed_one_at_a_time(size: int, most: int) -> None:
    assert _parse_together(b"x" * size, 8) == most


def test_a_large_reply_that_fails_to_parse_frees_its_turn() -> None:
    parser = _GuardedParser(_SlowParser())
    with pytest.raises(ResponseParserError, match="ValueError: bad value"):
        parser.parse({"body": b"bad" + b"x" * LARGE_REPLY}, None)
    assert parser.parse({"body": b"x" * LARGE_REPLY}, None) == {"size": LARGE_REPLY}


def test_the_arena_cap_leaves_an_operators_setting_alone() -> None:
    assert cap_malloc_arenas({"MALLOC_ARENA_MAX": "8"}) is False
