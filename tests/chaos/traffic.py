"""The producers: per kind, some on one hot key and some spread over many keys.

Each producer makes one call at a time (retried until acknowledged, see ``calls.py``), mixing
waiting and fire-and-forget calls, and numbers its calls; Debounce adds and Task sends carry
``(producer, seq)`` in their event so the checker can find them in committed state.

- Debounce: ``add`` / ``add_nowait``, now and then ``flush`` / ``flush_nowait``;
- Task: ``send`` / ``send_nowait``, now and then ``trigger`` / ``trigger_nowait`` on a key it
  has already sent to (a Task instance lives on once created);
- Continuous: ``trigger`` / ``trigger_nowait`` on instances started before the traffic.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from durable_jobs import JobsClient
from tests.chaos.calls import CallApi, CallerErrors, Invoke, RetryPolicy, make_call
from tests.chaos.checker import CallRecord, Kind
from tests.chaos.jobs import Item, Runs, batcher, counter, ledger

KINDS: tuple[Kind, ...] = ("debounce", "task", "continuous")
HOT = "hot"


@dataclass(frozen=True)
class TrafficPlan:
    producers: int = 4
    """Per kind; half of them (rounded up) on the hot key, the rest spread over ``keys``."""
    keys: int = 6
    """User ids per kind besides the hot one."""
    nowait_share: float = 0.5
    side_share: float = 0.08
    """Share of a Debounce producer's calls that flush, of a Task producer's that trigger."""
    pace: dict[str, float] = field(
        default_factory=lambda: {"debounce": 0.05, "task": 0.15, "continuous": 0.4}
    )
    """Mean seconds between one producer's calls, per kind (fire-and-forget calls would
    otherwise queue more work than the instances can do before the deadline)."""

    def user_ids(self) -> list[str]:
        return [HOT, *(f"k{n}" for n in range(self.keys))]


@dataclass
class Traffic:
    """What the producers did, for the checker."""

    calls: list[CallRecord] = field(default_factory=list)
    errors: CallerErrors = field(default_factory=CallerErrors)


class Producers:
    """Runs the producers of a plan against one client until told to stop."""

    def __init__(
        self,
        client: JobsClient,
        plan: TrafficPlan,
        *,
        api: CallApi,
        policy: RetryPolicy,
        nonce: str,
        seed: int,
    ) -> None:
        self.client = client
        self._plan = plan
        self._api = api
        self._policy = policy
        self._nonce = nonce
        self._seed = seed
        self.traffic = Traffic()

    async def call(
        self,
        kind: Kind,
        op: str,
        user_id: str,
        producer: str,
        seq: int,
        invoke: Invoke,
        *,
        give_up_at: float,
        rng: random.Random,
    ) -> CallRecord:
        record = CallRecord(
            kind=kind,
            op=op,
            user_id=user_id,
            producer=producer,
            seq=seq,
            key=f"{self._nonce}:{producer}:{seq}",
        )
        self.traffic.calls.append(record)
        await make_call(
            record,
            invoke,
            api=self._api,
            policy=self._policy,
            give_up_at=give_up_at,
            rng=rng,
            caller_errors=self.traffic.errors,
        )
        return record

    async def start_counters(self, *, give_up_at: float) -> None:
        """Start every Continuous instance (``start`` is idempotent by itself)."""
        handle = self.client.continuous(counter)
        rng = random.Random(self._seed)
        for n, user_id in enumerate(self._plan.user_ids()):

            def invoke(options: dict[str, Any], user_id: str = user_id) -> Any:
                return handle.start(id=user_id, input=Runs(), **options)

            await self.call(
                "continuous", "start", user_id, "setup", n, invoke, give_up_at=give_up_at, rng=rng
            )

    async def run(self, *, stop_at: float, give_up_at: float) -> None:
        """All producers at once: new calls until ``stop_at``; a call started before it is
        retried until acknowledged or ``give_up_at``."""
        plan = self._plan
        async with asyncio.TaskGroup() as producers:
            for kind in KINDS:
                for n in range(plan.producers):
                    hot = n < (plan.producers + 1) // 2
                    name = f"{kind[0]}{'h' if hot else 's'}{n}"
                    rng = random.Random(f"{self._seed}:{name}")
                    producers.create_task(
                        self._produce(kind, name, hot, rng, stop_at=stop_at, give_up_at=give_up_at)
                    )

    async def _produce(
        self,
        kind: Kind,
        producer: str,
        hot: bool,
        rng: random.Random,
        *,
        stop_at: float,
        give_up_at: float,
    ) -> None:
        plan, loop = self._plan, asyncio.get_running_loop()
        keys = plan.user_ids()[1:]
        choose = {"debounce": self._debounce_call, "task": self._task_call}.get(
            kind, self._continuous_call
        )
        created: set[str] = set()  # Task ids this producer's sends created or reached
        seq = 0
        while loop.time() < stop_at:
            user_id = HOT if hot else rng.choice(keys)
            nowait = rng.random() < plan.nowait_share
            side = rng.random() < plan.side_share
            op, invoke = choose(user_id, producer, seq, nowait=nowait, side=side, created=created)
            record = await self.call(
                kind, op, user_id, producer, seq, invoke, give_up_at=give_up_at, rng=rng
            )
            if kind == "task" and record.acked and op.startswith("send"):
                created.add(user_id)
            seq += 1
            await asyncio.sleep(rng.expovariate(1 / plan.pace[kind]))

    def _debounce_call(
        self, user_id: str, producer: str, seq: int, *, nowait: bool, side: bool, created: set[str]
    ) -> tuple[str, Invoke]:
        h = self.client.debounce(batcher)
        item = Item(producer=producer, seq=seq)
        if side:
            if nowait:
                return "flush_nowait", lambda o: h.flush_nowait(user_id, **o)
            return "flush", lambda o: h.flush(user_id, **o)
        if nowait:
            return "add_nowait", lambda o: h.add_nowait(id=user_id, event=item, **o)
        return "add", lambda o: h.add(id=user_id, event=item, **o)

    def _task_call(
        self, user_id: str, producer: str, seq: int, *, nowait: bool, side: bool, created: set[str]
    ) -> tuple[str, Invoke]:
        h = self.client.task(ledger)
        if side and user_id in created:
            if nowait:
                return "trigger_nowait", lambda o: h.trigger_nowait(user_id, **o)
            return "trigger", lambda o: _triggered(h.trigger(user_id, **o))
        item = Item(producer=producer, seq=seq)
        if nowait:
            return "send_nowait", lambda o: h.send_nowait(id=user_id, event=item, **o)
        return "send", lambda o: h.send(id=user_id, event=item, **o)

    def _continuous_call(
        self, user_id: str, producer: str, seq: int, *, nowait: bool, side: bool, created: set[str]
    ) -> tuple[str, Invoke]:
        h = self.client.continuous(counter)
        if nowait:
            return "trigger_nowait", lambda o: h.trigger_nowait(user_id, **o)
        return "trigger", lambda o: _triggered(h.trigger(user_id, **o))


async def _triggered(result: Any) -> bool:
    """A waiting trigger's answer as the bool its fire-and-forget twin returns."""
    answer: bool = (await result).triggered
    return answer
