"""The application's own client module: it shares its name with the library's old top level."""

from __future__ import annotations

from myjobs import jobs
from temporalio.client import Client
from workflows.greeting import GreetingWorkflow

from durable_jobs import JobsClient

TASK_QUEUE = "app"


async def greet(client: Client, name: str) -> str:
    return await client.execute_workflow(
        GreetingWorkflow.run, name, id=f"greeting-{name}", task_queue=TASK_QUEUE
    )


def jobs_client(client: Client) -> JobsClient:
    return JobsClient.from_client(client, jobs, task_queue=TASK_QUEUE)
