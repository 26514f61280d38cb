"""The fake's etcd: objects per resource, one global revision, compaction and snapshots.

Every write (create, update, delete) takes the next revision of one cluster-wide counter and
stamps it on the object as ``metadata.resourceVersion``, as etcd's revision does. A list
that hands out a continue token keeps a snapshot of its resource at that revision, so later
pages are consistent with the first. :meth:`Store.compact` (or the configured write budget)
forgets revisions, which expires the tokens that point at them.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import Any

from reaper.sandbox.kube.resources import RESOURCE_TYPES, ResourceType

JSON = dict[str, Any]
Key = tuple[str, str]
"""``(namespace, name)``; the namespace is empty for cluster-scoped objects."""

_FIRST_REVISION = 1
_MAX_SNAPSHOTS = 64


class Store:
    """Thread-safe object storage. Hold :attr:`lock` across a read-modify-write."""

    def __init__(self, *, continue_token_writes: int | None = None) -> None:
        self.lock = threading.RLock()
        self._revision = _FIRST_REVISION
        self._compacted = 0
        self._token_writes = continue_token_writes
        self._objects: dict[str, dict[Key, JSON]] = {rt.plural: {} for rt in RESOURCE_TYPES}
        self._snapshots: OrderedDict[tuple[str, int], dict[Key, JSON]] = OrderedDict()
        self._forced_expiries: dict[str, int] = {}

    @property
    def revision(self) -> int:
        """The revision of the last write."""
        with self.lock:
            return self._revision

    def _bump(self) -> int:
        self._revision += 1
        if self._token_writes is not None:
            self._compact_to(self._revision - self._token_writes)
        return self._revision

    def compact(self) -> None:
        """Forget every revision up to now: all outstanding continue tokens expire."""
        with self.lock:
            self._compact_to(self._revision)

    def _compact_to(self, revision: int) -> None:
        if revision <= self._compacted:
            return
        self._compacted = revision
        for key in [k for k in self._snapshots if k[1] <= revision]:
            del self._snapshots[key]

    def set_continue_token_writes(self, writes: int | None) -> None:
        """Expire tokens once ``writes`` more writes happened after them (None: never)."""
        with self.lock:
            self._token_writes = writes
            if writes is not None:
                self._compact_to(self._revision - writes)

    def expire_next_continues(self, rt: ResourceType, times: int) -> None:
        """The next ``times`` continued lists of ``rt`` find their token compacted away."""
        with self.lock:
            self._forced_expiries[rt.plural] = self._forced_expiries.get(rt.plural, 0) + times

    def take_forced_expiry(self, rt: ResourceType) -> bool:
        """Whether this continued list of ``rt`` is one :meth:`expire_next_continues` asked
        to expire (only that request: tokens handed out later are good)."""
        with self.lock:
            left = self._forced_expiries.get(rt.plural, 0)
            if not left:
                return False
            self._forced_expiries[rt.plural] = left - 1
            return True

    def is_compacted(self, revision: int) -> bool:
        """Whether ``revision`` has been compacted away."""
        with self.lock:
            return 0 < revision <= self._compacted

    def get(self, rt: ResourceType, namespace: str, name: str) -> JSON | None:
        """A copy of the stored object, or None."""
        with self.lock:
            found = self._objects[rt.plural].get((namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def write(self, rt: ResourceType, obj: JSON) -> JSON:
        """Store ``obj`` at the next revision; returns a copy of what was stored."""
        meta = obj["metadata"]
        with self.lock:
            meta["resourceVersion"] = str(self._bump())
            stored = copy.deepcopy(obj)
            self._objects[rt.plural][(meta.get("namespace", ""), meta["name"])] = stored
            return copy.deepcopy(stored)

    def remove(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        """Delete the object; returns it stamped with the deletion's revision."""
        with self.lock:
            gone = self._objects[rt.plural].pop((namespace, name))
            gone["metadata"]["resourceVersion"] = str(self._bump())
            return gone

    def objects(self, rt: ResourceType, namespace: str | None = None) -> list[JSON]:
        """Copies of the objects, in key order; ``namespace`` None means all."""
        return [obj for _, obj in self.entries(rt, namespace)]

    def entries(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        revision: int | None = None,
        *,
        copies: bool = True,
    ) -> list[tuple[str, JSON]]:
        """``(key, object)`` pairs in key order, from the snapshot at ``revision`` if given.

        Keys are relative to the list's key prefix: ``name`` within one namespace or for a
        cluster-scoped type, ``namespace/name`` across namespaces. ``copies=False`` hands
        out the stored objects themselves, to be read under :attr:`lock` and copied before
        they leave it (a list page copies only the objects it returns).
        """
        with self.lock:
            source = self._objects[rt.plural]
            if revision is not None and (rt.plural, revision) in self._snapshots:
                source = self._snapshots[(rt.plural, revision)]
                self._snapshots.move_to_end((rt.plural, revision))
            pairs = []
            for (ns, name), obj in source.items():
                if namespace is not None and rt.namespaced and ns != namespace:
                    continue
                key = name if (namespace is not None or not rt.namespaced) else f"{ns}/{name}"
                pairs.append((key, copy.deepcopy(obj) if copies else obj))
            pairs.sort(key=lambda pair: pair[0].encode())
            return pairs

    def keep_snapshot(self, rt: ResourceType) -> int:
        """Remember ``rt``'s objects at the current revision; returns the revision."""
        with self.lock:
            key = (rt.plural, self._revision)
            if key not in self._snapshots:
                self._snapshots[key] = copy.deepcopy(self._objects[rt.plural])
                while len(self._snapshots) > _MAX_SNAPSHOTS:
                    self._snapshots.popitem(last=False)
            return self._revision
