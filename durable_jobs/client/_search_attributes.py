"""Whether the namespace has the job search attributes, found out once per client.

Starting a workflow with a search attribute the namespace does not have fails, and so would the
workflow's upsert of ``JobStatus``. So instances get ``JobKind``/``JobName``/``JobStatus`` only
where all three are registered (``durable-jobs search-attributes``, or ``temporal operator
search-attribute create``); elsewhere they work the same, without them.
"""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from durable_jobs._naming import JobKind
from durable_jobs.protocol import JOB_KIND, JOB_NAME, JOB_STATUS, SEARCH_ATTRIBUTES


class JobSearchAttributes:
    """The search attributes a new instance starts with, when the namespace has them."""

    def __init__(self, temporal_client: Client) -> None:
        self._client = temporal_client
        self._registered: bool | None = None
        self._lock = asyncio.Lock()

    async def registered(self) -> bool:
        """True when the namespace has all three job search attributes (asked once)."""
        if self._registered is None:  # every creating call comes here: no lock once known
            async with self._lock:
                if self._registered is None:
                    self._registered = await registered_in(self._client)
        return self._registered

    async def for_start(
        self, kind: JobKind, job_name: str, status: str | None
    ) -> TypedSearchAttributes:
        """``JobKind``, ``JobName`` and ``JobStatus`` of a new instance (no ``JobStatus`` when
        ``status`` is None), or none."""
        if not await self.registered():
            return TypedSearchAttributes.empty
        pairs: list[SearchAttributePair[str]] = [
            SearchAttributePair(JOB_KIND, kind),
            SearchAttributePair(JOB_NAME, job_name),
        ]
        if status is not None:
            pairs.append(SearchAttributePair(JOB_STATUS, status))
        return TypedSearchAttributes(pairs)


async def registered_in(temporal_client: Client) -> bool:
    """True when the client's namespace has the job search attributes as keywords.

    A server that cannot say (the time-skipping test server, a namespace whose API key may not
    list them) counts as not having them.
    """
    try:
        response = await temporal_client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=temporal_client.namespace)
        )
    except RPCError:
        return False
    custom = response.custom_attributes
    return all(
        custom.get(key.name) == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in SEARCH_ATTRIBUTES
    )


async def register_in(temporal_client: Client) -> None:
    """Add the job search attributes to the client's namespace, as keywords (idempotent).

    Needs a server whose operator API the client may use (the dev server, a self-hosted
    cluster); on Temporal Cloud, add them in the namespace's settings or with ``tcld``.
    """
    if await registered_in(temporal_client):
        return
    await temporal_client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=temporal_client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES
            },
        )
    )
