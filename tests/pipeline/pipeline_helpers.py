"""Helpers for the pipeline tests: the moto account, a Lambda context, in-process Lambda invocation for moto's
Step Functions interpreter, and canned evaluation outputs."""

from __future__ import annotations

import importlib
import io
import json
import tarfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

REPO_ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = REPO_ROOT / "statemachine" / "retrain.asl.json"
ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "bandit-lake"
FUNCTIONS = ("trigger", "join", "train", "evaluate", "deploy", "finalize")
SUBSTITUTIONS = {
    "TriggerFunctionArn": "trigger",
    "JoinFunctionArn": "join",
    "TrainFunctionArn": "train",
    "EvaluateFunctionArn": "evaluate",
    "DeployFunctionArn": "deploy",
    "FinalizeFunctionArn": "finalize",
}


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def render_asl(poll_seconds: int = 0, run_timeout_seconds: int = 300) -> str:
    """The real ASL file with the contract's substitutions applied (as CDK's definition_substitutions do)."""
    text = ASL_PATH.read_text()
    for key, function in SUBSTITUTIONS.items():
        text = text.replace("${" + key + "}", function_arn(function))
    text = text.replace("${RunTimeoutSeconds}", str(run_timeout_seconds))
    return text.replace("${PollSeconds}", str(poll_seconds))


@dataclass
class FakeContext:
    """What Powertools reads from a Lambda context."""

    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = function_arn("test-function")
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


Handler = Callable[[dict[str, Any]], Any]


class InProcessLambda:
    """Answers `lambda.Invoke` in-process: moto's interpreter calls the handlers of `lambdas/` (or scripted fakes).

    Registered as a `before-call.lambda.Invoke` handler on boto3's default session: returning a response there
    short-circuits botocore before anything is sent.
    """

    def __init__(self) -> None:
        self.fakes: dict[str, Handler] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        path = unquote(params["url_path"])
        name = path.split("/functions/", 1)[1].split("/", 1)[0].rsplit(":", 1)[-1]
        body = params.get("body") or b"{}"
        event = json.loads(body.decode() if isinstance(body, bytes) else body)
        self.calls.append((name, event))
        function_error = None
        try:
            if name in self.fakes:
                result = self.fakes[name](event)
            else:
                result = importlib.import_module(name).handler(event, FakeContext(function_name=name))
        except Exception as error:
            function_error = "Unhandled"
            result = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_exception(error)[-3:],
            }
        payload = json.dumps(result).encode()
        parsed: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": StreamingBody(io.BytesIO(payload), len(payload)),
            "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "in-process", "HTTPHeaders": {}},
        }
        if function_error:
            parsed["FunctionError"] = function_error
        return AWSResponse(params.get("url", ""), 200, {}, None), parsed

    def actions(self, name: str) -> list[str]:
        return [event.get("action", "") for called, event in self.calls if called == name]

    def install(self) -> None:
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("before-call.lambda.Invoke", self)  # type: ignore[union-attr]

    def uninstall(self) -> None:
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION.events.unregister("before-call.lambda.Invoke", self)


def wait_for_execution(sfn: Any, execution_arn: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll until the execution is no longer RUNNING (moto runs it in a thread)."""
    deadline = time.monotonic() + timeout
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING":
            return description
        if time.monotonic() > deadline:
            raise AssertionError(f"execution still RUNNING after {timeout}s")
        time.sleep(0.05)


def evaluation_archive(
    promote: bool, candidate: float = 0.8, serving: float = 0.7, extra: dict[str, Any] | None = None
) -> bytes:
    """A `model.tar.gz` as the evaluator writes it, holding `evaluation.json` (plus `extra` keys)."""
    difference = candidate - serving
    evaluation = {
        "rows": 400,
        "estimator": "dr",
        "margin": 0.01,
        "promote": promote,
        "reason": "gate passed" if promote else "candidate worse than serving",
        "policies": {
            "candidate": {
                "dr": {"value": candidate, "ci_low": candidate - 0.02, "ci_high": candidate + 0.02},
                "ess": 300.0,
            },
            "serving": {
                "dr": {"value": serving, "ci_low": serving - 0.02, "ci_high": serving + 0.02},
                "kind": "model",
                "model_id": "m-serving",
            },
        },
        "difference": {"dr": {"value": difference, "ci_low": difference - 0.03, "ci_high": difference + 0.03}},
        "logged_mean_reward": 0.6,
        **(extra or {}),
    }
    data = json.dumps(evaluation).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("evaluation.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
