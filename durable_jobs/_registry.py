"""The :class:`DurableJobs` registry: job names to definitions, shared by client and worker."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from durable_jobs._naming import JobKind, check_job_name
from durable_jobs.definitions import Continuous, Debounce, JobDefinition, Task
from durable_jobs.errors import JobDefinitionError, JobNotFoundError

_KINDS: dict[JobKind, type[Any]] = {"continuous": Continuous, "debounce": Debounce, "task": Task}


class DurableJobs:
    """The jobs of an application, by name: ``DurableJobs(tokenRefresher=Continuous(...), ...)``.

    Names with ``-`` can be given in a mapping: ``DurableJobs({"token-refresher": ...})``. A name is
    unique across kinds, and one definition object is registered under one name only.
    """

    def __init__(
        self, definitions: Mapping[str, JobDefinition] | None = None, /, **named: JobDefinition
    ) -> None:
        merged: dict[str, JobDefinition] = {}
        for source in (definitions or {}, named):
            for name, definition in source.items():
                check_job_name(name)
                if name in merged:
                    raise JobDefinitionError(f"job name {name!r} is registered twice")
                if not isinstance(definition, (Continuous, Debounce, Task)):
                    raise JobDefinitionError(
                        f"job {name!r}: got {definition!r}; expected Continuous, Debounce or Task"
                    )
                merged[name] = definition
        names_by_object: dict[int, str] = {}
        for name, definition in merged.items():
            other = names_by_object.setdefault(id(definition), name)
            if other != name:
                raise JobDefinitionError(
                    f"one definition is registered as both {other!r} and {name!r}; "
                    "build one definition per name"
                )
        self._definitions = merged
        self._names = names_by_object

    def __iter__(self) -> Iterator[str]:
        return iter(self._definitions)

    def __len__(self) -> int:
        return len(self._definitions)

    def __contains__(self, name: object) -> bool:
        return name in self._definitions

    def items(self) -> Iterator[tuple[str, JobDefinition]]:
        """The registered ``(name, definition)`` pairs."""
        return iter(self._definitions.items())

    def get(self, kind: JobKind, name_or_definition: str | JobDefinition) -> tuple[str, Any]:
        """The ``(name, definition)`` of a job of ``kind``, looked up by name or by definition.

        Raises :class:`JobNotFoundError` for an unknown job or one of another kind.
        """
        if isinstance(name_or_definition, str):
            name = name_or_definition
            definition = self._definitions.get(name)
        else:
            found = self._names.get(id(name_or_definition))
            if found is None:
                raise JobNotFoundError(
                    f"{kind} job definition {name_or_definition!r} is not registered; "
                    f"registered jobs: {sorted(self._definitions)}"
                )
            name, definition = found, name_or_definition
        if definition is None:
            raise JobNotFoundError(
                f"no job named {name!r}; registered {kind} jobs: {self.names(kind)}"
            )
        if not isinstance(definition, _KINDS[kind]):
            raise JobNotFoundError(
                f"job {name!r} is a {definition.kind} job, not a {kind} job; "
                f"registered {kind} jobs: {self.names(kind)}"
            )
        return name, definition

    def names(self, kind: JobKind) -> list[str]:
        """The sorted names of the registered jobs of ``kind``."""
        return sorted(n for n, d in self._definitions.items() if d.kind == kind)


_registries_by_task_queue: dict[str, DurableJobs] = {}


def bind_task_queue(task_queue: str, jobs: DurableJobs) -> None:
    """Make ``jobs`` the registry that workflows on ``task_queue`` in this process consult.

    Workflows run pure user code (Debounce reducers) in the workflow itself and find it here.
    Called by ``build_worker``; the last worker built for a task queue wins.
    """
    _registries_by_task_queue[task_queue] = jobs


def registry_for_task_queue(task_queue: str) -> DurableJobs:
    """The registry bound to ``task_queue`` by the worker running in this process."""
    jobs = _registries_by_task_queue.get(task_queue)
    if jobs is None:
        raise JobNotFoundError(f"no worker in this process serves task queue {task_queue!r}")
    return jobs
