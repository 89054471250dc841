"""Reading the state machine's payloads: each handler gets `{"action": <verb>, ...}` (docs/pipeline.md)."""

from __future__ import annotations

from typing import Any, TypeVar

from pipeline_common.errors import InvalidEvent

T = TypeVar("T")


def action(event: Any, allowed: tuple[str, ...]) -> str:
    """The payload's verb, one of `allowed`."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"payload must be a JSON object, got {type(event).__name__}")
    verb = event.get("action")
    if verb not in allowed:
        raise InvalidEvent(f"payload action must be one of {', '.join(allowed)}, got {verb!r}")
    return str(verb)


def field(event: dict[str, Any], name: str, kind: type[T]) -> T:
    """A required payload field of type `kind`."""
    value = event.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidEvent(f"payload field {name!r} must be {kind.__name__}, got {value!r}")
    return value


def optional(event: dict[str, Any], name: str, kind: type[T]) -> T | None:
    """An optional payload field; null and absent read as None."""
    if event.get(name) is None:
        return None
    return field(event, name, kind)
