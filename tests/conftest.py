"""Session-wide Temporal servers and the guard against temporalio's exit crash.

One time-skipping test server serves the whole session (its clock is global, so tests that use it
run one at a time, as pytest does); each test gets a worker on a task queue of its own.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from jobs.servers import dev_server_path, test_server_path

_exit_status: int | None = None


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, started from the installed binary."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path()
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """An in-memory dev server (real limits, real time), started from the installed binary."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=dev_server_path())
    yield env
    await env.shutdown()


@pytest.fixture
def uid(request: pytest.FixtureRequest) -> str:
    """A user id of the test's own: instances of earlier tests live on in the shared server."""
    return f"{request.node.name}-{uuid.uuid4().hex[:8]}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    # temporalio's bridge threads can abort the interpreter at exit ("PyGILState_Release",
    # sdk-python issue 300); leave with pytest's own status before that can happen.
    if _exit_status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
