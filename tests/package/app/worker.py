"""The application's own worker: its workflow and activity, and the jobs through the plugin."""

from __future__ import annotations

from activities.greet import compose_greeting
from client import TASK_QUEUE
from myjobs import jobs
from temporalio.client import Client
from temporalio.worker import Worker
from workflows.greeting import GreetingWorkflow

from durable_jobs import DurableJobsPlugin


async def connect(target_host: str) -> Client:
    """A client with the jobs plugin: every worker built on it hosts the jobs too."""
    return await Client.connect(target_host, plugins=[DurableJobsPlugin(jobs)])


def app_worker(client: Client) -> Worker:
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[GreetingWorkflow],
        activities=[compose_greeting],
    )
