"""Every 200 has a deliverable decision record: a request whose record would exceed Firehose's 1,000 KiB record limit
is refused up front with 413 (issue 14, point 3), exactly at the limit, and a batch is refused whole."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from container.core.policy import Policy
from container.core.records import (
    RECORD_BYTES_PER_CANDIDATE,
    RECORD_EXPANSION,
    DecisionRecord,
    actions_json,
    fixed_record_bytes,
)
from container.serving.app import DecisionApp
from container.serving.decision_log import MAX_RECORD_BYTES
from container.serving.invocations import MAX_BODY_BYTES, MAX_CONTEXT_FEATURES, RequestTooLarge, parse_invocation


class CapturingLogger:
    """Keeps the records the app hands over (no thread, no sink): what `serve` would encode and deliver."""

    def __init__(self) -> None:
        self.records: list[DecisionRecord] = []

    def log_many(self, records: Sequence[DecisionRecord]) -> None:
        self.records.extend(records)


def _app(actions: Sequence[str] = ("a", "b")) -> tuple[DecisionApp, CapturingLogger]:
    logger = CapturingLogger()
    app = DecisionApp(Policy.uniform(list(actions), seed=3), logger, experiment_id="exp-1")  # type: ignore[arg-type]
    return app, logger


def _quotes(features: int, chars: int) -> dict[str, str]:
    """A context whose JSON text is mostly escaped quotes: 2 body bytes per character, 4 record bytes."""
    return {f"f{i}": '"' * chars for i in range(features)}


def test_a_body_under_the_limit_whose_record_is_over_it_gets_413_and_logs_nothing() -> None:
    app, logger = _app()
    body = json.dumps({"context": _quotes(300, 1000)}).encode()
    assert len(body) < MAX_BODY_BYTES  # ~600 KB of body, ~1.2 MB of record
    status, answer = app.handle("POST", "/invocations", body)
    assert status == 413
    error = json.loads(answer)
    assert error["field"] == "body" and "1,000 KiB" in error["error"] and "decision record" in error["error"]
    assert logger.records == []


def test_a_batch_with_one_oversized_record_is_refused_whole_naming_the_instance() -> None:
    app, logger = _app()
    small = {"context": {"x": 1.0}}
    body = json.dumps({"instances": [small, small, {"context": _quotes(300, 1000)}, small]}).encode()
    status, answer = app.handle("POST", "/invocations", body)
    assert (status, json.loads(answer)["field"]) == (413, "instances[2]")
    assert logger.records == []


def _record_size(body: bytes) -> int:
    """The size of the record `body` makes, measured without the check (an invocation claiming an empty body)."""
    app, logger = _app()
    app.decide_all(replace(parse_invocation(body), body_bytes=0))
    return len(logger.records[0].to_json_line())


def _sized_request(record_bytes: int) -> bytes:
    """A request (fixed event id, uniform policy) whose decision record is exactly `record_bytes` long."""

    def body(fields: int, quotes: int, plain: int) -> bytes:
        context = {f"f{i}": '"' * 1000 for i in range(fields)}
        context["rest"] = '"' * quotes + "x" * plain  # a quote adds 4 record bytes, a plain character 1
        return json.dumps({"context": context, "event_id": "e-1"}).encode()

    base = _record_size(body(0, 0, 0))
    fields = (record_bytes - base) // (_record_size(body(1, 0, 0)) - base)
    quotes, plain = divmod(record_bytes - _record_size(body(fields, 0, 0)), 4)
    sized = body(fields, quotes, plain)
    assert _record_size(sized) == record_bytes and len(sized) < MAX_BODY_BYTES
    return sized


def test_the_check_is_exact_at_firehoses_record_limit() -> None:
    at_limit, over_limit = _sized_request(MAX_RECORD_BYTES), _sized_request(MAX_RECORD_BYTES + 1)
    app, logger = _app()
    assert app.handle("POST", "/invocations", over_limit)[0] == 413
    status, _ = app.handle("POST", "/invocations", at_limit)
    assert status == 200
    (record,) = logger.records
    line = record.to_json_line()
    assert len(line) == MAX_RECORD_BYTES
    # the line measured on the request path is the one delivered: the drainer does not encode it again
    assert record.line is line and line == DecisionRecord(**{**_fields(record), "line": None}).to_json_line()


def _fields(record: DecisionRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in DecisionRecord.__slots__}


_nasty_text = st.text(alphabet='"\\\x01\n\u00e9\u2603x', max_size=40)
_nasty_number = st.sampled_from([0, 1, -1, 1e15, -1e15, 1e9, 1.5e-7, 3.4028234663852886e38, 5e-324, 123456.789])
_nasty_value = _nasty_text | _nasty_number | st.booleans()


@settings(max_examples=150, deadline=None)
@given(
    context=st.dictionaries(_nasty_text, _nasty_value, max_size=12)
    | st.lists(_nasty_number, min_size=1, max_size=MAX_CONTEXT_FEATURES).map(lambda xs: {"observation": xs}),
    actions=st.none()
    | st.lists(
        st.integers(0, 99)
        | st.fixed_dictionaries(
            {"id": _nasty_text.filter(bool)},
            optional={"features": st.dictionaries(_nasty_text, _nasty_value, max_size=4)},
        ),
        min_size=1,
        max_size=8,
        unique_by=lambda a: str(a["id"]) if isinstance(a, dict) else str(a),
    ),
    event_id=st.none() | _nasty_text.filter(str.strip),
)
def test_the_cheap_bound_holds_for_adversarial_bodies(
    context: dict, actions: list | None, event_id: str | None
) -> None:
    """Bodies under the bound skip the exact check, so the bound must never be below the real record size."""
    request = dict(context) if "observation" in context else {"context": context}
    if actions is not None:
        request["actions"] = actions
    if event_id is not None:
        request["event_id"] = event_id
    body = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()
    app, logger = _app(['k"1', "k\\2"])
    status, _ = app.handle("POST", "/invocations", body)
    if status != 200:  # e.g. an id repeated as string and integer: refused, nothing to bound
        return
    (record,) = logger.records
    candidates = len(actions) if actions else 2
    fixed = fixed_record_bytes("exp-1", app.model_id, actions_json(app.policy.actions))
    bound = RECORD_EXPANSION * len(body) + RECORD_BYTES_PER_CANDIDATE * candidates + fixed
    assert len(record.to_json_line()) <= bound


def test_a_record_under_the_limit_from_a_large_body_is_served_and_logged() -> None:
    app, logger = _app()
    body = json.dumps({"context": {f"f{i}": "y" * 1000 for i in range(500)}}).encode()  # 500 KB: checked, fits
    status, answer = app.handle("POST", "/invocations", body)
    assert status == 200 and len(logger.records) == 1
    assert json.loads(logger.records[0].to_json_line())["event_id"] == json.loads(answer)["event_id"]


def test_the_limit_is_firehoses() -> None:
    # PutRecordBatch: "Each record in the request can be as large as 1,000 KB (before base64 encoding)"
    assert MAX_RECORD_BYTES == 1000 * 1024


@pytest.mark.parametrize(
    "request_body",
    [
        {"observation": [0] * MAX_CONTEXT_FEATURES},
        {"observation": [1e15] * MAX_CONTEXT_FEATURES},
        {"context": {"": 1e15, "a": 1e15, "b": -1e15}},
        {"context": {f"f{i}": '"' * 1000 for i in range(20)}},
        {"context": {f"f{i}": "\x01" * 1000 for i in range(20)}},
        {"context": {}, "actions": list(range(1024))},
        {"context": {}, "actions": [{"id": i, "features": {"": 1e15}} for i in range(1024)]},
    ],
)
def test_the_bound_holds_for_the_worst_expanding_bodies(request_body: dict) -> None:
    body = json.dumps(request_body, separators=(",", ":")).encode()
    app, logger = _app()
    app.decide_all(replace(parse_invocation(body), body_bytes=0))
    candidates = len(request_body.get("actions", [])) or 2
    fixed = fixed_record_bytes("exp-1", app.model_id, actions_json(app.policy.actions))
    size = len(logger.records[0].to_json_line())
    assert size <= RECORD_EXPANSION * len(body) + RECORD_BYTES_PER_CANDIDATE * candidates + fixed


def test_an_invocation_of_unknown_size_is_always_checked() -> None:
    app, logger = _app()
    invocation = parse_invocation(json.dumps({"context": _quotes(300, 1000)}).encode())
    with pytest.raises(RequestTooLarge):
        app.decide_all(replace(invocation, body_bytes=None))
    assert logger.records == []
