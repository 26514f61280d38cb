"""Peak memory of collect + plan, measured in a fresh child process per estate size.

Moto cannot serve a large region the way EC2 does: it pages DescribeInstances by
reservation, not by instance, so 10,000 instances launched 500 per call come back as
one page of 10,000, which took moto 151 s to render here (more than the 60 s read
timeout of reaper's clients), after 212 s of seeding. So the child reads a replay
instead: a moto region of one page of instances (the benchmark's mix, launched and aged
as in the main estate) is described once, and a small loopback server answers
DescribeInstances with that page repeated, each copy with its own instance ids, linked
by page tokens as EC2 does, and DescribeImages and DescribeSecurityGroups with moto's own
answers. To reaper it is a region of N instances in pages of (at most) 1,000.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs

import boto3

from bench.children import run_module
from bench.minimum import EC2_PAGE
from reaper.config import TagKeys
from reaper.providers.aws import ec2_facts
from reaper.providers.aws.ec2 import LIVE_STATES

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

_LOOPBACK = "127.0.0.1"
_INSTANCE_ID = re.compile(rb"\bi-([0-9a-f]{4})([0-9a-f]{4,})\b")
_NEXT_TOKEN = re.compile(rb"<nextToken>[^<]*</nextToken>|<nextToken\s*/>")
CHILD = "bench.rss_child"
"""The child that collects and plans, run as a module from the repository root."""


@dataclass(frozen=True)
class Captured:
    """Moto's raw answers for one region, as reaper's collect asks for them."""

    instances: bytes
    """A DescribeInstances document holding every instance of the region (one page)."""
    page_size: int
    images: bytes
    groups: bytes


def capture(session: boto3.Session, endpoint: str, region: str, tags: TagKeys) -> Captured:
    """Ask moto what the EC2 kind asks, keeping the raw documents."""
    ec2: EC2Client = session.client("ec2", region_name=region, endpoint_url=endpoint)
    bodies: dict[str, bytes] = {}

    # botocore's event payloads are untyped dicts.
    def keep(event_name: str, response_dict: dict[str, Any], **_: object) -> None:
        bodies[event_name.rsplit(".", 1)[-1]] = bytes(response_dict["body"])

    ec2.meta.events.register("before-parse", keep)
    answer = ec2.describe_instances(
        Filters=[
            {"Name": "tag-key", "Values": [tags.pipeline]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
        ],
        MaxResults=EC2_PAGE,
    )
    if answer.get("NextToken"):
        raise RuntimeError("the captured region must fit in one DescribeInstances page")
    instances = [i for r in answer["Reservations"] for i in r["Instances"]]
    ec2.describe_images(
        Filters=[{"Name": "image-id", "Values": sorted({i["ImageId"] for i in instances})}],
        IncludeDeprecated=True,
    )
    groups = sorted({g for i in instances for g in ec2_facts.group_ids(i)})
    ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": groups}])
    return Captured(
        instances=bodies["DescribeInstances"],
        page_size=len(instances),
        images=bodies["DescribeImages"],
        groups=bodies["DescribeSecurityGroups"],
    )


class ReplayServer:
    """Serves ``pages`` copies of a captured DescribeInstances page, and the captured rest.

    Page ``p`` rewrites the first four hex digits of every instance id to ``p``, so the
    ids of all pages differ. Use as a context manager.
    """

    def __init__(self, captured: Captured, pages: int) -> None:
        if pages < 1:
            raise ValueError("at least one page")
        ids = set(_INSTANCE_ID.findall(captured.instances))
        if len({tail for _, tail in ids}) != len(ids):
            raise ValueError("captured instance ids are not unique after their 4th digit")
        if pages > 0xFFFF:
            raise ValueError("at most 65535 pages")
        self.captured = captured
        self.pages = pages
        self.requests = 0
        self._lock = threading.Lock()
        self._server = _ReplayHTTPServer(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def instances(self) -> int:
        return self.pages * self.captured.page_size

    @property
    def endpoint_url(self) -> str:
        return f"http://{_LOOPBACK}:{self._server.server_address[1]}"

    def page(self, number: int) -> bytes:
        """Page ``number`` (from 0) with its ids rewritten and the token of the next."""
        prefix = f"{number:04x}".encode()
        body = _INSTANCE_ID.sub(lambda m: b"i-" + prefix + m.group(2), self.captured.instances)
        body = _NEXT_TOKEN.sub(b"", body)
        if number + 1 < self.pages:
            token = f"<nextToken>page-{number + 1}</nextToken>".encode()
            close = body.rindex(b"</DescribeInstancesResponse>")
            body = body[:close] + token + body[close:]
        return body

    def answer(self, form: dict[str, list[str]]) -> bytes | None:
        with self._lock:
            self.requests += 1
        action = form.get("Action", [""])[0]
        if action == "DescribeInstances":
            token = form.get("NextToken", ["page-0"])[0]
            return self.page(int(token.removeprefix("page-")))
        if action == "DescribeImages":
            return self.captured.images
        if action == "DescribeSecurityGroups":
            return self.captured.groups
        return None

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _ReplayHTTPServer(ThreadingHTTPServer):
    """A loopback server on a free port that knows the replay its handlers answer from."""

    def __init__(self, replay: ReplayServer) -> None:
        super().__init__((_LOOPBACK, 0), _ReplayHandler)
        self.replay = replay


class _ReplayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ReplayHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        """Silent."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        body = self.server.replay.answer(form)
        status = 200
        if body is None:
            status = 400
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
                b"<Code>InvalidAction</Code><Message>not replayed</Message></Error></Errors>"
                b"</Response>"
            )
        self.send_response(status)
        self.send_header("Content-Type", "text/xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass(frozen=True)
class RssSample:
    """What one child measured, in KB."""

    instances: int
    resources: int
    baseline_kb: int
    peak_kb: int
    source: str
    """``VmHWM`` (this process image's peak) or ``ru_maxrss``."""
    ru_maxrss_baseline_kb: int
    seconds: float

    @property
    def growth_kb(self) -> int:
        return self.peak_kb - self.baseline_kb


def measure(endpoint: str, region: str, instances: int) -> RssSample:
    """Run collect + plan of one region in a fresh interpreter and read its peak RSS."""
    done = run_module(
        CHILD, ["--endpoint", endpoint, "--region", region], check=False, timeout=1800
    )
    if done.returncode != 0:
        raise RuntimeError(f"RSS child failed ({done.returncode}):\n{done.stderr[-4000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return RssSample(
        instances=instances,
        resources=int(data["resources"]),
        baseline_kb=int(data["baseline_kb"]),
        peak_kb=int(data["peak_kb"]),
        source=str(data["source"]),
        ru_maxrss_baseline_kb=int(data["ru_maxrss_baseline_kb"]),
        seconds=float(data["seconds"]),
    )
