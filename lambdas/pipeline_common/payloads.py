"""Reading and writing the state machine's payloads at a handler's edge: each handler gets
`{"action": <verb>, "run_id", ...}` (docs/pipeline.md), and each JSON object in it is read into the step's dataclass
(`steps.py`) from the dataclass's own field types; its result is written back the same way.

A field of the wrong type or a missing one raises `InvalidEvent` naming the field's path (`payload.join.state`), so
a malformed step input fails at once with what is wrong instead of a `KeyError` deep in the step.
"""

from __future__ import annotations

import dataclasses
import types
from datetime import datetime
from enum import StrEnum
from typing import Any, Self, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from pipeline_common.errors import InvalidEvent
from pipeline_common.timefmt import iso, parse_iso

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

Payload = dict[str, object]
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

    def as_dict(self) -> dict[str, object]:
        return dict(self._value)

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


# --- dataclasses as payloads --------------------------------------------------------------------------------------

FLAT = {"flat": True}
"""Field metadata: the nested dataclass's fields stand in the parent's object (`deadline`, `timeout_seconds` in
every step result); an optional flat part is there when any of its fields is."""
WHEN_KNOWN = {"when_known": True}
"""Field metadata: left out of the payload while None (a step's artifact before its job completed)."""


def key(name: str) -> dict[str, str]:
    """Field metadata: the payload's name for the field when it is not the field's own (`$.error.Error`)."""
    return {"key": name}


def _key(field: dataclasses.Field[Any]) -> str:
    return str(field.metadata.get("key", field.name))


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of a field's annotation."""
    if get_origin(hint) in (Union, types.UnionType):
        kinds = [kind for kind in get_args(hint) if kind is not type(None)]
        return kinds[0], len(kinds) < len(get_args(hint))
    return hint, False


def _keys(kind: type[Any]) -> list[str]:
    """The payload keys a dataclass's fields occupy (those of flat parts included)."""
    hints = get_type_hints(kind)
    keys: list[str] = []
    for field in dataclasses.fields(kind):
        keys += _keys(_unwrap(hints[field.name])[0]) if field.metadata.get("flat") else [_key(field)]
    return keys


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def read(kind: type[T], fields: Fields) -> T:
    """The dataclass `kind` read from `fields`: each field by its annotation (str, int, float, bool, a StrEnum, a
    datetime as ISO-8601 text, a nested dataclass, or a class with `from_dict`); `X | None` and fields with a
    default may be absent."""
    hints = get_type_hints(kind)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cast(Any, kind)):
        inner, nullable = _unwrap(hints[field.name])
        key = _key(field)
        if field.metadata.get("flat"):
            present = not nullable or any(fields.has(name) for name in _keys(inner))
            values[field.name] = read(inner, fields) if present else None
        elif fields.has(key):
            values[field.name] = _read_value(inner, fields, key)
        elif (default := _default(field)) is not dataclasses.MISSING:
            values[field.name] = default
        elif nullable:
            values[field.name] = None
        else:
            raise InvalidEvent(f"payload field {fields.where(key)!r} is missing")
    return kind(**values)


def _read_value(kind: Any, fields: Fields, key: str) -> Any:
    if dataclasses.is_dataclass(kind) and hasattr(kind, "from_dict"):
        try:
            return kind.from_dict(fields.child(key).as_dict())
        except InvalidEvent as error:
            raise InvalidEvent(f"payload field {fields.where(key)!r}: {error}") from error
    if dataclasses.is_dataclass(kind):
        return read(cast(type[Any], kind), fields.child(key))
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return fields.choice(key, kind)
    if kind is datetime:
        return parse_iso(fields.required(key, str))
    return fields.required(key, kind)


def write(value: object) -> Payload:
    """A dataclass as its payload (the inverse of `read`); StrEnums become their plain strings."""
    payload: Payload = {}
    for field in dataclasses.fields(cast(Any, value)):
        item = getattr(value, field.name)
        if field.metadata.get("flat"):
            payload.update(write(item) if item is not None else {})
        elif item is not None or not field.metadata.get("when_known"):
            payload[_key(field)] = _written(item)
    return payload


def _written(item: object) -> object:
    to_dict = getattr(item, "to_dict", None)
    if to_dict is not None and dataclasses.is_dataclass(item):
        return to_dict()
    if dataclasses.is_dataclass(item):
        return write(item)
    if isinstance(item, StrEnum):
        return item.value
    if isinstance(item, datetime):
        return iso(item)
    return item


class PayloadObject:
    """A step payload: a frozen dataclass read with `from_fields` and written with `to_payload`."""

    @classmethod
    def from_fields(cls, fields: Fields) -> Self:
        return read(cls, fields)

    def to_payload(self) -> Payload:
        return write(self)
