"""Reading an instance's stored state as the job's model, migrating older versions (SPEC §10.4).

An instance's state records the ``state_version`` it was written with. State older than the
definition's ``state_version`` goes through the definition's ``migrate(data, from_version)``
first (pure, so reading it again gives the same state); the result is validated as the current
model. The handler activity, the Debounce workflow (whose reducer folds into the state) and the
client's ``get_state`` all read state this one way.
"""

from __future__ import annotations

from typing import Any

from durable_jobs._models import from_data, type_name


class StoredStateError(Exception):
    """Stored state that the job's model cannot take, even after ``migrate``."""


def load_state(definition: Any, data: Any, version: int) -> Any:
    """``data`` of ``version`` as the definition's state model (``None`` stays ``None``)."""
    if data is None:
        return None
    current = definition.state_version
    if version > current:
        raise StoredStateError(
            f"stored state has version {version}, newer than the job's state_version {current}; "
            "a worker with the newer definition wrote it"
        )
    if version < current:
        try:
            data = definition.migrate(data, version)
        except Exception as exc:
            raise StoredStateError(
                f"migrate(data, {version}) failed for state version {version} -> {current}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    try:
        return from_data(definition.state, data)
    except Exception as exc:
        hint = f" (migrated from version {version})" if version < current else ""
        raise StoredStateError(
            f"stored state does not fit {type_name(definition.state)}{hint}: {exc}"
        ) from exc
