"""The serving contract over real HTTP (the production server, in a thread on a free port)."""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import request_strategies as strategies
from container_helpers import call, running
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from container.core.policy import Policy
from container.serving.app import DecisionApp
from container.serving.decision_log import DecisionLogger
from container.serving.invocations import MAX_BODY_BYTES


class ListSink:
    """Collects delivered lines in memory."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def deliver(self, records: Sequence[bytes], stop: threading.Event) -> None:
        self.lines.extend(records)


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[tuple[int, DecisionApp, ListSink]]:
    sink = ListSink()
    logger = DecisionLogger(sink, linger_seconds=0.01)
    app = DecisionApp(Policy.load(model_dir, seed=1), logger, experiment_id="exp-1")
    with running(app) as port:
        yield port, app, sink
    logger.close(10)


def _records(app: DecisionApp, sink: ListSink) -> dict[str, dict]:
    app.logger.close(10)  # flush; a fresh logger takes over for the next test
    app.logger = DecisionLogger(sink, linger_seconds=0.01)
    return {r["event_id"]: r for r in (json.loads(line) for line in sink.lines)}


def test_ping_answers_when_the_policy_predicts(server) -> None:
    port, _, _ = server
    assert call(port, "GET", "/ping") == (200, {"status": "ok", "model_id": "m-1"})


def test_single_decision_response_and_record(server) -> None:
    port, app, sink = server
    status, body = call(port, "POST", "/invocations", b'{"context": {"x0": 0.9, "x1": 0.1}}')
    assert status == 200
    assert set(body) == {"event_id", "action", "action_index", "action_prob", "probabilities", "model_id"}
    uuid.UUID(body["event_id"])
    assert body["model_id"] == "m-1" and body["action"] in {"a", "b", "c"}
    assert body["probabilities"][body["action_index"]] == body["action_prob"] > 0
    assert abs(sum(body["probabilities"]) - 1) < 1e-9
    record = _records(app, sink)[body["event_id"]]
    assert record["experiment_id"] == "exp-1" and record["model_id"] == "m-1"
    assert json.loads(record["context"]) == {"x0": 0.9, "x1": 0.1}
    assert json.loads(record["actions"]) == [{"id": a, "features": {}} for a in ("a", "b", "c")]
    assert (record["action"], record["action_index"], record["action_prob"]) == (
        body["action"],
        body["action_index"],
        body["action_prob"],
    )
    assert json.loads(record["probabilities"]) == body["probabilities"]
    assert len(record["event_time"]) == 24 and record["event_time"].endswith("Z")


def test_given_event_id_and_actions_with_features(server) -> None:
    port, app, sink = server
    request = {
        "event_id": "client-1",
        "observation": [0.5, 0.5],
        "actions": [{"id": "new", "features": {"price": 2.5}}, "b"],
    }
    status, body = call(port, "POST", "/invocations", json.dumps(request).encode())
    assert status == 200 and body["event_id"] == "client-1" and len(body["probabilities"]) == 2
    record = _records(app, sink)["client-1"]
    assert json.loads(record["actions"])[0] == {"id": "new", "features": {"price": 2.5}}
    assert json.loads(record["context"]) == {"x0": 0.5, "x1": 0.5}


def test_batch(server) -> None:
    port, app, sink = server
    body = {"instances": [{"context": {"x0": 0.1}}, {"observation": [0.9], "event_id": "batch-2"}]}
    status, answer = call(port, "POST", "/invocations", json.dumps(body).encode())
    assert status == 200 and len(answer["predictions"]) == 2
    assert answer["predictions"][1]["event_id"] == "batch-2"
    assert {p["event_id"] for p in answer["predictions"]} <= set(_records(app, sink))


def test_keep_alive_serves_many_requests_on_one_connection(server) -> None:
    port, _, _ = server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(20):
        connection.request("POST", "/invocations", body=b'{"observation": [0.2, 0.3]}')
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["action"]
    connection.close()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/invocations", b"nope", 400, "body"),
        ("POST", "/invocations", b'{"actions": ["a"]}', 400, "context"),
        ("POST", "/invocations", b'{"context": {}, "actions": ["a", "a"]}', 400, "actions[1]"),
        ("POST", "/invocations", b'{"context": {}, "colour": "red"}', 400, "colour"),
        ("POST", "/invocations", b" " * (MAX_BODY_BYTES + 10), 413, "body"),
        ("GET", "/invocations", None, 405, "method"),
        ("POST", "/elsewhere", b"{}", 404, "path"),
    ],
)
def test_bad_requests_get_4xx_naming_the_field_and_are_not_logged(server, method, path, body, status, field) -> None:
    port, app, sink = server
    _records(app, sink)
    before = len(sink.lines)
    got, answer = call(port, method, path, body)
    assert (got, answer["field"]) == (status, field) and answer["error"]
    _records(app, sink)
    assert len(sink.lines) == before


json_values = strategies.json_values(text=6, size=3, leaves=10)
bodies = st.one_of(
    st.binary(max_size=40),
    strategies.request_like(json_values, instances=2).map(lambda d: json.dumps(d).encode()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_arbitrary_bodies_never_get_5xx_and_only_200s_are_logged(server, body: bytes) -> None:
    port, app, sink = server
    _records(app, sink)
    before = len(sink.lines)
    status, answer = call(port, "POST", "/invocations", body)
    assert status in (200, 400, 413)
    _records(app, sink)
    logged = len(sink.lines) - before
    if status != 200:
        assert answer["field"] and logged == 0
    else:
        assert logged == len(answer.get("predictions", [answer]))


def test_uniform_policy_takes_its_actions_from_the_environment(tmp_path: Path) -> None:
    from container.core.layout import Layout
    from container.serving.serve import build_app

    app = build_app(Layout(tmp_path), {"ACTIONS": "x, y", "DECISIONS_LOG_PATH": str(tmp_path / "d.jsonl")})
    try:
        status, body = app.handle("POST", "/invocations", b'{"context": {}}')
        assert status == 200 and json.loads(body)["probabilities"] == [0.5, 0.5]
        assert json.loads(body)["model_id"] == "uniform-random"
    finally:
        app.logger.close(10)
