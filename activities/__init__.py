"""The activities that run user handlers and hand back state and commands."""

from activities.run_handler import HandlerActivities

__all__ = ["HandlerActivities"]
