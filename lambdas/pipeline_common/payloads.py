"""Reading the state machine's payloads at a handler's edge: each handler gets `{"action": <verb>, ...}`
(docs/pipeline.md), and each JSON object in it is read field by field into the step's dataclass (`steps.py`).

A field of the wrong type or a missing one raises `InvalidEvent` naming the field's path (`join.window.start`), so a
malformed step input fails at once with what is wrong instead of a `KeyError` deep in the step.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar, cast

from pipeline_common.errors import InvalidEvent

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

Payload = dict[str, Any]
"""A JSON object as a handler returns it (what `to_payload` writes and the state machine stores)."""


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


class Fields:
    """One JSON object of a payload; `path` names it in errors (`payload`, `payload.join`, ...)."""

    def __init__(self, value: object, path: str = "payload") -> None:
        if not isinstance(value, dict):
            raise InvalidEvent(f"{path} must be a JSON object, got {_kind(value)}")
        self._value: dict[str, object] = value
        self.path = path

    def where(self, name: str) -> str:
        return f"{self.path}.{name}"

    def has(self, name: str) -> bool:
        """True when the field is present and not null (the state machine passes absent and null alike)."""
        return self._value.get(name) is not None

    def required(self, name: str, kind: type[T]) -> T:
        """A field that must be there, of type `kind` (an int is accepted as a float; a bool is never a number)."""
        value = self._value.get(name)
        if value is None:
            raise InvalidEvent(f"payload field {self.where(name)!r} is missing")
        return self._typed(name, value, kind)

    def optional(self, name: str, kind: type[T]) -> T | None:
        """A field that may be absent or null (None then); present, it must be of type `kind`."""
        value = self._value.get(name)
        return None if value is None else self._typed(name, value, kind)

    def flag(self, name: str) -> bool:
        """An optional boolean, false when absent."""
        return self.optional(name, bool) is True

    def choice(self, name: str, kind: type[E]) -> E:
        """A required field whose value is one of the StrEnum `kind`'s."""
        value = self.required(name, str)
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise InvalidEvent(f"payload field {self.where(name)!r} must be one of {allowed}, got {value!r}") from None

    def child(self, name: str) -> Fields:
        """A required nested object."""
        value = self._value.get(name)
        if value is None:
            raise InvalidEvent(f"payload field {self.where(name)!r} is missing")
        return Fields(value, self.where(name))

    def optional_child(self, name: str) -> Fields | None:
        value = self._value.get(name)
        return None if value is None else Fields(value, self.where(name))

    def _typed(self, name: str, value: object, kind: type[T]) -> T:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return cast(T, float(value))
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise InvalidEvent(f"payload field {self.where(name)!r} must be {kind.__name__}, got {value!r}")
        return value


class Request(Fields):
    """A step handler's whole event: a JSON object whose `action` is one of the handler's verbs, for the run
    `run_id` (the execution's name)."""

    def __init__(self, event: object, allowed: tuple[str, ...]) -> None:
        super().__init__(event)
        verb = self._value.get("action")
        if verb not in allowed:
            raise InvalidEvent(f"payload action must be one of {', '.join(allowed)}, got {verb!r}")
        self.verb = str(verb)
        self.run_id = self.required("run_id", str)
