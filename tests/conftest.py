"""Session-wide dev server, per-test ids, and the guard against temporalio's exit crash.

Time-skipping tests start a test server of their own (``JobsTestEnvironment.start_time_skipping``,
about 0.2 s): that server's clock is global, and any workflow that ends while one of its workflow
tasks or activities is outstanding holds the clock still for the rest of the server's life
(sdk-java #1138, #3088), so one leak would slow every later test to wall-clock speed. The dev
server runs in real time and is shared; each test gets a worker on a task queue of its own.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from durable_jobs._servers import dev_server_path, dev_server_search_attribute_args

_exit_status: int | None = None


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """An in-memory dev server (real limits, real time), started from the installed binary."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        dev_server_extra_args=dev_server_search_attribute_args(),
    )
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
