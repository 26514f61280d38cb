"""Waiting for long-running operations: one shared wait over everything an action started.

Compute Engine mutations answer with an Operation to poll. ``*_unary`` methods are used and
their operations polled with ``zoneOperations.wait`` / ``globalOperations.wait`` on the
configured endpoint (the SDK's ``ExtendedOperation.result()`` would poll
compute.googleapis.com whatever the endpoint). ``wait`` blocks on the server until the
operation is done (up to about two minutes), so a round of waits, one per pending
operation and all at once, costs one request per operation and the longest operation's
time. GKE operations have no server-side wait: they are polled with ``operations.get``,
all of them per round, ``poll_seconds`` apart.

Nothing waits for one operation before looking at the next: a round polls every pending
operation, within the project's worker budget, until all are done or the deadline passes
(``operation_timeout`` by the connection's clock). A wait or poll that fails with an error
worth no retry (403, 404, 400) ends that operation's wait at once as a failure carrying the
API's message: asking again would only get the same answer. One that failed after its
retries (throttling, outages) is asked again next round.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from google.cloud import compute_v1, container_v1

from reaper.config import GcpProject
from reaper.errors import ProviderError
from reaper.providers.gcp.clients import GcpClients, retriable

COMPUTE_DONE = compute_v1.Operation.Status.DONE
GKE_DONE = container_v1.Operation.Status.DONE


@dataclass(frozen=True)
class Pending:
    """An operation started for ``key`` (a resource's ref, say), not done yet."""

    key: Hashable
    name: str
    zone: str | None = None
    """A Compute zonal operation's zone; None for a global one. A GKE operation's location."""


@dataclass(frozen=True)
class Finished:
    """How an operation ended, or that it had not when the wait gave up."""

    done: bool
    error: str = ""
    """The API's message when it ended in error (``done`` is True then), or why waiting
    for it failed for good (``done`` is False then: how it ends is not known)."""
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.done and not self.error


STILL_RUNNING = Finished(done=False)


def unwaitable(err: ProviderError) -> Finished | None:
    """A failed wait or poll that ends the wait (an error no retry helps: a denial, an
    unknown operation, a bad request), or None when the next round should ask again."""
    cause = err.__cause__
    if cause is not None and retriable(cause):
        return None
    return Finished(False, f"waiting for the operation failed: {err}")


def compute_outcome(op: compute_v1.Operation) -> Finished | None:
    """How a Compute operation ended, or None while it runs. Pure."""
    if op.status != COMPUTE_DONE:
        return None
    errors = [e.message or e.code for e in op.error.errors] if op.error else []
    if errors or op.http_error_status_code >= 400:
        message = "; ".join(errors) or op.http_error_message or "operation failed"
        return Finished(True, message, op.http_error_status_code or None)
    return Finished(True)


def gke_outcome(op: container_v1.Operation) -> Finished | None:
    """How a GKE operation ended, or None while it runs. Pure."""
    if op.status != GKE_DONE:
        return None
    message = op.error.message or op.status_message if op.error.code else ""
    return Finished(True, message or "")


def wait_compute(
    clients: GcpClients, project: GcpProject, pending: Sequence[Pending], where: str
) -> dict[Hashable, Finished]:
    """Wait for Compute operations together; ``STILL_RUNNING`` for those past the deadline.

    A wait that fails after its retries counts as not finished (asked again next round);
    one refused for good (403, 404) ends as a failure with the API's message (see
    ``unwaitable``). Raises nothing.
    """
    ops = clients.compute(project)
    timeout = max(clients.timeout, 150.0)  # the server holds a wait for up to two minutes

    def wait(item: Pending) -> Finished | None:
        try:
            if item.zone is None:
                op = clients.call(
                    "compute.globalOperations.wait",
                    f"operation {item.name} in {where}",
                    lambda: ops.global_operations.wait(
                        project=project.project_id,
                        operation=item.name,
                        retry=None,
                        timeout=timeout,
                    ),
                )
            else:
                zone = item.zone
                op = clients.call(
                    "compute.zoneOperations.wait",
                    f"operation {item.name} in {where}",
                    lambda: ops.zone_operations.wait(
                        project=project.project_id,
                        zone=zone,
                        operation=item.name,
                        retry=None,
                        timeout=timeout,
                    ),
                )
        except ProviderError as err:
            return unwaitable(err)
        return compute_outcome(op)

    return _rounds(clients, project, pending, wait, pause=0.0)


def wait_gke(
    clients: GcpClients, project: GcpProject, pending: Sequence[Pending], where: str
) -> dict[Hashable, Finished]:
    """Poll GKE operations together, ``poll_seconds`` apart, until done or the deadline."""
    gke = clients.gke(project)

    def poll(item: Pending) -> Finished | None:
        name = f"projects/{project.project_id}/locations/{item.zone}/operations/{item.name}"
        try:
            op = clients.call(
                "container.projects.locations.operations.get",
                f"operation {item.name} in {where}",
                lambda: gke.get_operation(name=name, retry=None, timeout=clients.timeout),
            )
        except ProviderError as err:
            return unwaitable(err)
        return gke_outcome(op)

    return _rounds(clients, project, pending, poll, pause=clients.connection.poll_seconds)


def _rounds(
    clients: GcpClients,
    project: GcpProject,
    pending: Sequence[Pending],
    poll: Callable[[Pending], Finished | None],
    pause: float,
) -> dict[Hashable, Finished]:
    """Poll every pending operation per round, ``pause`` seconds before each round."""
    clock = clients.connection.clock
    deadline = clock() + clients.connection.operation_timeout
    finished: dict[Hashable, Finished] = {}
    waiting = list(pending)
    while waiting:
        if pause > 0:
            clients.connection.sleep(pause)
        answers = clients.parallel(project, poll, waiting)
        still = []
        for item, answer in zip(waiting, answers, strict=True):
            if answer is None:
                still.append(item)
            else:
                finished[item.key] = answer
        waiting = still
        if clock() >= deadline:
            break
    for item in waiting:
        finished[item.key] = STILL_RUNNING
    return finished
