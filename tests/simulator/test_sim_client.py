"""Decision clients: batch encoding, bounded retries, boto3 InvokeEndpoint through a gateway, straight HTTP."""

from __future__ import annotations

import json

import boto3
import pytest
from sim_standins import forward_to, http_server, scripted

from simulator.client import HttpDecisionClient, SageMakerDecisionClient, decode, encode, with_retries
from simulator.errors import DecisionError

ANSWER = {
    "event_id": "e1",
    "action": "a",
    "action_index": 0,
    "action_prob": 0.5,
    "probabilities": [0.5, 0.5],
    "model_id": "m",
}
REQUEST = {"context": {"x": 1}, "actions": ["a", "b"]}


def test_one_request_goes_alone_several_as_instances() -> None:
    assert json.loads(encode([REQUEST])) == REQUEST
    assert json.loads(encode([REQUEST, REQUEST])) == {"instances": [REQUEST, REQUEST]}
    with pytest.raises(ValueError):
        encode([])
    with pytest.raises(ValueError):
        encode([REQUEST] * 1001)


def test_decode_checks_the_contract() -> None:
    assert decode(json.dumps(ANSWER), 1) == [ANSWER]
    assert decode(json.dumps({"predictions": [ANSWER, ANSWER]}), 2) == [ANSWER, ANSWER]
    with pytest.raises(DecisionError, match="expected 2"):
        decode(json.dumps({"predictions": [ANSWER]}), 2)
    with pytest.raises(DecisionError, match="without action_prob"):
        decode(json.dumps({"event_id": "e", "action": "a", "model_id": "m"}), 1)
    with pytest.raises(DecisionError, match="non-JSON"):
        decode(b"<html>", 1)


def test_retries_are_bounded_and_only_for_transient_errors() -> None:
    calls: list[int] = []

    def flaky() -> list[dict]:
        calls.append(1)
        raise ConnectionError("reset")

    with pytest.raises(DecisionError, match="after 3 attempt"):
        with_retries(flaky, lambda e: True, attempts=3, sleep=lambda s: None)
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(DecisionError, match="after 1 attempt"):
        with_retries(flaky, lambda e: False, attempts=3, sleep=lambda s: None)
    assert len(calls) == 1


def test_http_client_retries_5xx_then_succeeds() -> None:
    calls: list[bytes] = []
    with http_server(scripted([(503, {"error": "busy"}), (200, ANSWER)], calls)) as url:
        client = HttpDecisionClient(f"{url}/invocations")
        assert client.decide([REQUEST]) == [ANSWER]
        client.close()
    assert len(calls) == 2


def test_http_client_does_not_retry_a_bad_request() -> None:
    calls: list[bytes] = []
    with http_server(scripted([(400, {"error": "must be", "field": "context"})], calls)) as url:
        client = HttpDecisionClient(url)  # no path: /invocations is assumed
        with pytest.raises(DecisionError, match=r"HTTP 400.*context"):
            client.decide([REQUEST])
    assert len(calls) == 1


def test_http_client_against_real_serve_batch(serve) -> None:
    client = HttpDecisionClient(serve.invocations_url)
    answers = client.decide([REQUEST] * 50)
    client.close()
    assert len(answers) == 50
    assert len({a["event_id"] for a in answers}) == 50
    assert {a["action"] for a in answers} <= {"a", "b"}
    assert all(a["action_prob"] == pytest.approx(0.5) for a in answers)


def test_boto3_client_through_a_gateway_to_real_serve(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client is unchanged: the endpoint URL comes from the standard AWS environment variable."""
    seen: list[str] = []
    with http_server(forward_to(serve.invocations_url, "bandit-demo-policy", seen)) as gateway:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", gateway)
        client = SageMakerDecisionClient("bandit-demo-policy", runtime=None, attempts=2)
        one = client.decide([REQUEST])
        many = client.decide([REQUEST] * 20)
        client.close()
        assert seen == ["/endpoints/bandit-demo-policy/invocations"] * 2
        assert one[0]["action"] in ("a", "b") and len(many) == 20

        wrong = SageMakerDecisionClient("no-such-endpoint", runtime=boto3.client("sagemaker-runtime"), attempts=2)
        with pytest.raises(DecisionError, match="not found"):
            wrong.decide([REQUEST])
