"""The Lambda engine bounds a function's memory as Lambda does: over its `MemorySize` the execution environment is
killed mid-invocation (`Runtime.ExitError`, "signal: killed") and the next invocation gets a fresh one. The fixture
function has 256 MB."""

from __future__ import annotations

import json
from typing import Any

from local.aws import client
from local.gateway import Gateway
from local.provision import Stack


def _invoke(gateway: Gateway, payload: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    answer = client("lambda", endpoint_url=gateway.url).invoke(FunctionName="fixture-echo", Payload=json.dumps(payload))
    return answer, json.loads(answer["Payload"].read())


def test_a_function_over_its_memory_is_killed_and_replaced(gateway: Gateway, fixture_stack: Stack) -> None:
    _, within = _invoke(gateway, {"allocate_mb": 64})
    assert within["event"]["allocate_mb"] == 64  # 64 MiB on top of the runtime fits in 256 MB
    answer, body = _invoke(gateway, {"allocate_mb": 400, "sleep": 2})
    assert answer["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.ExitError"
    assert "signal: killed" in body["errorMessage"]
    _, after = _invoke(gateway, {})
    assert after["pid"] != within["pid"]  # a fresh execution environment


def test_a_peak_over_the_memory_is_caught_even_when_freed_before_the_answer(
    gateway: Gateway, fixture_stack: Stack
) -> None:
    answer, body = _invoke(gateway, {"allocate_mb": 400, "free": True})
    assert answer["FunctionError"] == "Unhandled" and "signal: killed" in body["errorMessage"]
