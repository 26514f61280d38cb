""":class:`KubeFake`: one fake cluster, served over HTTP, with its Python controls.

The HTTP side answers the real ``kubernetes`` client and ``kubectl``; the Python side is for
tests and the demo: seed objects of any age, move the controllers and the clock on, expire
continue tokens, read the state back, count requests, and inject latency, HTTP failures,
dropped connections, an unreachable server and a broken aggregated API. Any number of fakes
can run at once; each has its own port, state and lock.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from reaper.sandbox.kube.api import Api
from reaper.sandbox.kube.clock import Clock, ManualClock, SystemClock, format_micro_time
from reaper.sandbox.kube.controllers import Controllers
from reaper.sandbox.kube.deletion import Deleter
from reaper.sandbox.kube.faults import (
    Fault,
    FaultAction,
    Latency,
    RecordedRequest,
    RequestKey,
    Traffic,
)
from reaper.sandbox.kube.kubeconfig import kubeconfig, write_kubeconfig
from reaper.sandbox.kube.registry import Registry
from reaper.sandbox.kube.resources import (
    DEPLOYMENTS,
    NAMESPACES,
    SERVICES,
    STATEFULSETS,
    resource_type,
)
from reaper.sandbox.kube.server import HttpServer
from reaper.sandbox.kube.store import Store

JSON = dict[str, Any]
DEFAULT_TOKEN = "reaper-sandbox-token"
STUCK_FINALIZER = "foo.example.com/finalizer"
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
_IMAGE = "registry.example.com/ci/app:1.0"


def _meta(
    name: str,
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None,
    finalizers: Sequence[str] | None,
) -> JSON:
    meta: JSON = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return meta


def _pod_template(app: str, image: str, restart_policy: str | None = None) -> JSON:
    spec: JSON = {"containers": [{"name": "app", "image": image}]}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return {"metadata": {"labels": {"app": app}}, "spec": spec}


class KubeFake:
    """A stateful fake Kubernetes API server on ``http://127.0.0.1:<port>``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``controller_interval``
    (seconds) runs the controllers in a background thread; leave it None in tests and call
    :meth:`step` for deterministic progress.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        context: str = "reaper-fake",
        token: str | None = None,
        bootstrap: bool = True,
        continue_token_writes: int | None = None,
        controller_interval: float | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.context = context
        self.token = token
        self._store = Store(continue_token_writes=continue_token_writes)
        self._registry = Registry(self._store, self.clock)
        self._deleter = Deleter(self._registry)
        self._traffic = Traffic()
        self._controllers = Controllers(self._registry, self.clock, self._traffic.broken_groups)
        self._api = Api(
            self._registry, self._traffic, self.clock, token=token, server_address="127.0.0.1:0"
        )
        self._server = HttpServer(self._api)
        self._interval = controller_interval
        self._loop: threading.Thread | None = None
        self._halt = threading.Event()
        if bootstrap:
            self._bootstrap()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving (and the controller loop, if an interval was given)."""
        self._server.start()
        if self._interval is not None and self._loop is None:
            self._halt.clear()
            self._loop = threading.Thread(
                target=self._run_controllers, name="kube-fake-controllers", daemon=True
            )
            self._loop.start()
        return self

    def stop(self) -> None:
        """Stop serving and the controller loop; the state stays readable."""
        self._halt.set()
        if self._loop is not None:
            self._loop.join(timeout=5)
            self._loop = None
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run_controllers(self) -> None:
        assert self._interval is not None
        while not self._halt.wait(self._interval):
            self._controllers.step()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig (server, token, context :attr:`context`, current) to ``path``."""
        return write_kubeconfig(
            path, kubeconfig(self.url, context=self.context, namespace=namespace, token=self.token)
        )

    def kubeconfig(self, *, namespace: str = "default") -> JSON:
        """The kubeconfig as a dict (``kubernetes.config.load_kube_config_from_dict``)."""
        return kubeconfig(self.url, context=self.context, namespace=namespace, token=self.token)

    # -- seeding --------------------------------------------------------------------------------

    def _bootstrap(self) -> None:
        for name in SYSTEM_NAMESPACES:
            self.seed_namespace(name)
        self.seed(
            "services",
            {
                "metadata": {
                    "name": "kubernetes",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "clusterIP": "10.96.0.1",
                    "ports": [{"name": "https", "port": 443, "targetPort": 6443}],
                },
            },
            namespace="default",
        )

    def seed(
        self, resource: str, body: JSON, *, namespace: str = "", created: datetime | None = None
    ) -> JSON:
        """Create ``body`` through the API's create path (defaults, validation, admission).

        ``created`` sets ``creationTimestamp`` (any age); a missing namespace is created.
        """
        rt = resource_type(resource)
        if rt.namespaced and namespace and self._store.get(NAMESPACES, "", namespace) is None:
            self.seed_namespace(namespace)
        obj = self._registry.create(rt, namespace, copy.deepcopy(body), created=created)
        if rt in (DEPLOYMENTS, STATEFULSETS, SERVICES):
            name = obj["metadata"]["name"]
            self._controllers.step_status_of(rt, namespace, name)
            return self.get(resource, name, namespace) or obj
        return obj

    def seed_namespace(
        self,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        created: datetime | None = None,
        finalizers: Sequence[str] | None = None,
    ) -> JSON:
        """A namespace (Active, with the ``kubernetes`` finalizer and the name label)."""
        return self.seed(
            "namespaces",
            {"metadata": _meta(name, labels, annotations, finalizers)},
            created=created,
        )

    def seed_deployment(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 1,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        created: datetime | None = None,
        finalizers: Sequence[str] | None = None,
        image: str = _IMAGE,
    ) -> JSON:
        """A Deployment selecting ``app=<name>``, status already caught up."""
        body = {
            "metadata": _meta(name, labels, annotations, finalizers),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": _pod_template(name, image),
            },
        }
        return self.seed("deployments", body, namespace=namespace, created=created)

    def seed_statefulset(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 1,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        created: datetime | None = None,
        finalizers: Sequence[str] | None = None,
        image: str = _IMAGE,
    ) -> JSON:
        """A StatefulSet selecting ``app=<name>``, status already caught up."""
        body = {
            "metadata": _meta(name, labels, annotations, finalizers),
            "spec": {
                "replicas": replicas,
                "serviceName": name,
                "selector": {"matchLabels": {"app": name}},
                "template": _pod_template(name, image),
            },
        }
        return self.seed("statefulsets", body, namespace=namespace, created=created)

    def seed_cronjob(
        self,
        namespace: str,
        name: str,
        *,
        schedule: str = "*/5 * * * *",
        suspend: bool = False,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        created: datetime | None = None,
        finalizers: Sequence[str] | None = None,
        image: str = _IMAGE,
    ) -> JSON:
        """A CronJob (batch/v1)."""
        body = {
            "metadata": _meta(name, labels, annotations, finalizers),
            "spec": {
                "schedule": schedule,
                "suspend": suspend,
                "jobTemplate": {"spec": {"template": _pod_template(name, image, "OnFailure")}},
            },
        }
        return self.seed("cronjobs", body, namespace=namespace, created=created)

    def seed_service(
        self,
        namespace: str,
        name: str,
        *,
        type: str = "ClusterIP",
        ports: Sequence[int] = (80,),
        load_balancer_source_ranges: Sequence[str] | None = None,
        selector: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        created: datetime | None = None,
        finalizers: Sequence[str] | None = None,
    ) -> JSON:
        """A Service; LoadBalancer ones get an ingress address from the fake cloud."""
        spec: JSON = {
            "type": type,
            "selector": dict(selector) if selector is not None else {"app": name},
            "ports": [{"name": f"port-{port}", "port": port, "targetPort": port} for port in ports],
        }
        if load_balancer_source_ranges is not None:
            spec["loadBalancerSourceRanges"] = list(load_balancer_source_ranges)
        body = {"metadata": _meta(name, labels, annotations, finalizers), "spec": spec}
        return self.seed("services", body, namespace=namespace, created=created)

    def seed_network_policy(
        self,
        namespace: str,
        name: str,
        *,
        pod_selector: JSON | None = None,
        ingress: list[JSON] | None = None,
        egress: list[JSON] | None = None,
        policy_types: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        created: datetime | None = None,
        finalizers: Sequence[str] | None = None,
    ) -> JSON:
        """A NetworkPolicy (default: all pods, no ingress allowed)."""
        spec: JSON = {"podSelector": pod_selector or {}}
        if ingress is not None:
            spec["ingress"] = ingress
        if egress is not None:
            spec["egress"] = egress
        if policy_types is not None:
            spec["policyTypes"] = list(policy_types)
        body = {"metadata": _meta(name, labels, annotations, finalizers), "spec": spec}
        return self.seed("networkpolicies", body, namespace=namespace, created=created)

    def seed_lease(
        self,
        namespace: str,
        name: str,
        *,
        holder: str | None = None,
        duration_seconds: int = 15,
        renewed: datetime | None = None,
        transitions: int = 0,
        labels: Mapping[str, str] | None = None,
        created: datetime | None = None,
    ) -> JSON:
        """A Lease held by ``holder`` (renewed at ``renewed``, default now), or free."""
        spec: JSON = {"leaseDurationSeconds": duration_seconds, "leaseTransitions": transitions}
        if holder is not None:
            stamp = format_micro_time(renewed or self.clock.now())
            spec.update(holderIdentity=holder, acquireTime=stamp, renewTime=stamp)
        body = {"metadata": _meta(name, labels, None, None), "spec": spec}
        return self.seed("leases", body, namespace=namespace, created=created)

    def seed_stuck_finalizer(
        self,
        namespace: str,
        *,
        name: str = "stuck",
        resource: str = "networkpolicies",
        finalizer: str = STUCK_FINALIZER,
    ) -> JSON:
        """An object in ``namespace`` holding ``finalizer``, which nothing will ever remove."""
        body: JSON = {"metadata": {"name": name, "finalizers": [finalizer]}}
        if resource == "networkpolicies":
            body["spec"] = {"podSelector": {}}
        elif resource == "leases":
            body["spec"] = {}
        else:
            raise ValueError(
                f"seed_stuck_finalizer supports networkpolicies and leases, not {resource!r}"
            )
        return self.seed(resource, body, namespace=namespace)

    def change(
        self, resource: str, name: str, change: Callable[[JSON], None], *, namespace: str = ""
    ) -> JSON:
        """Apply ``change`` to a copy of the stored object and write it through the update
        path (validation, resourceVersion, generation), as another client's update would."""
        return self._registry.mutate(resource_type(resource), namespace, name, change)

    def add_finalizer(
        self, resource: str, name: str, finalizer: str, *, namespace: str = ""
    ) -> JSON:
        """Add ``finalizer`` to an existing object's ``metadata.finalizers``."""

        def change(obj: JSON) -> None:
            finalizers = obj["metadata"].setdefault("finalizers", [])
            if finalizer not in finalizers:
                finalizers.append(finalizer)

        return self._registry.mutate(resource_type(resource), namespace, name, change)

    def remove_finalizer(
        self, resource: str, name: str, finalizer: str, *, namespace: str = ""
    ) -> JSON:
        """Remove ``finalizer``, as its controller would; a deleting object then goes."""

        def change(obj: JSON) -> None:
            kept = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
            if kept:
                obj["metadata"]["finalizers"] = kept
            else:
                obj["metadata"].pop("finalizers", None)

        return self._registry.mutate(resource_type(resource), namespace, name, change)

    def delete(
        self,
        resource: str,
        name: str,
        *,
        namespace: str = "",
        propagation_policy: str = "Background",
    ) -> JSON:
        """DELETE as a client would (a namespace turns Terminating); returns the answer body."""
        rt = resource_type(resource)
        options = {"propagationPolicy": propagation_policy}
        return self._deleter.delete(rt, namespace if rt.namespaced else "", name, options)[1]

    # -- progress ------------------------------------------------------------------------------

    def step(self, passes: int = 1) -> None:
        """Run every controller ``passes`` times: namespaces, GC, status, load balancers."""
        for _ in range(passes):
            self._controllers.step()

    def settle(self, max_passes: int = 20) -> int:
        """Step until a pass writes nothing; returns the passes taken."""
        for passes in range(1, max_passes + 1):
            before = self._store.revision
            self._controllers.step()
            if self._store.revision == before:
                return passes
        return max_passes

    def advance(self, by: float | timedelta) -> datetime:
        """Move a :class:`ManualClock` on; raises TypeError with the system clock."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs KubeFake(clock=ManualClock(...))")
        return self.clock.advance(by)

    def expire_continue_tokens(self) -> None:
        """Compact: every continue token handed out so far now answers 410 Expired."""
        self._store.compact()

    def expire_next_continues(self, resource: str = "namespaces", times: int = 1) -> None:
        """The next ``times`` lists of ``resource`` that carry a continue token find it
        expired (410 Expired), as if etcd compacted their snapshot just before."""
        self._store.expire_next_continues(resource_type(resource), times)

    def set_continue_token_writes(self, writes: int | None) -> None:
        """Tokens expire once ``writes`` writes happened after them (None: never)."""
        self._store.set_continue_token_writes(writes)

    # -- state ---------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The cluster's current revision (the last write's resourceVersion)."""
        return self._store.revision

    def get(self, resource: str, name: str, namespace: str = "") -> JSON | None:
        """A copy of the stored object, or None."""
        rt = resource_type(resource)
        return self._store.get(rt, namespace if rt.namespaced else "", name)

    def objects(self, resource: str, namespace: str | None = None) -> list[JSON]:
        """Copies of every stored object of ``resource`` (in ``namespace``, if given)."""
        rt = resource_type(resource)
        return self._store.objects(rt, namespace if rt.namespaced else None)

    def names(self, resource: str, namespace: str | None = None) -> list[str]:
        """The names of :meth:`objects`."""
        return [obj["metadata"]["name"] for obj in self.objects(resource, namespace)]

    def namespace_phase(self, name: str) -> str | None:
        """``Active``, ``Terminating``, or None once the namespace is gone."""
        found = self.get("namespaces", name)
        return None if found is None else (found.get("status") or {}).get("phase")

    def namespace_conditions(self, name: str) -> dict[str, JSON]:
        """The namespace's ``status.conditions`` by type."""
        found = self.get("namespaces", name) or {}
        return {c["type"]: c for c in (found.get("status") or {}).get("conditions") or []}

    # -- traffic -------------------------------------------------------------------------------

    def request_count(self, verb: str, resource: str, subresource: str = "") -> int:
        """Requests so far with this verb on this resource (or non-resource path)."""
        return self._traffic.count(verb, resource, subresource)

    def request_counts(self) -> dict[RequestKey, int]:
        return self._traffic.counts()

    def requests(self) -> list[RecordedRequest]:
        """Every request answered so far, in order."""
        return self._traffic.log()

    def reset_requests(self) -> None:
        self._traffic.reset_log()

    def fail(
        self,
        status: int = 503,
        *,
        times: int | None = 1,
        verb: str | None = None,
        resource: str | None = None,
        subresource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        message: str = "",
        retry_after: int | None = None,
    ) -> Fault:
        """The next ``times`` matching requests answer ``status`` with a real-shaped Status.

        429 carries ``Retry-After`` when ``retry_after`` is given; 500 is an InternalError,
        503 ServiceUnavailable, 504 Timeout.
        """
        fault = Fault(
            status, times, verb, resource, subresource, namespace, name, message, retry_after
        )
        return self._traffic.add_fault(fault)

    def drop_connections(
        self, *, times: int | None = 1, verb: str | None = None, resource: str | None = None
    ) -> Fault:
        """The next ``times`` matching requests get their connection closed unanswered."""
        fault = Fault(times=times, verb=verb, resource=resource, action=FaultAction.DROP)
        return self._traffic.add_fault(fault)

    def slow_down(
        self,
        seconds: float,
        *,
        times: int | None = None,
        verb: str | None = None,
        resource: str | None = None,
    ) -> Latency:
        """Wait ``seconds`` before answering matching requests."""
        return self._traffic.add_latency(Latency(seconds, times, verb, resource))

    def clear_faults(self) -> None:
        """Remove every fault and latency rule."""
        self._traffic.clear_faults()

    def break_discovery(self, group_version: str = "metrics.k8s.io/v1beta1") -> None:
        """Register an aggregated API that answers 503: discovery and namespace deletion fail."""
        self._traffic.break_group(group_version)

    def repair_discovery(self, group_version: str | None = None) -> None:
        """Undo :meth:`break_discovery` (all groups if None)."""
        self._traffic.repair_group(group_version)

    def go_offline(self) -> None:
        """Close every connection and refuse new ones (the port stays reserved by nobody)."""
        self._server.stop()

    def go_online(self) -> None:
        """Listen again on the same port."""
        self._server.start()

    @property
    def online(self) -> bool:
        return self._server.online
