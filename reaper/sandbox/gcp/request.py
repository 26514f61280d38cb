"""What a handler gets from the server: the path's parts, the query, the JSON body."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reaper.sandbox.gcp.world import World

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class ApiRequest:
    """One parsed request; ``params`` are the route's named path segments, decoded."""

    params: Mapping[str, str]
    method: str = ""
    """The API method name being served, e.g. ``compute.instances.delete``."""
    query: Mapping[str, list[str]] = field(default_factory=dict)
    body: JsonObject | None = None

    def arg(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> JsonObject:
        """The body, or an empty object when there was none."""
        return self.body if self.body is not None else {}


Handler = Callable[["World", ApiRequest], JsonObject]
