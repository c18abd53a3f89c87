"""The ``jobs_env`` pytest fixture: a Temporal server and a worker for your jobs, per test.

Installed with the package (entry point ``pytest11``), it needs the ``testing`` extra (both
server binaries and pytest-asyncio). Tell it your registry in the pytest configuration::

    [tool.pytest.ini_options]
    durable_jobs = "myapp.jobs:jobs"

or override the ``durable_jobs_registry`` fixture in a ``conftest.py``. Then::

    async def test_batches(jobs_env):
        await jobs_env.client.debounce("webhookBatcher").add(id="c1", event=...)
        await jobs_env.sleep("5 seconds")

``pytest --jobs-env local`` runs every ``jobs_env`` on a dev server (real time, listing) instead
of the time-skipping server; ``@pytest.mark.jobs_env("local")`` does it for one test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest

from durable_jobs._registry import DurableJobs
from durable_jobs.errors import JobsError
from durable_jobs.testing import JobsTestEnvironment
from durable_jobs.worker import load_jobs

ServerKind = Literal["time-skipping", "local"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--jobs-env`` and the ``durable_jobs`` ini option."""
    group = parser.getgroup("durable_jobs")
    group.addoption(
        "--jobs-env",
        choices=["time-skipping", "local"],
        default=None,
        help="server of the jobs_env fixture: time-skipping (default) or local (dev server)",
    )
    parser.addini("durable_jobs", "the registry jobs_env serves, as package.module:attribute")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``jobs_env`` marker."""
    config.addinivalue_line(
        "markers", 'jobs_env(server): "time-skipping" or "local", the server of this jobs_env'
    )


@pytest.fixture
def durable_jobs_registry(request: pytest.FixtureRequest) -> DurableJobs:
    """The registry ``jobs_env`` serves: the ``durable_jobs`` ini option, unless overridden."""
    spec = request.config.getini("durable_jobs")
    if not spec:
        raise pytest.UsageError(
            'jobs_env needs your DurableJobs: set durable_jobs = "package.module:attribute" in '
            "the pytest configuration, or define a durable_jobs_registry fixture"
        )
    try:
        return load_jobs(str(spec))
    except JobsError as err:
        raise pytest.UsageError(f"durable_jobs ini option: {err}") from err


def _server_kind(request: pytest.FixtureRequest) -> ServerKind:
    marker = request.node.get_closest_marker("jobs_env")
    chosen: Any = marker.args[0] if marker and marker.args else None
    chosen = chosen or request.config.getoption("--jobs-env") or "time-skipping"
    if chosen not in ("time-skipping", "local"):
        raise pytest.UsageError(f"jobs_env: server {chosen!r}; expected 'time-skipping' or 'local'")
    kind: ServerKind = chosen
    return kind


async def _jobs_env(
    request: pytest.FixtureRequest, durable_jobs_registry: DurableJobs
) -> AsyncIterator[JobsTestEnvironment]:
    """A Temporal server of this test's own, a worker for the registry, and a client.

    The time-skipping test server by default (time moves in ``jobs_env.sleep``); the dev server
    with ``--jobs-env local`` or ``@pytest.mark.jobs_env("local")``. A server per test, because
    the time-skipping server's clock is global and a workflow that ends while its task or
    activity is outstanding stops it for good (sdk-java #1138): one leaking test would make
    every later sleep take wall-clock time. It starts in about 0.2 s.
    """
    if _server_kind(request) == "local":
        env = await JobsTestEnvironment.start_local(durable_jobs_registry)
    else:
        env = await JobsTestEnvironment.start_time_skipping(durable_jobs_registry)
    try:
        yield env
    finally:
        await env.shutdown()


def _needs_pytest_asyncio() -> None:
    """``jobs_env`` without pytest-asyncio installed: say what to install."""
    raise pytest.UsageError(
        "jobs_env needs pytest-asyncio: pip install 'durable-jobs-temporal[testing]'"
    )


# The plugin loads in every pytest session where the package is installed, so a missing
# pytest-asyncio must not break sessions that never use the fixture.
jobs_env: Any
try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - depends on the installed extras
    jobs_env = pytest.fixture(_needs_pytest_asyncio, name="jobs_env")
else:
    jobs_env = pytest_asyncio.fixture(_jobs_env, name="jobs_env")
