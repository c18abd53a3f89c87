"""Connection settings come from Temporal's environment configuration (issue 7, point 2).

The client (and the worker, which connects through it) read ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE`` and the profiles file the way Temporal's own tools do, so pointing the
same code at another cluster (Temporal Cloud included) needs no code change.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio.testing import WorkflowEnvironment

from durable_jobs import Continuous, DurableJobs, JobsConnectionError, every
from durable_jobs.client import JobsClient
from durable_jobs.context import ContinuousContext


class Nothing(BaseModel):
    pass


async def idle(ctx: ContinuousContext[Nothing]) -> None:
    """Never called in these tests: nothing runs, only the connection matters."""


jobs = DurableJobs(idle=Continuous(state=Nothing, schedule=every("1 day"), execute=idle))


def address_of(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def test_the_address_and_namespace_come_from_the_environment(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", address_of(dev_env))
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "default")
    client = await JobsClient.connect(jobs)
    assert client.temporal_client.service_client.config.target_host == address_of(dev_env)
    assert client.temporal_client.namespace == "default"
    # A round trip to that server: an instance that does not exist reads as not_found.
    status = await client.continuous("idle").status(f"none-{uuid.uuid4().hex[:8]}")
    assert status.status == "not_found"


async def test_a_profile_from_the_config_file_is_used(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(
        f'[profile.staging]\naddress = "{address_of(dev_env)}"\nnamespace = "default"\n'
    )
    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
    client = await JobsClient.connect(jobs, profile="staging")
    assert client.temporal_client.service_client.config.target_host == address_of(dev_env)
    monkeypatch.setenv("TEMPORAL_PROFILE", "staging")  # how the worker process picks one
    client = await JobsClient.connect(jobs)
    assert client.temporal_client.service_client.config.target_host == address_of(dev_env)


async def test_an_unreachable_server_is_a_clear_error_naming_the_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    with pytest.raises(
        JobsConnectionError, match=r"cannot reach Temporal at 127\.0\.0\.1:1"
    ) as caught:
        await JobsClient.connect(jobs)
    assert caught.value.address == "127.0.0.1:1"
