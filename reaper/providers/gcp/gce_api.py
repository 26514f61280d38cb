"""The Compute Engine instance calls reaper makes, each through ``GcpClients.call``.

Mutations carry a ``requestId`` made once per call, so a retried attempt (after a 503, say)
is the same request to the service and never runs twice. Writes guarded by a fingerprint
(``setLabels``, ``setTags``) re-read the instance and apply the change again when the
fingerprint went stale (HTTP 412 ``conditionNotMet``), a bounded number of times.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence

from google.cloud import compute_v1

from reaper.config import GcpProject
from reaper.errors import ProviderError
from reaper.model import ResourceRef
from reaper.providers.gcp.clients import GcpClients, reason_of, status_of
from reaper.providers.gcp.fingerprints import guarded_write
from reaper.providers.gcp.labels import LabelChange, Labels


def not_ready(err: ProviderError) -> bool:
    """Compute refused because another operation on the resource is still running."""
    return reason_of(err) == "resourceNotReady"


class InstanceApi:
    """Instance reads and writes in one project's zones."""

    def __init__(self, clients: GcpClients) -> None:
        self.clients = clients

    def _where(self, project: GcpProject, zone: str, name: str) -> str:
        return f"instance {name} in {project.name}/{zone}"

    def get(self, project: GcpProject, zone: str, name: str) -> compute_v1.Instance | None:
        """The instance, or None when it does not exist (404)."""
        instances = self.clients.compute(project).instances
        try:
            return self.clients.call(
                "compute.instances.get",
                self._where(project, zone, name),
                lambda: instances.get(
                    project=project.project_id,
                    zone=zone,
                    instance=name,
                    retry=None,
                    timeout=self.clients.timeout,
                ),
            )
        except ProviderError as err:
            if status_of(err) == 404:
                return None
            raise

    def _mutate(
        self,
        method: str,
        project: GcpProject,
        zone: str,
        name: str,
        send: Callable[[compute_v1.InstancesClient, str], compute_v1.Operation],
    ) -> compute_v1.Operation:
        instances = self.clients.compute(project).instances
        request_id = str(uuid.uuid4())
        return self.clients.call(
            method,
            self._where(project, zone, name),
            lambda: send(instances, request_id),
            request_id=True,
        )

    def delete(self, project: GcpProject, zone: str, name: str) -> compute_v1.Operation:
        request = compute_v1.DeleteInstanceRequest(
            project=project.project_id, zone=zone, instance=name
        )
        return self._send("compute.instances.delete", project, zone, name, request, "delete")

    def stop(self, project: GcpProject, zone: str, name: str) -> compute_v1.Operation:
        request = compute_v1.StopInstanceRequest(
            project=project.project_id, zone=zone, instance=name
        )
        return self._send("compute.instances.stop", project, zone, name, request, "stop")

    def start(self, project: GcpProject, zone: str, name: str) -> compute_v1.Operation:
        request = compute_v1.StartInstanceRequest(
            project=project.project_id, zone=zone, instance=name
        )
        return self._send("compute.instances.start", project, zone, name, request, "start")

    def _send(
        self,
        method: str,
        project: GcpProject,
        zone: str,
        name: str,
        request: compute_v1.DeleteInstanceRequest
        | compute_v1.StopInstanceRequest
        | compute_v1.StartInstanceRequest,
        verb: str,
    ) -> compute_v1.Operation:
        def send(instances: compute_v1.InstancesClient, request_id: str) -> compute_v1.Operation:
            request.request_id = request_id
            call = getattr(instances, f"{verb}_unary")
            result: compute_v1.Operation = call(
                request=request, retry=None, timeout=self.clients.timeout
            )
            return result

        return self._mutate(method, project, zone, name, send)

    def relabel(
        self,
        project: GcpProject,
        ref: ResourceRef,
        change: LabelChange,
        known: tuple[Mapping[str, str], str] | None = None,
    ) -> Labels | None:
        """Set the labels ``change`` makes of the current ones; returns them, or None if the
        instance is gone. ``known``: labels and fingerprint already read (the sweep's).

        Raises StaleFingerprint after ``FINGERPRINT_ATTEMPTS`` stale fingerprints, and
        ProviderError for any other failure.
        """
        zone, name = ref.scope.region, ref.id

        def read() -> tuple[Mapping[str, str], str] | None:
            raw = self.get(project, zone, name)
            return None if raw is None else (dict(raw.labels), raw.label_fingerprint)

        def send(wanted: Mapping[str, str], fingerprint: str) -> compute_v1.Operation:
            body = compute_v1.InstancesSetLabelsRequest(
                labels=dict(wanted), label_fingerprint=fingerprint
            )

            def set_labels(
                instances: compute_v1.InstancesClient, request_id: str
            ) -> compute_v1.Operation:
                request = compute_v1.SetLabelsInstanceRequest(
                    project=project.project_id,
                    zone=zone,
                    instance=name,
                    instances_set_labels_request_resource=body,
                    request_id=request_id,
                )
                return instances.set_labels_unary(
                    request=request, retry=None, timeout=self.clients.timeout
                )

            return self._mutate("compute.instances.setLabels", project, zone, name, set_labels)

        where = f"labels of {self._where(project, zone, name)}"
        written = guarded_write(where, read, lambda labels: change(labels), send, known)
        return None if written is None else dict(written[0])

    def retag(
        self,
        project: GcpProject,
        zone: str,
        name: str,
        tags: Sequence[str],
        raw: compute_v1.Instance,
    ) -> compute_v1.Operation | None:
        """Set the network tags to ``tags``; None when they already are, or it is gone.

        Raises StaleFingerprint, ProviderError."""

        def read() -> tuple[list[str], str] | None:
            found = self.get(project, zone, name)
            return None if found is None else (list(found.tags.items), found.tags.fingerprint)

        def send(wanted: list[str], fingerprint: str) -> compute_v1.Operation:
            body = compute_v1.Tags(items=wanted, fingerprint=fingerprint)

            def set_tags(
                instances: compute_v1.InstancesClient, request_id: str
            ) -> compute_v1.Operation:
                request = compute_v1.SetTagsInstanceRequest(
                    project=project.project_id,
                    zone=zone,
                    instance=name,
                    tags_resource=body,
                    request_id=request_id,
                )
                return instances.set_tags_unary(
                    request=request, retry=None, timeout=self.clients.timeout
                )

            return self._mutate("compute.instances.setTags", project, zone, name, set_tags)

        known = (list(raw.tags.items), raw.tags.fingerprint)
        where = f"network tags of {self._where(project, zone, name)}"
        written = guarded_write(where, read, lambda _: list(tags), send, known)
        return None if written is None else written[1]
