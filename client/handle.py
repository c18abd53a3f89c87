"""What every per-kind handle shares: ids, validation, queries on open instances, terminate.

A handle validates everything in the client before anything is sent (SPEC §5) and answers "not
found" in results instead of raising.
"""

from __future__ import annotations

import uuid
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError
from temporalio.client import Client, WorkflowHandle
from temporalio.common import QueryRejectCondition

from client._temporal_errors import is_gone, translate
from client.results import TerminateResult
from jobs.errors import JobValidationError
from jobs.naming import JobKind, check_user_id, instance_id

D = TypeVar("D")
T = TypeVar("T")


class JobHandle(Generic[D]):
    """Base of the per-kind handles: one job (a name and its definition) on one Temporal client."""

    kind: JobKind

    def __init__(
        self, *, temporal_client: Client, task_queue: str, name: str, definition: D, address: str
    ) -> None:
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
        """``value`` checked against ``type_`` and turned into JSON-ready data."""
        adapter: TypeAdapter[Any] = TypeAdapter(type_)
        try:
            model = adapter.validate_python(value)
            return adapter.dump_python(model, mode="json")
        except ValidationError as err:
            raise JobValidationError(
                f"{self.kind} job {self._name!r} id {id!r}: invalid {what}; expected "
                f"{getattr(type_, '__name__', type_)}: {err}",
                errors=[dict(e) for e in err.errors(include_url=False)],
            ) from err

    def _typed(self, type_: Any, data: Any) -> Any:
        return TypeAdapter(type_).validate_python(data)

    def _handle(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(workflow_id)

    async def _query_open(self, workflow_id: str, query: str, result_type: Any) -> Any:
        """The query's answer, or ``None`` when the instance's workflow is not running."""
        try:
            return await self._handle(workflow_id).query(
                query, result_type=result_type, reject_condition=QueryRejectCondition.NOT_OPEN
            )
        except Exception as err:
            if is_gone(err):
                return None
            raise translate(err, address=self._address) from err

    async def terminate(self, id: str, reason: str | None = None) -> TerminateResult:
        """Stop the instance at once (a running handler is cancelled) and free its id."""
        workflow_id = self.instance_id(id)
        try:
            await self._handle(workflow_id).terminate(reason=reason or "terminated by client")
        except Exception as err:
            if is_gone(err):
                return TerminateResult(terminated=False, reason="not_found")
            raise translate(err, address=self._address) from err
        return TerminateResult(terminated=True, reason=reason)

    @staticmethod
    def _new_token() -> str:
        return uuid.uuid4().hex
