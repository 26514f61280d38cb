"""A stateful fake of the Compute Engine v1, GKE v1 and Resource Manager v3 (project
search, folder lists) REST APIs, for the sandbox and tests.

Standard library only, so it runs anywhere; see ``FakeGcp``.
"""

from reaper.sandbox.gcp.fake import DEFAULT_MASTER_VERSION, FakeGcp
from reaper.sandbox.gcp.faults import Fault
from reaper.sandbox.gcp.project_search import Semantics
from reaper.sandbox.gcp.seeding import NodePoolSpec
from reaper.sandbox.gcp.stats import RequestStats
from reaper.sandbox.gcp.world import DEFAULT_ZONES

__all__ = [
    "DEFAULT_MASTER_VERSION",
    "DEFAULT_ZONES",
    "FakeGcp",
    "Fault",
    "NodePoolSpec",
    "RequestStats",
    "Semantics",
]
