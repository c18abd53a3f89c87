"""The instances a client has recently seen running, so its calls to them skip the start.

A call that may create its instance is an update-with-start (or a signal-with-start): the
request carries the whole start (the job's spec, the first status summary, search attributes),
which the client encodes and the server checks on every call. To an instance this client saw
running, a plain update or signal does the same with less work on both sides. When the instance
has ended meanwhile, Temporal answers that no such workflow runs (``NOT_FOUND``), nothing was
applied, and the call goes out again with its start: the same call identity and update ID, so
it still applies once.
"""

from __future__ import annotations

from collections import OrderedDict

REMEMBERED_INSTANCES = 10_000
"""Per client; the least recently called go first (a stale or forgotten entry costs nothing
but the start request it would have sent anyway)."""


class RunningInstances:
    """A bounded, least-recently-used set of workflow IDs seen running."""

    def __init__(self, capacity: int = REMEMBERED_INSTANCES) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, workflow_id: object) -> bool:
        return workflow_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def saw(self, workflow_id: str) -> None:
        """``workflow_id`` answered a call: it is running (for now)."""
        self._ids[workflow_id] = None
        self._ids.move_to_end(workflow_id)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)

    def gone(self, workflow_id: str) -> None:
        """``workflow_id`` is not running any more."""
        self._ids.pop(workflow_id, None)
