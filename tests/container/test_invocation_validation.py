"""Request validation is pure: every bad body becomes `InvalidRequest` naming the field, nothing else escapes."""

from __future__ import annotations

import json

import pytest
import request_strategies as strategies
from hypothesis import given, settings
from hypothesis import strategies as st

from container.serving.invocations import MAX_BODY_BYTES, InvalidRequest, parse_invocation


def _field(body: object) -> str:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(InvalidRequest) as caught:
        parse_invocation(raw)
    return caught.value.field


def test_single_context_request() -> None:
    invocation = parse_invocation(b'{"context": {"a": 1, "b": "x", "c": true}, "actions": ["p", 2], "event_id": "e"}')
    (request,) = invocation.requests
    assert not invocation.batch
    assert request.context == {"a": 1, "b": "x", "c": True}
    assert [a.id for a in request.actions or []] == ["p", "2"]
    assert request.event_id == "e"


def test_observation_and_action_features() -> None:
    body = {"observation": [1, 2.5], "actions": [{"id": "p", "features": {"price": 3}}, {"id": "q"}]}
    (request,) = parse_invocation(json.dumps(body).encode()).requests
    assert request.context == {"x0": 1, "x1": 2.5}
    assert request.actions is not None and dict(request.actions[0].features) == {"price": 3}
    assert request.event_id is None


def test_batch() -> None:
    invocation = parse_invocation(b'{"instances": [{"context": {}}, {"observation": [0]}]}')
    assert invocation.batch and len(invocation.requests) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "body"),
        (b"{not json", "body"),
        (b"\xff\xfe\x00", "body"),
        (b'{"context": {"a": NaN}}', "body"),
        (b'{"context": {"a": 1e999}}', "context.a"),
        ([], "body"),
        ({}, "context"),
        ({"context": [1]}, "context"),
        ({"context": {"a": None}}, "context.a"),
        ({"context": {"a": {"nested": 1}}}, "context.a"),
        ({"context": {}, "observation": [1]}, "observation"),
        ({"observation": []}, "observation"),
        ({"observation": [1, "2"]}, "observation[1]"),
        ({"observation": [True]}, "observation[0]"),
        ({"context": {}, "actions": []}, "actions"),
        ({"context": {}, "actions": "a"}, "actions"),
        ({"context": {}, "actions": ["a", "a"]}, "actions[1]"),
        ({"context": {}, "actions": ["1", 1]}, "actions[1]"),
        ({"context": {}, "actions": [1.5]}, "actions[0]"),
        ({"context": {}, "actions": [True]}, "actions[0]"),
        ({"context": {}, "actions": [""]}, "actions[0]"),
        ({"context": {}, "actions": [{"features": {}}]}, "actions[0].id"),
        ({"context": {}, "actions": [{"id": "a", "colour": 1}]}, "actions[0].colour"),
        ({"context": {}, "actions": [{"id": "a", "features": [1]}]}, "actions[0].features"),
        ({"context": {}, "event_id": 5}, "event_id"),
        ({"context": {}, "event_id": ""}, "event_id"),
        ({"context": {}, "event_id": "x" * 129}, "event_id"),
        ({"context": {}, "extra": 1}, "extra"),
        ({"instances": []}, "instances"),
        ({"instances": {}}, "instances"),
        ({"instances": [{"context": {}}], "context": {}}, "context"),
        ({"instances": [{"context": {}}, {"context": 1}]}, "instances[1].context"),
        ({"instances": [{"context": {}}, 3]}, "instances[1]"),
        ({"instances": [{"context": {}, "event_id": "e"}, {"context": {}, "event_id": "e"}]}, "instances"),
    ],
)
def test_bad_requests_name_the_field(body: object, field: str) -> None:
    assert _field(body) == field


def test_what_the_fast_parser_refuses_still_gets_the_stdlib_parsers_field_or_a_body_error() -> None:
    # orjson refuses both; the slow path names the field for 1e999 and refuses the lone surrogate whole, so no
    # accepted request carries a string the decision log (orjson, UTF-8) could not encode
    assert _field(b'{"context": {"a": 1e999}}') == "context.a"
    assert _field(b'{"context": {"a": "\\ud800"}}') == "body"
    assert _field(b'{"context": {"a": "ok"}, "event_id": "\\udc00"}') == "body"


def test_non_ascii_and_64_bit_values_are_accepted() -> None:
    body = '{"context": {"caf\u00e9": "\u2603", "big": 18446744073709551615}, "actions": ["\u00e9"]}'
    (request,) = parse_invocation(body.encode()).requests
    assert request.context == {"caf\u00e9": "\u2603", "big": 18446744073709551615}
    assert [a.id for a in request.actions or []] == ["\u00e9"]


def test_oversized_body() -> None:
    assert _field(b" " * (MAX_BODY_BYTES + 1)) == "body"


json_values = strategies.json_values()
request_like = strategies.request_like(json_values, instances=3)


@given(st.one_of(request_like, json_values))
def test_any_json_is_either_a_valid_request_or_invalid_request(value: object) -> None:
    try:
        invocation = parse_invocation(json.dumps(value).encode())
    except InvalidRequest as error:
        assert error.field and error.message
        return
    for request in invocation.requests:
        assert isinstance(request.context, dict)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_are_either_valid_or_invalid_request(body: bytes) -> None:
    try:
        parse_invocation(body)
    except InvalidRequest as error:
        assert error.field
