"""Job kinds, job names, user ids and the workflow IDs built from them (SPEC §1, §3, §5)."""

from __future__ import annotations

import re
from typing import Literal

from durable_jobs.errors import JobDefinitionError, JobValidationError

JobKind = Literal["continuous", "debounce", "task"]
"""The three kinds of job; the first part of every instance id."""

MAX_USER_ID_LENGTH = 200
"""The longest user id a client call accepts (SPEC §5)."""

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_job_name(name: object) -> str:
    """Return ``name`` if it is a valid job name, else raise :class:`JobDefinitionError`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise JobDefinitionError(
            f"job name {name!r} is invalid; expected 1-64 letters, digits, '_' or '-' (no ':')"
        )
    return name


def check_user_id(kind: JobKind, job_name: str, user_id: object) -> str:
    """Return ``user_id`` if a client may use it, else raise :class:`JobValidationError`."""
    if not isinstance(user_id, str):
        raise JobValidationError(
            f"{kind} job {job_name!r}: id {user_id!r} is a {type(user_id).__name__}; "
            f"expected a non-empty string of at most {MAX_USER_ID_LENGTH} characters"
        )
    if not user_id or len(user_id) > MAX_USER_ID_LENGTH:
        shown = user_id if len(user_id) <= 40 else user_id[:40] + "..."
        raise JobValidationError(
            f"{kind} job {job_name!r}: id {shown!r} has {len(user_id)} characters; "
            f"expected a non-empty string of at most {MAX_USER_ID_LENGTH} characters"
        )
    return user_id


def instance_id(kind: JobKind, job_name: str, user_id: str) -> str:
    """The workflow ID of an instance: ``{kind}:{job_name}:{user_id}``."""
    return f"{kind}:{job_name}:{user_id}"
