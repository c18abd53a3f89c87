"""The wire types keep evaluated annotations, which temporalio's converter resolves per call."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

MODULES = [
    "durable_jobs.protocol",
    "durable_jobs.protocol.activities",
    "durable_jobs.protocol.continuous",
    "durable_jobs.protocol.debounce",
    "durable_jobs.protocol.task",
    "durable_jobs.retry",  # RetryPlan travels in every job's spec
    "durable_jobs.schedules",  # and Schedule in a Continuous one's
]


@pytest.mark.parametrize("name", MODULES)
def test_wire_dataclasses_have_evaluated_annotations(name: str) -> None:
    module = importlib.import_module(name)
    classes = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if dataclasses.is_dataclass(c) and c.__module__ == module.__name__
    ]
    assert classes, module.__name__
    for cls in classes:
        strings = {k: v for k, v in cls.__annotations__.items() if isinstance(v, str)}
        assert not strings, f"{cls.__qualname__} has string annotations: {strings}"
