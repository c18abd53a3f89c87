"""What every per-kind handle shares: ids, validation, queries on open instances, terminate.

A handle validates everything in the client before anything is sent (SPEC §5) and answers "not
found" in results instead of raising.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.common import (
    QueryRejectCondition,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from durable_jobs._models import to_data, type_name
from durable_jobs._naming import JobKind, check_user_id, instance_id
from durable_jobs.client._in_flight import InFlightLimit
from durable_jobs.client._search_attributes import JobSearchAttributes
from durable_jobs.client._temporal_errors import is_gone, translate
from durable_jobs.client.results import StatusResult, TerminateResult
from durable_jobs.errors import JobValidationError, WorkerUnavailableError
from durable_jobs.events import emit
from durable_jobs.protocol import STATUS_AS_OF_MEMO, STATUS_MEMO

MAX_PAYLOAD_BYTES = 1_900_000
"""The largest input or event accepted: under Temporal's 2 MB payload limit, with room for
the request's other fields."""

SIGNAL_WITH_START_ATTEMPTS = 5
"""Tries of one ``*_nowait`` call that races a concurrent start of the same instance."""

D = TypeVar("D")
T = TypeVar("T")
R = TypeVar("R", bound=StatusResult)


class JobHandle(Generic[D]):
    """Base of the per-kind handles: one job (a name and its definition) on one Temporal client."""

    kind: JobKind
    initial_status: str
    """The status a new instance starts with, for the ``JobStatus`` search attribute."""

    def __init__(
        self,
        *,
        temporal_client: Client,
        task_queue: str,
        name: str,
        definition: D,
        address: str,
        in_flight: InFlightLimit,
        search_attributes: JobSearchAttributes,
        worker_patience: timedelta,
    ) -> None:
        self._in_flight = in_flight
        self._search_attributes = search_attributes
        self._worker_patience = worker_patience
        self._client = temporal_client
        self._task_queue = task_queue
        self._name = name
        self._definition = definition
        self._address = address

    @property
    def name(self) -> str:
        """The job's registered name."""
        return self._name

    @property
    def definition(self) -> D:
        """The job's definition."""
        return self._definition

    def instance_id(self, id: str) -> str:
        """The workflow ID of user id ``id``, after checking the id (SPEC §5)."""
        return instance_id(self.kind, self._name, check_user_id(self.kind, self._name, id))

    def _validate(self, type_: Any, value: Any, *, what: str, id: str) -> Any:
        """``value`` checked against ``type_`` and turned into JSON-ready data for Temporal.

        Refused here, before anything is sent: what the model refuses, numbers JSON cannot
        carry (NaN, infinity), and data over Temporal's payload limit.
        """
        where = f"{self.kind} job {self._name!r} id {id!r}"
        try:
            data = to_data(type_, value)
        except ValidationError as err:
            raise JobValidationError(
                f"{where}: invalid {what}; expected {type_name(type_)}: {err}",
                errors=[dict(e) for e in err.errors(include_url=False)],
            ) from err
        try:
            size = len(json.dumps(data, allow_nan=False, separators=(",", ":")).encode())
        except ValueError as err:
            raise JobValidationError(
                f"{where}: invalid {what}: {err}; expected finite numbers (JSON has no NaN)"
            ) from err
        if size > MAX_PAYLOAD_BYTES:
            raise JobValidationError(
                f"{where}: {what} is {size:,} bytes as JSON; expected at most "
                f"{MAX_PAYLOAD_BYTES:,} (Temporal refuses payloads over 2 MB)"
            )
        return data

    def _handle(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(workflow_id)

    async def _query_open(self, workflow_id: str, query: str, result_type: Any) -> Any:
        """The query's answer, or ``None`` when the instance's workflow is not running.

        Raises :class:`WorkerUnavailableError` when no worker answers within the client's
        ``worker_patience``: without one, Temporal holds a query until its RPC times out.
        """
        try:
            return await asyncio.wait_for(
                self._handle(workflow_id).query(
                    query, result_type=result_type, reject_condition=QueryRejectCondition.NOT_OPEN
                ),
                self._worker_patience.total_seconds(),
            )
        except TimeoutError:
            raise WorkerUnavailableError(
                f"{self.kind} job {self._name!r} instance {workflow_id!r}: {query!r} needs a "
                f"worker polling task queue {self._task_queue!r}, and none answered within "
                f"{self._worker_patience.total_seconds():g} s"
            ) from None
        except Exception as err:
            if is_gone(err):
                return None
            raise translate(err, address=self._address) from err

    async def _status(self, id: str, view_type: type[Any], result_type: type[R]) -> R:
        """``status``: the workflow's answer, its memo summary without a worker, or not found."""
        found = await self._status_view(self.instance_id(id), view_type)
        if found is None:
            return result_type.model_validate({"status": "not_found"})
        view, as_of = found
        result = result_type.model_validate(view, from_attributes=True)
        return result.model_copy(update={"as_of": as_of})

    async def _status_view(
        self, workflow_id: str, view_type: type[T]
    ) -> tuple[T, datetime | None] | None:
        """The ``status`` query's answer and ``None``; ``None`` when the instance does not exist.

        With no worker answering, the summary the workflow keeps in its memo and the time it was
        written instead (see ``StatusResult.as_of``).
        """
        try:
            view: T | None = await self._query_open(workflow_id, "status", view_type)
        except WorkerUnavailableError as no_worker:
            return await self._status_from_memo(workflow_id, view_type, no_worker)
        return None if view is None else (view, None)

    async def _status_from_memo(
        self, workflow_id: str, view_type: type[T], no_worker: WorkerUnavailableError
    ) -> tuple[T, datetime | None] | None:
        try:
            description = await self._handle(workflow_id).describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                return None
            view: T | None = await description.memo_value(STATUS_MEMO, None, type_hint=view_type)
            as_of: datetime | None = await description.memo_value(
                STATUS_AS_OF_MEMO, None, type_hint=datetime
            )
        except Exception as err:
            if is_gone(err):
                return None
            raise translate(err, address=self._address) from err
        if view is None:
            # Started by a version without the summary, or its first workflow task never ran.
            raise no_worker
        return view, as_of

    async def _update_with_start(
        self,
        workflow_id: str,
        run: Any,
        input: Any,
        update: str,
        request: Any,
        result_type: type[T],
    ) -> T:
        """Run ``update`` on the instance, starting it with ``input`` first if it is not running.

        Each attempt gets a start operation of its own: Temporal's cannot be sent twice.
        """
        search_attributes = await self._start_search_attributes()
        try:
            return await self._in_flight.call(
                workflow_id,
                lambda: self._client.execute_update_with_start_workflow(
                    update,
                    request,
                    start_workflow_operation=WithStartWorkflowOperation(
                        run,
                        input,
                        id=workflow_id,
                        task_queue=self._task_queue,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        search_attributes=search_attributes,
                    ),
                    result_type=result_type,
                ),
            )
        except Exception as err:
            raise translate(err, address=self._address) from err

    async def _update_unless_gone(
        self, workflow_id: str, update: str, result_type: type[T], gone: T
    ) -> T:
        """Run ``update`` on the instance; ``gone`` when its workflow is not running."""
        try:
            result: T = await self._in_flight.call(
                workflow_id,
                lambda: self._handle(workflow_id).execute_update(update, result_type=result_type),
            )
        except Exception as err:
            if is_gone(err):
                return gone
            raise translate(err, address=self._address) from err
        return result

    async def _signal_unless_gone(self, workflow_id: str, signal: str) -> bool:
        """Send ``signal`` to the instance; ``False`` when its workflow is not running."""
        try:
            await self._handle(workflow_id).signal(signal)
        except Exception as err:
            if is_gone(err):
                return False
            raise translate(err, address=self._address) from err
        return True

    async def _signal_with_start(
        self, workflow_id: str, run: Any, input: Any, signal: str, payload: Any
    ) -> None:
        """Signal the instance, starting it with ``input`` first if it is not running.

        Signal-with-start signals a running workflow, so "already started" only means that a
        concurrent call started the instance between the server's check and its start (seen on
        the time-skipping server under load); the next attempt finds it running and signals it.
        """
        search_attributes = await self._start_search_attributes()
        for attempt in range(1, SIGNAL_WITH_START_ATTEMPTS + 1):
            try:
                await self._client.start_workflow(
                    run,
                    input,
                    id=workflow_id,
                    task_queue=self._task_queue,
                    search_attributes=search_attributes,
                    start_signal=signal,
                    start_signal_args=[payload],
                )
                return
            except WorkflowAlreadyStartedError as err:
                if attempt == SIGNAL_WITH_START_ATTEMPTS:
                    raise translate(err, address=self._address) from err
                await asyncio.sleep(0.01 * attempt)
            except Exception as err:
                raise translate(err, address=self._address) from err

    async def terminate(self, id: str, reason: str | None = None) -> TerminateResult:
        """Stop the instance at once (a running handler is cancelled), delete it, free its id.

        Where the server supports ``DeleteWorkflowExecution`` (the dev server, a real cluster)
        the running workflow is terminated and its history, state included, deleted in one step.
        Elsewhere (the time-skipping test server) Temporal's terminate ends it and the closed
        run stays in the server's history; through this client it reads as ``not_found``.
        Emits ``job.terminated`` in this process.
        """
        handle = self._handle(self.instance_id(id))
        try:
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                return TerminateResult(terminated=False, reason="not_found")
            if not await self._delete(handle.id, description.run_id):
                await handle.terminate(reason=reason or "terminated by client")
        except Exception as err:
            if is_gone(err):
                return TerminateResult(terminated=False, reason="not_found")
            raise translate(err, address=self._address) from err
        # The workflow cannot report its own end: the event comes from here, once it is done.
        emit(
            "job.terminated",
            instance_id=handle.id,
            id=id,
            job_kind=self.kind,
            job_name=self._name,
            reason=reason,
        )
        return TerminateResult(terminated=True, reason=reason)

    async def _delete(self, workflow_id: str, run_id: str) -> bool:
        """Terminate and delete the run; ``False`` when the server cannot delete."""
        request = DeleteWorkflowExecutionRequest(
            namespace=self._client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
        try:
            await self._client.workflow_service.delete_workflow_execution(request)
        except RPCError as err:
            if err.status == RPCStatusCode.UNIMPLEMENTED:
                return False
            raise
        return True

    async def _start_search_attributes(self) -> TypedSearchAttributes:
        return await self._search_attributes.for_start(self.kind, self._name, self.initial_status)

    @staticmethod
    def _new_token() -> str:
        return uuid.uuid4().hex
