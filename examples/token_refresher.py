"""The reference's ``tokenRefresher``: keep a user's OAuth access token fresh.

Every 30 minutes the job looks at the token; when it is missing or expires within the next
10 minutes it calls the token endpoint with the refresh token and stores the new pair. The
endpoint here is a fake, in process, so the example runs anywhere.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from durable_jobs import Backoff, Continuous, ContinuousContext, RetryConfig, every

REFRESH_MARGIN = timedelta(minutes=10)
"""Refresh when the access token expires sooner than this."""


class TokenState(BaseModel):
    """What the job keeps per user: the current token pair and when the access token expires."""

    access_token: str = ""
    refresh_token: str
    expires_at: datetime | None = None
    refreshes: int = 0


class TokenGrant(BaseModel):
    """What the token endpoint answers."""

    access_token: str
    refresh_token: str
    expires_in_seconds: int


@dataclass
class FakeTokenEndpoint:
    """Stands in for an OAuth server's token endpoint: rotates the refresh token on each call."""

    lifetime: timedelta = timedelta(hours=1)
    calls: list[str] = field(default_factory=list)

    async def refresh(self, refresh_token: str) -> TokenGrant:
        """Exchange ``refresh_token`` for a new access token and a new refresh token."""
        if not refresh_token.startswith("rt_"):
            raise PermissionError(f"refresh token {refresh_token!r} was revoked")
        self.calls.append(refresh_token)
        return TokenGrant(
            access_token=f"at_{secrets.token_hex(8)}",
            refresh_token=f"rt_{secrets.token_hex(8)}",
            expires_in_seconds=int(self.lifetime.total_seconds()),
        )


token_endpoint = FakeTokenEndpoint()


async def refresh_token(ctx: ContinuousContext[TokenState]) -> None:
    """Refresh the access token if it is missing or about to expire."""
    now = datetime.now(UTC)
    state = ctx.state
    if state.access_token and state.expires_at and state.expires_at - now > REFRESH_MARGIN:
        return
    grant = await token_endpoint.refresh(state.refresh_token)
    ctx.set_state(
        TokenState(
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=now + timedelta(seconds=grant.expires_in_seconds),
            refreshes=state.refreshes + 1,
        )
    )


token_refresher = Continuous(
    state=TokenState,
    schedule=every("30 minutes"),
    execute=refresh_token,
    start_immediately=True,
    retry=RetryConfig(max_attempts=3, delay=Backoff.exponential("1 second", max="10 seconds")),
)
