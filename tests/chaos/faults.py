"""Infrastructure faults injected inside a worker: failed workflow tasks, failed activity attempts.

``FaultInjector`` is a ``temporalio.worker.Interceptor``; give it to a worker with
``build_worker(..., interceptors=[FaultInjector(...)])``.

- Workflow tasks: a share of the workflow tasks that carry a signal, an update or a run's start
  fail by a plain exception, raised before the handler runs or after it returned. A plain
  exception fails the task, never the workflow: Temporal hands the task out again, the worker
  replays the history (the failed task left nothing in it) and applies the messages again.
  Only live work fails (``not workflow.unsafe.is_replaying()``), and a task that failed once
  is not failed again by this injector, so every instance makes progress.
- Activity attempts: a share of the handler activity's attempts fail before the handler runs,
  and a share after it ran (the handler's work is done but Temporal sees a failure and runs it
  again). The library's handler activity answers user failures as outcomes, so to Temporal this
  is an infrastructure fault, retried by its retry policy. Local activities (the library's
  step events) are left alone: their failures only lose log events.

Every fault is counted, and written as a line to ``log_path`` when one is given (one file per
worker process: the harness kills workers with SIGKILL and reads what they wrote).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from temporalio import activity, workflow
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

Point = Literal["before", "after"]

_REMEMBERED_TASKS = 10_000
"""Failed workflow tasks remembered so that their retry is let through (oldest forgotten)."""

_SWITCH_CHECK_EVERY = 0.2
"""Seconds between looks at the off switch (a file): a stat per message would be too many."""


class InjectedFaultError(Exception):
    """A fault the chaos harness injected; never a real failure."""


@dataclass(frozen=True)
class FaultRates:
    """The share of workflow tasks and of activity attempts failed (0 to 1 each)."""

    workflow_task: float = 0.0
    activity_before: float = 0.0
    activity_after: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FaultRates:
        return cls(**json.loads(text))


class FaultInjector(Interceptor):
    """Fails workflow tasks and activity attempts at random, at ``rates``.

    ``off_switch``: once that file exists, nothing more is failed (the harness's "faults stop").
    """

    def __init__(
        self,
        rates: FaultRates,
        *,
        seed: int | None = None,
        log_path: Path | None = None,
        off_switch: Path | None = None,
    ) -> None:
        self.rates = rates
        self.counts: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()  # workflow tasks run on several threads
        self._failed_tasks: OrderedDict[tuple[str, str, int], None] = OrderedDict()
        self._log_path = log_path
        self._off_switch = off_switch
        self._off = False
        self._switch_checked = 0.0

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityFaults(next, self)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        # Workflow interceptors are built by class: bind this injector to one.
        return type("WorkflowFaults", (_WorkflowFaults,), {"injector": self})

    def active(self) -> bool:
        if self._off or self._off_switch is None:
            return not self._off
        now = time.monotonic()
        if now - self._switch_checked > _SWITCH_CHECK_EVERY:
            self._switch_checked = now
            self._off = self._off_switch.exists()
        return not self._off

    def draw(self, share: float) -> bool:
        """True with probability ``share`` while faults are on."""
        if share <= 0 or not self.active():
            return False
        with self._lock:
            return self._random.random() < share

    def workflow_task_fault(self, task: tuple[str, str, int]) -> Point | None:
        """Whether (and where) to fail workflow task ``task`` (workflow ID, run ID, history
        length at its start); a task already failed once is let through."""
        if task in self._failed_tasks or not self.draw(self.rates.workflow_task):
            return None
        with self._lock:
            self._failed_tasks[task] = None
            while len(self._failed_tasks) > _REMEMBERED_TASKS:
                self._failed_tasks.popitem(last=False)
            point: Point = "before" if self._random.random() < 0.5 else "after"
        return point

    def record(self, fault: str) -> None:
        with self._lock:
            self.counts[fault] += 1
            if self._log_path is not None:
                fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, f"{fault}\n".encode())
                finally:
                    os.close(fd)


def read_fault_logs(paths: list[Path]) -> Counter[str]:
    """The faults recorded in ``paths``, by name (a torn last line is skipped)."""
    counts: Counter[str] = Counter()
    for path in paths:
        text = path.read_text()
        lines = text.split("\n")
        counts.update(line for line in lines[:-1] if line)
    return counts


class _WorkflowFaults(WorkflowInboundInterceptor):
    injector: ClassVar[FaultInjector]

    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self._last_task: tuple[str, str, int] | None = None

    def _decide(self) -> Point | None:
        """The fault for the current workflow task, decided at its first message (else None)."""
        if workflow.unsafe.is_replaying():
            return None
        info = workflow.info()
        task = (info.workflow_id, info.run_id, info.get_current_history_length())
        if task == self._last_task:
            return None
        self._last_task = task
        with workflow.unsafe.sandbox_unrestricted():  # the off switch is a file
            return self.injector.workflow_task_fault(task)

    def _fail(self, where: str, point: Point) -> None:
        if workflow.unsafe.is_replaying():
            return
        with workflow.unsafe.sandbox_unrestricted():
            self.injector.record(f"workflow_task.{where}.{point}")
        raise InjectedFaultError(f"chaos: workflow task failed {point} {where}")

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        if self._decide() is not None:
            self._fail("start", "before")
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        point = self._decide()
        if point == "before":
            self._fail("signal", point)
        await super().handle_signal(input)
        if point == "after":
            self._fail("signal", point)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        # Not the validator: an exception there rejects the update, which is the caller's error.
        point = self._decide()
        if point == "before":
            self._fail("update", point)
        result = await super().handle_update_handler(input)
        if point == "after":
            self._fail("update", point)
        return result


class _ActivityFaults(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, injector: FaultInjector) -> None:
        super().__init__(next)
        self._injector = injector

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if activity.info().is_local:
            return await super().execute_activity(input)
        rates = self._injector.rates
        if self._injector.draw(rates.activity_before):
            self._injector.record("activity.before")
            raise InjectedFaultError("chaos: activity attempt failed before the handler ran")
        result = await super().execute_activity(input)
        if self._injector.draw(rates.activity_after):
            self._injector.record("activity.after")
            raise InjectedFaultError("chaos: activity attempt failed after the handler ran")
        return result
