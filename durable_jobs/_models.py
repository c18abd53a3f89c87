"""Moving user data between typed pydantic values and the JSON-ready data Temporal carries.

Building a ``TypeAdapter`` costs far more than using one, and these run on every message, so
adapters are built once per type and kept for the life of the process.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from pydantic import TypeAdapter

_adapters: dict[int, tuple[Any, TypeAdapter[Any]]] = {}


def adapter_for(type_: Any) -> TypeAdapter[Any]:
    """The (cached) ``TypeAdapter`` of a model or union type."""
    found = _adapters.get(id(type_))
    if found is None or found[0] is not type_:
        found = (type_, TypeAdapter(type_))
        _adapters[id(type_)] = found
    return found[1]


def to_data(type_: Any, value: Any) -> Any:
    """``value`` validated as ``type_`` and dumped to JSON-ready data."""
    adapter = adapter_for(type_)
    return adapter.dump_python(adapter.validate_python(value), mode="json")


def from_data(type_: Any, data: Any) -> Any:
    """JSON-ready ``data`` validated back into a typed ``type_`` value."""
    return adapter_for(type_).validate_python(data)


def union_members(type_: object) -> tuple[object, ...] | None:
    """The members of a ``Union`` (optionally inside ``Annotated``), else ``None``."""
    if typing.get_origin(type_) is typing.Annotated:
        type_ = typing.get_args(type_)[0]
    if typing.get_origin(type_) in (typing.Union, types.UnionType):
        return typing.get_args(type_)
    return None


def type_name(type_: Any) -> str:
    """A short name of a model or union type, for messages: ``Order``, ``OrderPlaced | Shipped``."""
    members = union_members(type_)
    if members is not None:
        return " | ".join(type_name(member) for member in members)
    return getattr(type_, "__name__", None) or repr(type_)


def json_size(data: Any) -> int:
    """The size of JSON-ready ``data`` as compact JSON, in bytes: what it costs in a payload.

    Raises ``ValueError`` for numbers JSON cannot carry (NaN, infinity).
    """
    return len(json.dumps(data, allow_nan=False, separators=(",", ":")).encode())
