"""Validation of `POST /invocations` bodies: pure functions from bytes to requests, or an error naming the field.

Everything a client can get wrong is caught here, so the server answers 400 (malformed) or 413 (too large), never
5xx, and logs nothing bad. The size limits bound one request's CPU cost (docs/container.md, "Request limits").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import orjson

from container.core.errors import ContainerError
from container.core.featurizer import Action, context_from_observation

MAX_BODY_BYTES = 1024 * 1024
MAX_ACTIONS = 1024
MAX_INSTANCES = 1000
MAX_EVENT_ID_LENGTH = 128
MAX_CONTEXT_FEATURES = 1024  # per request (an `observation` gives one feature per entry)
MAX_ACTION_FEATURES = 64  # per candidate
MAX_NAME_CHARS = 256  # feature names and action ids
MAX_TEXT_CHARS = 1024  # string feature values
FLOAT32_MAX = 3.4028234663852886e38
"""VW holds feature values as float32 and reads the featurizer's text of a larger one as infinity, which turns the
prediction into NaN and the served distribution into VW's uniform fallback. Tiny magnitudes are safe: VW's parser
reads any value under 1e-37 (float32's smallest normal and its subnormals, float64's 5e-324) as 0: an absent feature."""

# A request's serving cost in microseconds of CPU, fitted on the reference machine (2 shared cores, the trained
# policy, `-q sa`; docs/container.md "Request limits"): per decision, per candidate the request names (featurized per
# request) or the policy's own (featurized once), per feature (shared or per candidate), and per shared x candidate
# feature pair (VW's crossing). The budget bounds one request's CPU (the figure: docs/container.md).
COST_US_PER_DECISION = 25.0
COST_US_PER_CANDIDATE = 5.0
COST_US_PER_KNOWN_CANDIDATE = 1.0
COST_US_PER_FEATURE = 1.5
COST_US_PER_PAIR = 0.01
MAX_REQUEST_COST_US = 50_000
REQUEST_FIELDS = frozenset({"context", "observation", "actions", "event_id"})


class InvalidRequest(ContainerError, ValueError):
    """A bad request body; `field` is the JSON path of the offending field (or `body`); `status` is 400."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"error": self.message, "field": self.field}


class RequestTooLarge(InvalidRequest):
    """A well-formed request over a size limit (413): counts, lengths, cost, or its decision record's size."""

    status = 413


@dataclass(frozen=True)
class DecisionRequest:
    """One validated decision request: shared features, candidates (None: the policy's own) and event id.

    `action_features` counts the given candidates' features (a request's cost depends on it)."""

    context: dict[str, float | int | str | bool]
    actions: list[Action] | None
    event_id: str | None
    action_features: int = 0


@dataclass(frozen=True)
class Invocation:
    """A parsed body: one request, or a batch (`instances`) answered as `predictions`.

    `body_bytes` is the body's size: a small body cannot make an undeliverable record (None: unknown, checked)."""

    requests: list[DecisionRequest]
    batch: bool
    body_bytes: int | None = None


def _path(where: str, key: str) -> str:
    """JSON path of a member: `context.age`, or `context["odd key"]` when the key is not a plain name."""
    if key.isidentifier():
        return f"{where}.{key}" if where else key
    return f"{where}[{json.dumps(key)}]"


def _reject_constant(name: str) -> float:
    raise InvalidRequest("body", f"{name} is not allowed in JSON")


_RANGE = f"a finite number of magnitude at most {FLOAT32_MAX:.8g} (float32, what VW reads)"


def _features(value: Any, where: str, limit: int) -> dict[str, float | int | str | bool]:
    """An object of name -> number|string|boolean, returned as parsed (JSON gives exactly these types).

    On the request path: one type dispatch per feature, and a field path only for the error."""
    if not isinstance(value, dict):
        raise InvalidRequest(where, "must be an object of name -> number|string|boolean")
    if len(value) > limit:
        raise RequestTooLarge(where, f"has {len(value)} features; at most {limit} are allowed")
    low, high = -FLOAT32_MAX, FLOAT32_MAX
    for name, v in value.items():
        kind = type(v)
        if kind is float or kind is int:
            if not low <= v <= high:  # also false for NaN
                raise InvalidRequest(_path(where, name), f"must be {_RANGE}")
        elif kind is str:
            if len(v) > MAX_TEXT_CHARS:
                message = f"is {len(v)} characters; at most {MAX_TEXT_CHARS} are allowed"
                raise RequestTooLarge(_path(where, name), message)
        elif kind is not bool:
            raise InvalidRequest(_path(where, name), "must be a number, a string or a boolean")
        if len(name) > MAX_NAME_CHARS:
            message = f"is a {len(name)}-character name; at most {MAX_NAME_CHARS} characters are allowed"
            raise RequestTooLarge(_path(where, name[:32] + "..."), message)
    return value


def _observation(value: Any, where: str) -> dict[str, float | int | str | bool]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest(where, "must be a non-empty list of numbers")
    if len(value) > MAX_CONTEXT_FEATURES:
        raise RequestTooLarge(where, f"has {len(value)} entries; at most {MAX_CONTEXT_FEATURES} are allowed")
    low, high = -FLOAT32_MAX, FLOAT32_MAX
    for i, v in enumerate(value):
        kind = type(v)
        if not ((kind is int or kind is float) and low <= v <= high):  # JSON gives exactly int or float
            raise InvalidRequest(f"{where}[{i}]", f"must be {_RANGE}")
    return cast("dict[str, float | int | str | bool]", context_from_observation(value))  # floats are features


def _action_id(value: Any, where: str) -> str:
    if isinstance(value, str) and value:
        if len(value) > MAX_NAME_CHARS:
            raise RequestTooLarge(where, f"is {len(value)} characters; at most {MAX_NAME_CHARS} are allowed")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidRequest(where, "must be a non-empty string or an integer")


def _actions(value: Any, where: str) -> list[Action]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest(where, 'must be a non-empty list of ids or of {"id", "features"}')
    if len(value) > MAX_ACTIONS:
        raise RequestTooLarge(where, f"has {len(value)} actions; at most {MAX_ACTIONS} are allowed")
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
            features = _features(item.get("features", {}), f"{at}.features", MAX_ACTION_FEATURES)
            action = Action(_action_id(item["id"], f"{at}.id"), features)
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
        context = _features(value["context"], f"{prefix}context", MAX_CONTEXT_FEATURES)
    elif "observation" in value:
        context = _observation(value["observation"], f"{prefix}observation")
    else:
        raise InvalidRequest(f"{prefix}context", "is required (or the workshop's observation)")
    actions = _actions(value["actions"], f"{prefix}actions") if "actions" in value else None
    action_features = sum(len(a.features) for a in actions) if actions else 0
    event_id = value.get("event_id")
    if event_id is not None and (
        not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_EVENT_ID_LENGTH
    ):
        limit = MAX_EVENT_ID_LENGTH
        raise InvalidRequest(f"{prefix}event_id", f"must be a non-empty string of at most {limit} characters")
    return DecisionRequest(context, actions, event_id, action_features)


def request_cost(requests: list[DecisionRequest], known_actions: int) -> float:
    """The requests' serving cost in microseconds (the fitted weights above); `known_actions` is the number of the
    policy's own candidates, which a request that names none is decided over."""
    total = 0.0
    for request in requests:
        shared = len(request.context)
        if request.actions:
            candidates = len(request.actions)
            total += COST_US_PER_CANDIDATE * candidates + COST_US_PER_FEATURE * request.action_features
            crossed = candidates + request.action_features  # the candidate lines' features: ids and the rest
        else:
            total += COST_US_PER_KNOWN_CANDIDATE * known_actions
            crossed = known_actions
        total += COST_US_PER_DECISION + COST_US_PER_FEATURE * shared + COST_US_PER_PAIR * shared * crossed
    return total


def parse_invocation(body: bytes, known_actions: int = 0) -> Invocation:
    """The whole body: size, UTF-8, JSON, then one request or a batch of them, then the cost of answering it."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestTooLarge("body", f"is {len(body)} bytes; at most {MAX_BODY_BYTES} are allowed")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return _parse_refused(body, str(error))
    invocation = _invocation(value, len(body))
    cost = request_cost(invocation.requests, known_actions)
    if cost > MAX_REQUEST_COST_US:
        raise RequestTooLarge(
            "instances" if invocation.batch else "body",
            f"would take about {cost / 1000:,.1f} ms of CPU to answer; at most {MAX_REQUEST_COST_US / 1000:g} ms are "
            f"allowed ({COST_US_PER_DECISION:g} us per decision, {COST_US_PER_CANDIDATE:g} per candidate named, "
            f"{COST_US_PER_KNOWN_CANDIDATE:g} per candidate of the policy's own, "
            f"{COST_US_PER_FEATURE:g} per feature, {COST_US_PER_PAIR:g} per shared x candidate feature pair): send "
            "fewer instances, candidates or features per request",
        )
    return invocation


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


def _invocation(value: Any, body_bytes: int | None = None) -> Invocation:
    """One request or a batch of them from a parsed body."""
    if isinstance(value, Mapping) and "instances" in value:
        extra = sorted(set(value) - {"instances"})
        if extra:
            raise InvalidRequest(_path("", extra[0]), "is not allowed next to instances")
        instances = value["instances"]
        if not isinstance(instances, list) or not instances:
            raise InvalidRequest("instances", "must be a non-empty list of request objects")
        if len(instances) > MAX_INSTANCES:
            raise RequestTooLarge("instances", f"has {len(instances)} items; at most {MAX_INSTANCES} are allowed")
        requests = [parse_request(item, f"instances[{i}]") for i, item in enumerate(instances)]
        ids = [r.event_id for r in requests if r.event_id is not None]
        if len(ids) != len(set(ids)):
            raise InvalidRequest("instances", "event_id values must be unique within a batch")
        return Invocation(requests, batch=True, body_bytes=body_bytes)
    return Invocation([parse_request(value)], batch=False, body_bytes=body_bytes)
