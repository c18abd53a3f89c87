"""What every per-kind handle shares: ids, validation, call identities, waiting, queries,
status, terminate.

A handle validates everything in the client before anything is sent (SPEC §5) and answers "not
found" in results instead of raising. Every call gets one identity (its update ID, and the
``call`` in its payload) that every resend reuses, plus the caller's ``idempotency_key``, so
the instance applies it once (SPEC §10.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from temporalio.api.batch.v1 import BatchOperationTermination
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import BatchOperationState, EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    DescribeBatchOperationRequest,
    DescribeTaskQueueRequest,
    GetWorkflowExecutionHistoryReverseRequest,
    StartBatchOperationRequest,
)
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionDescription,
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

from durable_jobs._models import json_size, to_data, type_name
from durable_jobs._naming import JobKind, check_user_id, instance_id
from durable_jobs._state import StoredStateError, load_state
from durable_jobs.client._in_flight import InFlightLimit
from durable_jobs.client._search_attributes import JobSearchAttributes
from durable_jobs.client._temporal_errors import is_gone, translate
from durable_jobs.client.results import (
    InstanceSummary,
    ProblemInfo,
    StatusResult,
    TerminateResult,
)
from durable_jobs.definitions import JobDefinition
from durable_jobs.durations import Duration, parse_duration
from durable_jobs.errors import (
    CallTimeoutError,
    JobsError,
    JobValidationError,
    WorkerUnavailableError,
)
from durable_jobs.events import emit
from durable_jobs.protocol import (
    JOB_STATUS,
    MAX_EVENT_BYTES,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_STATE_BYTES,
    STATUS_AS_OF_MEMO,
    STATUS_MEMO,
    Call,
)

SIGNAL_WITH_START_ATTEMPTS = 5
"""Tries of one ``*_nowait`` call that races a concurrent start of the same instance."""

TERMINATE_ROUNDS = 10
"""How many runs ``terminate`` follows: each round ends the run that is current then."""

D = TypeVar("D", bound=JobDefinition)
T = TypeVar("T")
R = TypeVar("R", bound=StatusResult)


def _update_id(call: Call, round: int) -> str:
    """The update ID of a call in its ``round``-th sending after give-backs (see InFlightLimit)."""
    return call.id if round == 0 else f"{call.id}.{round}"


class JobHandle(Generic[D]):
    """Base of the per-kind handles: one job (a name and its definition) on one Temporal client."""

    kind: JobKind
    initial_status: str
    """The status a new instance starts with, for the ``JobStatus`` search attribute."""
    statuses: tuple[str, ...]
    """The statuses a running instance of this kind can have."""

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

    # --- validation -----------------------------------------------------------------------

    def _where(self, id: str) -> str:
        return f"{self.kind} job {self._name!r} id {id!r}"

    def _validate(self, type_: Any, value: Any, *, what: str, id: str) -> Any:
        """``value`` checked against ``type_`` and turned into JSON-ready data for Temporal.

        Refused here, before anything is sent: what the model refuses, numbers JSON cannot
        carry (NaN, infinity), and data over the payload budget (an input is the instance's
        first state: ``MAX_STATE_BYTES``; an event: ``MAX_EVENT_BYTES``).
        """
        try:
            data = to_data(type_, value)
        except ValidationError as err:
            raise JobValidationError(
                f"{self._where(id)}: invalid {what}; expected {type_name(type_)}: {err}",
                errors=[dict(e) for e in err.errors(include_url=False)],
            ) from err
        try:
            size = json_size(data)
        except ValueError as err:
            raise JobValidationError(
                f"{self._where(id)}: invalid {what}: {err}; expected finite numbers (JSON has no NaN)"
            ) from err
        limit = MAX_STATE_BYTES if what == "input" else MAX_EVENT_BYTES
        if size > limit:
            raise JobValidationError(
                f"{self._where(id)}: {what} is {size:,} bytes as JSON; expected at most "
                f"{limit:,} (the instance keeps under Temporal's 2 MB payload limit)"
            )
        return data

    def _new_call(self, id: str, idempotency_key: str | None) -> Call:
        """A fresh call identity; the key, when given, must be a non-empty short string."""
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str)
            or not idempotency_key
            or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH
        ):
            raise JobValidationError(
                f"{self._where(id)}: idempotency_key {idempotency_key!r} is invalid; expected a "
                f"non-empty string of at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
            )
        return Call(id=uuid.uuid4().hex, idempotency_key=idempotency_key)

    # --- waiting ----------------------------------------------------------------------------

    async def _wait(
        self,
        workflow_id: str,
        timeout: Duration | None,
        make_call: Callable[[], Coroutine[Any, Any, T]],
    ) -> T:
        """Run a waiting call within ``timeout``, failing early when no worker polls at all.

        Every ``worker_patience`` without an answer, the task queue is asked whether a worker
        polls it; if none does, the call fails with :class:`WorkerUnavailableError` (it stays
        with Temporal and is applied once a worker polls). A timeout raises
        :class:`CallTimeoutError`. Either way, sending the call again with the same
        ``idempotency_key`` is safe.
        """
        limit = None if timeout is None else parse_duration(timeout, what="timeout")
        running = asyncio.ensure_future(make_call())
        try:
            async with asyncio.timeout(None if limit is None else limit.total_seconds()) as cm:
                while True:
                    done, _ = await asyncio.wait(
                        {running}, timeout=self._worker_patience.total_seconds()
                    )
                    if done:
                        return running.result()
                    if not await self._worker_polls():
                        raise WorkerUnavailableError(
                            f"{self.kind} job {self._name!r} instance {workflow_id!r}: no worker "
                            f"polls task queue {self._task_queue!r}; the call stays with Temporal "
                            "and is applied when a worker polls (unless the server restarts "
                            "first); sending it again with the same idempotency_key is safe"
                        )
        except TimeoutError:
            if not cm.expired():
                raise
            raise CallTimeoutError(
                f"{self.kind} job {self._name!r} instance {workflow_id!r}: no answer within "
                f"the timeout of {limit}; the call may still be applied, and sending it again "
                "with the same idempotency_key is safe"
            ) from None
        finally:
            if not running.done():
                running.cancel()
                with contextlib.suppress(BaseException):
                    await running

    async def _worker_polls(self, *, unknown: bool = True) -> bool:
        """True when some worker has polled the task queue lately; ``unknown`` when the server
        cannot say (a waiting call goes on waiting then; a query gives up)."""
        try:
            response = await self._client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self._client.namespace,
                    task_queue=TaskQueue(name=self._task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
        except RPCError:
            return unknown
        return bool(response.pollers)

    # --- queries and status -------------------------------------------------------------

    def _load_state(self, id: str, data: Any, version: int) -> Any:
        """Stored state as the job's current model (older versions go through ``migrate``)."""
        try:
            return load_state(self._definition, data, version)
        except StoredStateError as err:
            raise JobsError(f"{self._where(id)}: {err}") from err

    def _handle(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(workflow_id)

    async def _query_open(self, workflow_id: str, query: str, result_type: Any) -> Any:
        """The query's answer, or ``None`` when the instance's workflow is not running.

        Raises :class:`WorkerUnavailableError` when no answer came within the client's
        ``worker_patience`` and no worker polls the task queue: without one, Temporal holds a
        query until its RPC times out. While a worker polls, a busy instance (a backlog of
        calls ahead of the query) is waited for, as waiting calls are.
        """
        answer = asyncio.ensure_future(
            self._handle(workflow_id).query(
                query, result_type=result_type, reject_condition=QueryRejectCondition.NOT_OPEN
            )
        )
        try:
            while True:
                done, _ = await asyncio.wait(
                    {answer}, timeout=self._worker_patience.total_seconds()
                )
                if done:
                    return answer.result()
                if not await self._worker_polls(unknown=False):
                    raise WorkerUnavailableError(
                        f"{self.kind} job {self._name!r} instance {workflow_id!r}: {query!r} "
                        f"needs a worker polling task queue {self._task_queue!r}, and none "
                        f"answered within {self._worker_patience.total_seconds():g} s"
                    )
        except WorkerUnavailableError:
            raise
        except RPCError as err:
            if err.status == RPCStatusCode.FAILED_PRECONDITION:
                # Temporal's "no poller seen for task queue recently" (the worker stopped) or
                # "workflow task in failed state": no worker can answer for the instance now.
                raise WorkerUnavailableError(
                    f"{self.kind} job {self._name!r} instance {workflow_id!r}: {query!r} needs a "
                    f"worker polling task queue {self._task_queue!r}, and Temporal says: "
                    f"{err.message} (status shows a workflow task that keeps failing)"
                ) from err
            if is_gone(err):
                return None
            raise translate(err, address=self._address) from err
        except Exception as err:
            if is_gone(err):
                return None
            raise translate(err, address=self._address) from err
        finally:
            answer.cancel()

    async def _status(self, id: str, view_type: type[Any], result_type: type[R]) -> R:
        """``status``: the workflow's answer (its memo summary without a worker), or not found.

        A healthy instance costs one query. Only when no worker answers (none polls, or the
        instance's workflow task keeps failing, which Temporal answers ``FAILED_PRECONDITION``
        to) is the workflow described: for its memo summary and the ``problem``.
        """
        workflow_id = self.instance_id(id)
        try:
            view = await self._query_open(workflow_id, "status", view_type)
        except WorkerUnavailableError as no_worker:
            return await self._status_without_worker(workflow_id, view_type, result_type, no_worker)
        if view is None:
            return result_type.model_validate({"status": "not_found"})
        return result_type.model_validate(view, from_attributes=True)

    async def _status_without_worker(
        self,
        workflow_id: str,
        view_type: type[Any],
        result_type: type[R],
        no_worker: WorkerUnavailableError,
    ) -> R:
        """The memo summary, stamped with when the workflow wrote it, and the ``problem``."""
        description = await self._describe(workflow_id)
        if description is None or description.status != WorkflowExecutionStatus.RUNNING:
            return result_type.model_validate({"status": "not_found"})
        try:
            view = await description.memo_value(STATUS_MEMO, None, type_hint=view_type)
            as_of = await description.memo_value(STATUS_AS_OF_MEMO, None, type_hint=datetime)
        except KeyError as err:
            raise translate(err, address=self._address) from err
        if view is None:
            raise no_worker
        result = result_type.model_validate(view, from_attributes=True)
        problem = await self._problem(description)
        return result.model_copy(update={"as_of": as_of, "problem": problem})

    async def _describe(self, workflow_id: str) -> WorkflowExecutionDescription | None:
        try:
            return await self._handle(workflow_id).describe()
        except Exception as err:
            if is_gone(err):
                return None
            raise translate(err, address=self._address) from err

    async def _problem(self, description: WorkflowExecutionDescription) -> ProblemInfo | None:
        """The last workflow task failure, when the instance's workflow task keeps failing."""
        raw = description.raw_description
        if not raw.HasField("pending_workflow_task"):
            return None
        attempt = raw.pending_workflow_task.attempt
        if attempt < 2:
            return None
        message = "its workflow task keeps failing"
        with contextlib.suppress(RPCError):
            history = await self._client.workflow_service.get_workflow_execution_history_reverse(
                GetWorkflowExecutionHistoryReverseRequest(
                    namespace=self._client.namespace,
                    execution=WorkflowExecution(
                        workflow_id=description.id, run_id=description.run_id
                    ),
                    maximum_page_size=50,
                )
            )
            for event in history.history.events:
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failure = event.workflow_task_failed_event_attributes.failure
                    message = failure.message or message
                    break
        return ProblemInfo(message=message, attempt=attempt)

    # --- sending ---------------------------------------------------------------------------

    def _summary_memo(self, first_summary: tuple[Any, datetime]) -> dict[str, Any] | None:
        """The memo a new instance starts with: its first status summary, as of the call's time,
        written by the start request itself (no workflow task needed). None for a job that
        does not publish its status: a summary it would never update would mislead."""
        if not self._definition.publish_status:
            return None
        view, as_of = first_summary
        return {STATUS_MEMO: view, STATUS_AS_OF_MEMO: as_of}

    async def _update_with_start(
        self,
        workflow_id: str,
        run: Any,
        input: Any,
        update: str,
        request: Any,
        result_type: type[T],
        *,
        first_summary: tuple[Any, datetime],
        timeout: Duration | None,
    ) -> T:
        """Run ``update`` on the instance, starting it with ``input`` first if it is not running.

        Each attempt gets a start operation of its own (Temporal's cannot be sent twice) and
        the same update ID: the call's id.
        """
        search_attributes = await self._start_search_attributes()
        call: Call = request.call

        async def attempt(round: int) -> T:
            result: T = await self._client.execute_update_with_start_workflow(
                update,
                request,
                start_workflow_operation=WithStartWorkflowOperation(
                    run,
                    input,
                    id=workflow_id,
                    task_queue=self._task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    search_attributes=search_attributes,
                    memo=self._summary_memo(first_summary),
                ),
                id=_update_id(call, round),
                result_type=result_type,
            )
            return result

        return await self._send_update(workflow_id, attempt, timeout)

    async def _update_unless_gone(
        self,
        workflow_id: str,
        update: str,
        request: Any,
        result_type: type[T],
        gone: T,
        *,
        timeout: Duration | None,
    ) -> T:
        """Run ``update`` on the instance; ``gone`` when its workflow is not running."""
        call: Call = request.call

        async def attempt(round: int) -> T:
            try:
                result: T = await self._handle(workflow_id).execute_update(
                    update, request, id=_update_id(call, round), result_type=result_type
                )
            except Exception as err:
                if is_gone(err):
                    return gone
                raise
            return result

        return await self._send_update(workflow_id, attempt, timeout)

    async def _send_update(
        self, workflow_id: str, attempt: Callable[[int], Awaitable[T]], timeout: Duration | None
    ) -> T:
        async def resent_while_given_back() -> T:
            try:
                return await self._in_flight.call(workflow_id, attempt)
            except Exception as err:
                raise translate(err, address=self._address) from err

        return await self._wait(workflow_id, timeout, resent_while_given_back)

    async def _signal_unless_gone(self, workflow_id: str, signal: str, request: Any) -> bool:
        """Send ``signal`` to the instance; ``False`` when its workflow is not running."""
        try:
            await self._handle(workflow_id).signal(signal, request)
        except Exception as err:
            if is_gone(err):
                return False
            raise translate(err, address=self._address) from err
        return True

    async def _signal_with_start(
        self,
        workflow_id: str,
        run: Any,
        input: Any,
        signal: str,
        request: Any,
        *,
        first_summary: tuple[Any, datetime],
    ) -> None:
        """Signal the instance, starting it with ``input`` first if it is not running.

        Signal-with-start signals a running workflow, so "already started" only means that a
        concurrent call started the instance between the server's check and its start (seen on
        the time-skipping server under load); the next attempt finds it running and signals it.
        The request carries the call's identity, so the instance drops a signal it already has.
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
                    memo=self._summary_memo(first_summary),
                    start_signal=signal,
                    start_signal_args=[request],
                )
                return
            except WorkflowAlreadyStartedError as err:
                if attempt == SIGNAL_WITH_START_ATTEMPTS:
                    raise translate(err, address=self._address) from err
                await asyncio.sleep(0.01 * attempt)
            except Exception as err:
                raise translate(err, address=self._address) from err

    # --- terminate -------------------------------------------------------------------------

    async def terminate(self, id: str, reason: str | None = None) -> TerminateResult:
        """Stop the instance at once (a running handler is cancelled), delete it, free its id.

        Where the server supports ``DeleteWorkflowExecution`` (the dev server, a real cluster)
        the running workflow is terminated and its history, state included, deleted in one step.
        Elsewhere (the time-skipping test server) Temporal's terminate ends it and the closed
        run stays in the server's history; through this client it reads as ``not_found``.
        ``terminated=True`` means no run of the instance is running any more, whichever run was
        current (one that continued as new meanwhile is followed). Emits ``job.terminated`` in
        this process.
        """
        workflow_id = self.instance_id(id)
        handle = self._handle(workflow_id)
        terminated = False
        try:
            for _ in range(TERMINATE_ROUNDS):
                description = await handle.describe()
                if description.status != WorkflowExecutionStatus.RUNNING:
                    break
                if not await self._delete(workflow_id, description.run_id):
                    await handle.terminate(reason=reason or "terminated by client")
                terminated = True
            else:
                raise JobsError(
                    f"{self._where(id)}: still running after {TERMINATE_ROUNDS} rounds of "
                    "terminate (each run continued as new before it was stopped); try again"
                )
        except Exception as err:
            if not is_gone(err):
                raise translate(err, address=self._address) from err
        if not terminated:
            return TerminateResult(terminated=False, reason="not_found")
        # The workflow cannot report its own end: the event comes from here, once it is done.
        emit(
            "job.terminated",
            instance_id=workflow_id,
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
            if err.status == RPCStatusCode.NOT_FOUND:
                return True  # that run is already gone: look again
            raise
        return True

    # --- many instances at once (visibility and batch operations) -------------------------

    async def visibility_query(self, status: str | None = None) -> str:
        """The visibility query of this job's running instances (with ``status``, only those).

        A status needs the job search attributes in the namespace (``durable-jobs
        search-attributes``); without them this raises :class:`JobsError` saying so.
        """
        prefix = instance_id(self.kind, self._name, "")
        query = f'WorkflowId STARTS_WITH "{prefix}" AND ExecutionStatus = "Running"'
        if status is None:
            return query
        if status not in self.statuses:
            raise JobValidationError(
                f"{self.kind} job {self._name!r}: status {status!r}; expected one of "
                f"{self.statuses}"
            )
        if not self._definition.publish_status:
            raise JobValidationError(
                f"{self.kind} job {self._name!r} is defined with publish_status=False: its "
                f"instances do not publish their status, so none can be found by status "
                f"{status!r}; expected status=None, or publish_status=True on the definition "
                "(for instances started after it)"
            )
        if not await self._search_attributes.registered():
            raise JobsError(
                f"listing {self.kind} job {self._name!r} by status needs the search attributes "
                f"JobKind, JobName and JobStatus in namespace {self._client.namespace!r}; add "
                "them with 'durable-jobs search-attributes'"
            )
        return f'{query} AND {JOB_STATUS.name} = "{status}"'

    async def list(self, status: str | None = None) -> AsyncIterator[InstanceSummary]:
        """This job's running instances (each once), with the status of their memo summary
        (``""`` for a job defined with ``publish_status=False``).

        Through Temporal visibility: the dev server or a cluster (the time-skipping test server
        cannot list), eventually consistent (a new instance shows within about a second).
        """
        query = await self.visibility_query(status)
        prefix = instance_id(self.kind, self._name, "")
        try:
            async for execution in self._client.list_workflows(query):
                try:
                    summary = (await execution.memo()).get(STATUS_MEMO) or {}
                except KeyError as err:
                    raise translate(err, address=self._address) from err
                yield InstanceSummary(
                    id=execution.id.removeprefix(prefix),
                    instance_id=execution.id,
                    status=str(summary.get("status", "")),
                )
        except RPCError as err:
            raise self._visibility_error(err) from err

    async def count(self, status: str | None = None) -> int:
        """How many running instances this job has (with ``status``, how many have it)."""
        query = await self.visibility_query(status)
        try:
            return (await self._client.count_workflows(query)).count
        except RPCError as err:
            raise self._visibility_error(err) from err

    async def terminate_all(
        self,
        status: str | None = None,
        reason: str | None = None,
        *,
        timeout: Duration = timedelta(minutes=5),
    ) -> int:
        """Terminate every running instance of this job (with ``status``, those that have it).

        One Temporal batch operation does it; this waits for it (at most ``timeout``) and
        returns how many instances it terminated. Emits ``job.terminated`` for each instance
        the listing before it found. Unlike :meth:`terminate` the histories are kept until the
        namespace's retention removes them; the ids are free for new instances at once.
        """
        query = await self.visibility_query(status)
        listed = [summary async for summary in self.list(status)]
        job_id = f"durable-jobs-terminate-{uuid.uuid4().hex}"
        reason = reason or f"terminate_all of {self.kind} job {self._name!r}"
        service = self._client.workflow_service
        try:
            await service.start_batch_operation(
                StartBatchOperationRequest(
                    namespace=self._client.namespace,
                    job_id=job_id,
                    visibility_query=query,
                    reason=reason,
                    termination_operation=BatchOperationTermination(identity=self._client.identity),
                )
            )
            deadline = asyncio.get_running_loop().time() + parse_duration(timeout).total_seconds()
            while True:
                batch = await service.describe_batch_operation(
                    DescribeBatchOperationRequest(namespace=self._client.namespace, job_id=job_id)
                )
                if batch.state != BatchOperationState.BATCH_OPERATION_STATE_RUNNING:
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise CallTimeoutError(
                        f"{self.kind} job {self._name!r}: batch operation {job_id!r} still runs "
                        f"after {timeout}; it goes on in Temporal"
                    )
                await asyncio.sleep(0.2)
        except RPCError as err:
            raise self._visibility_error(err) from err
        if batch.state != BatchOperationState.BATCH_OPERATION_STATE_COMPLETED:
            raise JobsError(
                f"{self.kind} job {self._name!r}: batch operation {job_id!r} ended "
                f"{BatchOperationState.Name(batch.state)} after {batch.complete_operation_count} "
                f"of {batch.total_operation_count} instances ({batch.failure_operation_count} "
                "failed)"
            )
        for summary in listed:
            emit(
                "job.terminated",
                instance_id=summary.instance_id,
                id=summary.id,
                job_kind=self.kind,
                job_name=self._name,
                reason=reason,
            )
        return int(batch.complete_operation_count)

    def _visibility_error(self, err: RPCError) -> BaseException:
        if err.status == RPCStatusCode.UNIMPLEMENTED:
            return JobsError(
                f"{self.kind} job {self._name!r}: listing instances needs Temporal visibility "
                "(the dev server or a cluster); this server cannot list (the time-skipping test "
                "server cannot)"
            )
        return translate(err, address=self._address)

    async def _start_search_attributes(self) -> TypedSearchAttributes:
        status = self.initial_status if self._definition.publish_status else None
        return await self._search_attributes.for_start(self.kind, self._name, status)
