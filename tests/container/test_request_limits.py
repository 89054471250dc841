"""Values VW cannot hold are refused (400, issue 14 point 10), and one request's cost is bounded (413, point 11)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from container.core.policy import Policy
from container.serving.app import DecisionApp
from container.serving.invocations import (
    FLOAT32_MAX,
    MAX_ACTION_FEATURES,
    MAX_CONTEXT_FEATURES,
    MAX_INSTANCES,
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    InvalidRequest,
    RequestTooLarge,
    parse_invocation,
    request_cost,
)

ABOVE_FLOAT32 = math.nextafter(FLOAT32_MAX, math.inf)


class ListLogger:
    def __init__(self) -> None:
        self.records: list[object] = []

    def log_many(self, records: list[object]) -> None:
        self.records.extend(records)


@pytest.fixture(scope="module")
def trained(model_dir: Path) -> Policy:
    return Policy.load(model_dir, seed=5)


def _handle(policy: Policy, body: object) -> tuple[int, dict, ListLogger]:
    logger = ListLogger()
    app = DecisionApp(policy, logger, experiment_id="exp-1")  # type: ignore[arg-type]
    status, answer = app.handle("POST", "/invocations", json.dumps(body).encode())
    return status, json.loads(answer), logger


def test_float32_max_is_numpys() -> None:
    assert float(np.finfo(np.float32).max) == FLOAT32_MAX


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"context": {"x0": 3.5e38}}, "context.x0"),
        ({"context": {"x0": -3.5e38}}, "context.x0"),
        ({"context": {"x0": 1e308}}, "context.x0"),
        ({"context": {"x0": ABOVE_FLOAT32}}, "context.x0"),
        ({"context": {"x0": -ABOVE_FLOAT32}}, "context.x0"),
        ({"observation": [0.5, 1e308]}, "observation[1]"),
        ({"observation": [-3.5e38]}, "observation[0]"),
        ({"context": {}, "actions": [{"id": "a", "features": {"f": 3.5e38}}]}, "actions[0].features.f"),
        ({"instances": [{"context": {}}, {"context": {"big": 1e39}}]}, "instances[1].context.big"),
    ],
)
def test_values_beyond_float32_get_400_naming_the_field_and_are_not_logged(
    trained: Policy, body: object, field: str
) -> None:
    status, answer, logger = _handle(trained, body)
    assert (status, answer["field"]) == (400, field)
    assert "float32" in answer["error"] and logger.records == []


def test_an_integer_beyond_float32_is_refused_too() -> None:
    # orjson reads a 40-digit integer as a float; the stdlib parser (slow path) would keep it an int
    with pytest.raises(InvalidRequest) as caught:
        parse_invocation(b'{"context": {"n": 1000000000000000000000000000000000000000}}')
    assert caught.value.field == "context.n" and caught.value.status == 400


def test_float32_max_itself_is_served_by_the_model_not_a_uniform_fallback(trained: Policy) -> None:
    for value in (FLOAT32_MAX, -FLOAT32_MAX):
        status, answer, logger = _handle(trained, {"context": {"x0": value, "x1": 0.5, "x2": 0.5, "x3": 0.5}})
        assert status == 200 and len(logger.records) == 1
        assert max(answer["probabilities"]) > 0.5  # the trained policy's greedy answer, not 1/3 each


def test_values_that_overflow_float32_made_vw_answer_uniform(trained: Policy) -> None:
    """Why the bound: VW reads the featurizer's text of 3.5e38 as infinity and its prediction falls back to uniform."""
    context = {"x0": 3.5e38, "x1": 0.5, "x2": 0.5, "x3": 0.5}
    assert trained.distribution(context) == pytest.approx([1 / 3] * 3)


def test_values_under_1e_37_are_read_by_vw_as_zero_and_accepted(trained: Policy) -> None:
    zero = trained.distribution({"x0": 0.0, "x1": 0.5, "x2": 0.5, "x3": 0.5})
    for tiny in (5e-324, 1.4e-45, -1e-40, 1.1754943508222875e-38, 9e-38):
        status, answer, _ = _handle(trained, {"context": {"x0": tiny, "x1": 0.5, "x2": 0.5, "x3": 0.5}})
        assert status == 200 and answer["probabilities"] == pytest.approx(zero)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"context": {f"f{i}": 1 for i in range(MAX_CONTEXT_FEATURES + 1)}}, "context"),
        ({"observation": [0.5] * (MAX_CONTEXT_FEATURES + 1)}, "observation"),
        ({"context": {}, "actions": [{"id": "a", "features": {f"f{i}": 1 for i in range(65)}}]}, "actions[0].features"),
        ({"context": {"v": "x" * (MAX_TEXT_CHARS + 1)}}, "context.v"),
        ({"context": {}, "actions": ["x" * (MAX_NAME_CHARS + 1)]}, "actions[0]"),
        ({"context": {}, "actions": list(range(1025))}, "actions"),
        ({"instances": [{"context": {}}] * (MAX_INSTANCES + 1)}, "instances"),
        (
            {"context": {}, "actions": [{"id": i, "features": {f"f{k}": 1 for k in range(64)}} for i in range(1024)]},
            "body",
        ),
        ({"instances": [{"observation": [0.5] * 9, "actions": list(range(64))}] * 300}, "instances"),
    ],
)
def test_requests_over_a_size_limit_get_413_naming_the_field(trained: Policy, body: object, field: str) -> None:
    status, answer, logger = _handle(trained, body)
    assert (status, answer["field"]) == (413, field) and answer["error"]
    assert logger.records == []


def test_a_long_feature_name_gets_413_with_a_shortened_path(trained: Policy) -> None:
    name = "n" * (MAX_NAME_CHARS + 1)
    status, answer, _ = _handle(trained, {"context": {name: 1}})
    assert status == 413 and answer["field"].startswith('context["nnn') and len(answer["field"]) < 64


def test_requests_at_each_limit_are_served(trained: Policy) -> None:
    at_limits = [
        {"context": {"x" * MAX_NAME_CHARS: "v" * MAX_TEXT_CHARS}},
        {"observation": [0.5] * MAX_CONTEXT_FEATURES},
        {"context": {}, "actions": [{"id": "a", "features": {f"f{i}": 1 for i in range(MAX_ACTION_FEATURES)}}]},
        {"instances": [{"observation": [0.5] * 9}] * MAX_INSTANCES},  # the simulator's largest batch
    ]
    for body in at_limits:
        status, answer, logger = _handle(trained, body)
        assert status == 200, answer
        assert len(logger.records) == len(body.get("instances", [body]))


def test_malformed_requests_stay_400(trained: Policy) -> None:
    status, answer, _ = _handle(trained, {"context": {"a": None}})
    assert (status, answer["field"]) == (400, "context.a")


def test_a_body_the_server_refused_for_its_size_is_413(trained: Policy) -> None:
    app = DecisionApp(trained, ListLogger(), experiment_id="exp-1")  # type: ignore[arg-type]
    status, answer = app.handle("POST", "/invocations", InvalidRequest("body", "is over 1048576 bytes"))
    assert (status, json.loads(answer)["field"]) == (413, "body")


def test_cost_counts_the_policys_own_candidates_when_a_request_names_none() -> None:
    invocation = parse_invocation(b'{"observation": [1, 2, 3]}')
    assert request_cost(invocation.requests, known_actions=7) > request_cost(invocation.requests, known_actions=1)
    with pytest.raises(RequestTooLarge):
        parse_invocation(json.dumps({"instances": [{"observation": [1]}] * 1000}).encode(), known_actions=1024)
