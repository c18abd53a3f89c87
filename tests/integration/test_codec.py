"""Secrets in state are not readable in Temporal's history with a payload codec (AES-GCM)."""

from __future__ import annotations

import os
import uuid

import pytest
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload

from durable_jobs import Continuous, DurableJobs, JobsError, every
from durable_jobs.codec import AesGcmCodec
from durable_jobs.context import ContinuousContext
from durable_jobs.testing import JobsTestEnvironment

SECRET = "rt_s3cr3t_refresh_token"


class Tokens(BaseModel):
    refresh_token: str
    refreshed: int = 0


async def refresh(ctx: ContinuousContext[Tokens]) -> None:
    ctx.set_state(Tokens(refresh_token=ctx.state.refresh_token, refreshed=ctx.state.refreshed + 1))


vault = Continuous(state=Tokens, schedule=every("1 hour"), execute=refresh)
jobs = DurableJobs(vault=vault)
KEY = os.urandom(32)


async def run_and_read_history(env: JobsTestEnvironment) -> bytes:
    user = f"user-{uuid.uuid4().hex[:8]}"
    h = env.client.continuous(vault)
    await h.start(id=user, input=Tokens(refresh_token=SECRET))
    await env.sleep("1 second")
    assert (await h.get_state(user)).state == Tokens(refresh_token=SECRET, refreshed=1)
    history = await env.temporal_client.get_workflow_handle(
        f"continuous:vault:{user}"
    ).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes-gcm"])
async def test_codec_keeps_state_out_of_the_history(encrypted: bool) -> None:
    codec = AesGcmCodec({"k1": KEY}, key_id="k1") if encrypted else None
    async with await JobsTestEnvironment.start_time_skipping(jobs, codec=codec) as env:
        raw = await run_and_read_history(env)
    # The plain run is the control: it proves the check would see the secret.
    assert (SECRET.encode() in raw) is not encrypted


async def test_codec_rotation_decrypts_old_keys_and_refuses_unknown_ones() -> None:
    old, new = os.urandom(32), os.urandom(32)
    sealed = await AesGcmCodec({"old": old}, key_id="old").encode(
        await _payloads(b'{"refresh_token": "x"}')
    )
    rotated = AesGcmCodec({"old": old, "new": new}, key_id="new")
    assert (await rotated.decode(sealed))[0].data == b'{"refresh_token": "x"}'
    with pytest.raises(JobsError, match="unknown key id 'old'"):
        await AesGcmCodec({"new": new}, key_id="new").decode(sealed)
    with pytest.raises(JobsError, match="32"):
        AesGcmCodec({"short": b"123"}, key_id="short")


async def _payloads(data: bytes) -> list[Payload]:
    return [Payload(metadata={"encoding": b"json/plain"}, data=data)]
