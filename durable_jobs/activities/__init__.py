"""The activities: the one that runs user handlers, and the one that emits step events."""

from durable_jobs.activities.run_handler import HandlerActivities
from durable_jobs.activities.step_events import emit_step_events

__all__ = ["HandlerActivities", "emit_step_events"]
