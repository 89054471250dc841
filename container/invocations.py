"""Validation of `POST /invocations` bodies: pure functions from bytes to requests, or an error naming the field.

Everything a client can get wrong is caught here, so the server answers 400 (never 5xx) and logs nothing bad.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from container.featurizer import Action, context_from_observation

MAX_BODY_BYTES = 1024 * 1024
MAX_ACTIONS = 1024
MAX_INSTANCES = 1000
MAX_EVENT_ID_LENGTH = 128
REQUEST_FIELDS = frozenset({"context", "observation", "actions", "event_id"})


class InvalidRequest(ValueError):
    """A bad request body; `field` is the JSON path of the offending field (or `body`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"error": self.message, "field": self.field}


@dataclass(frozen=True)
class DecisionRequest:
    """One validated decision request: shared features, candidates (None: the policy's own) and event id."""

    context: dict[str, float | int | str | bool]
    actions: list[Action] | None
    event_id: str | None


@dataclass(frozen=True)
class Invocation:
    """A parsed body: one request, or a batch (`instances`) answered as `predictions`."""

    requests: list[DecisionRequest]
    batch: bool


def _path(where: str, key: str) -> str:
    """JSON path of a member: `context.age`, or `context["odd key"]` when the key is not a plain name."""
    if key.isidentifier():
        return f"{where}.{key}" if where else key
    return f"{where}[{json.dumps(key)}]"


def _reject_constant(name: str) -> float:
    raise InvalidRequest("body", f"{name} is not allowed in JSON")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _feature_value(value: Any, where: str) -> float | int | str | bool:
    if isinstance(value, (str, bool)):
        return value
    if _is_number(value):
        if not math.isfinite(value):
            raise InvalidRequest(where, "must be a finite number")
        return value
    raise InvalidRequest(where, "must be a number, a string or a boolean")


def _features(value: Any, where: str) -> dict[str, float | int | str | bool]:
    if not isinstance(value, dict):
        raise InvalidRequest(where, "must be an object of name -> number|string|boolean")
    return {name: _feature_value(v, _path(where, name)) for name, v in value.items()}


def _observation(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest(where, "must be a non-empty list of numbers")
    for i, v in enumerate(value):
        kind = type(v)
        if not (kind is int or (kind is float and math.isfinite(v))):  # JSON gives exactly int or float
            raise InvalidRequest(f"{where}[{i}]", "must be a finite number")
    return context_from_observation(value)


def _action_id(value: Any, where: str) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidRequest(where, "must be a non-empty string or an integer")


def _actions(value: Any, where: str) -> list[Action]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest(where, 'must be a non-empty list of ids or of {"id", "features"}')
    if len(value) > MAX_ACTIONS:
        raise InvalidRequest(where, f"has {len(value)} actions; at most {MAX_ACTIONS} are allowed")
    actions: list[Action] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if isinstance(item, dict):
            unknown = sorted(set(item) - {"id", "features"})
            if unknown:
                raise InvalidRequest(_path(at, unknown[0]), "is not a known action field (id, features)")
            if "id" not in item:
                raise InvalidRequest(f"{at}.id", "is required")
            action = Action(_action_id(item["id"], f"{at}.id"), _features(item.get("features", {}), f"{at}.features"))
        else:
            action = Action(_action_id(item, at))
        if action.id in seen:
            raise InvalidRequest(at, f"duplicates action id {action.id!r}")
        seen.add(action.id)
        actions.append(action)
    return actions


def parse_request(value: Any, where: str = "") -> DecisionRequest:
    """One decision request object; `where` prefixes field paths inside a batch."""
    prefix = f"{where}." if where else ""
    if not isinstance(value, dict):
        raise InvalidRequest(where or "body", "must be a JSON object")
    unknown = sorted(set(value) - REQUEST_FIELDS)
    if unknown:
        known = ", ".join(sorted(REQUEST_FIELDS))
        raise InvalidRequest(_path(where, unknown[0]), f"is not a known field ({known})")
    if "context" in value and "observation" in value:
        raise InvalidRequest(f"{prefix}observation", "give either context or observation, not both")
    if "context" in value:
        context = _features(value["context"], f"{prefix}context")
    elif "observation" in value:
        context = _observation(value["observation"], f"{prefix}observation")
    else:
        raise InvalidRequest(f"{prefix}context", "is required (or the workshop's observation)")
    actions = _actions(value["actions"], f"{prefix}actions") if "actions" in value else None
    event_id = value.get("event_id")
    if event_id is not None and (
        not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_EVENT_ID_LENGTH
    ):
        limit = MAX_EVENT_ID_LENGTH
        raise InvalidRequest(f"{prefix}event_id", f"must be a non-empty string of at most {limit} characters")
    return DecisionRequest(context, actions, event_id)


def parse_invocation(body: bytes) -> Invocation:
    """The whole body: size, UTF-8, JSON, then one request or a batch of them."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequest("body", f"is {len(body)} bytes; at most {MAX_BODY_BYTES} are allowed")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return _parse_refused(body, str(error))
    return _invocation(value)


def _parse_refused(body: bytes, reason: str) -> Invocation:
    """The slow path for what orjson refuses: the stdlib parser names the field where it can (`1e999` is parsed
    as infinity and rejected at `context.a`); whatever it accepts beyond orjson (lone surrogates) is refused whole,
    so every accepted request can be encoded by the decision log."""
    if not body.strip():
        raise InvalidRequest("body", "is empty; send a JSON object")
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except InvalidRequest:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("body", "is not valid JSON") from None
    _invocation(value)
    raise InvalidRequest("body", f"is not valid UTF-8 JSON ({reason})")


def _invocation(value: Any) -> Invocation:
    """One request or a batch of them from a parsed body."""
    if isinstance(value, Mapping) and "instances" in value:
        extra = sorted(set(value) - {"instances"})
        if extra:
            raise InvalidRequest(_path("", extra[0]), "is not allowed next to instances")
        instances = value["instances"]
        if not isinstance(instances, list) or not instances:
            raise InvalidRequest("instances", "must be a non-empty list of request objects")
        if len(instances) > MAX_INSTANCES:
            raise InvalidRequest("instances", f"has {len(instances)} items; at most {MAX_INSTANCES} are allowed")
        requests = [parse_request(item, f"instances[{i}]") for i, item in enumerate(instances)]
        ids = [r.event_id for r in requests if r.event_id is not None]
        if len(ids) != len(set(ids)):
            raise InvalidRequest("instances", "event_id values must be unique within a batch")
        return Invocation(requests, batch=True)
    return Invocation([parse_request(value)], batch=False)
