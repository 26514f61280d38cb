"""A stateful fake Kubernetes API server for reaper's sandbox, demo and tests.

Standard library only, and nothing from the rest of reaper: it serves the real API's JSON
over plain HTTP on 127.0.0.1 so that the official ``kubernetes`` client and ``kubectl`` can
be pointed at it with a kubeconfig (:meth:`KubeFake.write_kubeconfig`).

Served: discovery (``/version``, ``/api``, ``/apis``, resource lists), OpenAPI v3 (enough
for ``kubectl apply``'s server-side field validation, which ``fieldValidation=Strict``
enforces on create and update), OpenAPI v2 as JSON or gnostic protobuf (the schemas of the
served kinds, from Kubernetes 1.32: kubectl 1.20 validates against them, and every kubectl
computes ``apply``'s patches from them), and namespaces, services (core/v1),
deployments and statefulsets with ``scale`` (apps/v1), cronjobs (batch/v1), networkpolicies
(networking.k8s.io/v1) and leases (coordination.k8s.io/v1): get, list (label and field
selectors, ``limit``/``continue`` with 410 Expired), create, update, merge / strategic /
JSON patch, delete (finalizers, propagation policies, the namespace lifecycle),
deletecollection, server-side Table printing.

Not served: watch (405), server-side apply (415), protobuf/CBOR/YAML bodies,
authorization, admission webhooks, managedFields.
"""

from reaper.sandbox.kube.clock import Clock, ManualClock, SystemClock
from reaper.sandbox.kube.fake import DEFAULT_TOKEN, STUCK_FINALIZER, SYSTEM_NAMESPACES, KubeFake
from reaper.sandbox.kube.faults import Fault, Latency, RecordedRequest, RequestInfo, RequestKey

__all__ = [
    "DEFAULT_TOKEN",
    "STUCK_FINALIZER",
    "SYSTEM_NAMESPACES",
    "Clock",
    "Fault",
    "KubeFake",
    "Latency",
    "ManualClock",
    "RecordedRequest",
    "RequestInfo",
    "RequestKey",
    "SystemClock",
]
