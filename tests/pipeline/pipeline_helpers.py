"""Helpers for the pipeline tests: the moto account, a Lambda context, in-process Lambda invocation for moto's
Step Functions interpreter, and canned evaluation outputs."""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import tarfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody
from pipeline_common.deadline import Deadline
from pipeline_common.steps import (
    DeploymentMode,
    DeploymentResult,
    DeploymentStatus,
    EvaluationResult,
    Interval,
    JobStatus,
    JoinCounts,
    JoinResult,
    JoinState,
    ServingEstimate,
    TrainingResult,
    Verdict,
)
from pipeline_common.timefmt import now
from pipeline_common.window import Window

from infra.names import ASL_FUNCTION_SUBSTITUTIONS
from local.driver import wait_execution

REPO_ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = REPO_ROOT / "statemachine" / "retrain.asl.json"
ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "bandit-lake"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bandit:latest"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def render_asl(poll_seconds: int = 0, run_timeout_seconds: int = 300) -> str:
    """The real ASL file with the contract's substitutions applied (as CDK's definition_substitutions do)."""
    text = ASL_PATH.read_text()
    for key, function in ASL_FUNCTION_SUBSTITUTIONS.items():
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
    description = wait_execution(sfn, execution_arn, timeout, poll=0.05)
    if description["status"] == "RUNNING":
        raise AssertionError(f"execution still RUNNING after {timeout}s")
    return description


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


# --- step payloads as the state machine passes them (complete, from the step dataclasses, through JSON) -------------

WINDOW = {"start": "2026-11-23T00:00:00.000Z", "end": "2026-11-23T01:00:00.000Z"}


def _json(payload: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(payload))


def _deadline(seconds: int = 3600) -> Deadline:
    return Deadline(now() + timedelta(seconds=seconds), seconds)


def join_payload(
    run_id: str,
    *,
    state: str = "SUCCEEDED",
    rows: int = 100,
    enough_rows: bool = True,
    bootstrap: bool = False,
    window: dict[str, str] = WINDOW,
) -> dict[str, Any]:
    """`$.join` after CheckJoin (with counts once SUCCEEDED)."""
    counts = (
        JoinCounts(rows, *[0] * (len(dataclasses.fields(JoinCounts)) - 2), enough_rows=enough_rows)
        if state == "SUCCEEDED"
        else None
    )
    result = JoinResult(
        run_id=run_id,
        window=Window.from_dict(window),
        query_execution_id="q-unload",
        count_query_execution_id="q-counts",
        output_prefix=f"s3://{BUCKET}/joined/{run_id}/",
        bootstrap=bootstrap,
        state=JoinState(state),
        deadline=_deadline(),
        counts=counts,
    )
    return _json(result.to_payload())


def training_payload(model_id: str, *, status: str = "Completed", artifact_uri: str | None = None) -> dict[str, Any]:
    """`$.training` after CheckTraining (a Completed job has its artifact)."""
    if artifact_uri is None and status == "Completed":
        artifact_uri = f"s3://{BUCKET}/models/{model_id}/output/model.tar.gz"
    result = TrainingResult(
        model_id=model_id,
        job_name=model_id,
        parent_model_id=None,
        warm_start=False,
        status=JobStatus(status),
        deadline=_deadline(),
        artifact_uri=artifact_uri,
    )
    return _json(result.to_payload())


def finished_evaluation(run_id: str, archive: bytes) -> None:
    """The evaluation job `<run_id>-eval` as moto knows it, with `archive` as its output `model.tar.gz`."""
    boto3.client("sagemaker", region_name=REGION).create_training_job(
        TrainingJobName=f"{run_id}-eval",
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/training",
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/evaluations/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )
    key = f"evaluations/{run_id}-eval/output/model.tar.gz"
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=archive)


def evaluation_payload(
    model_id: str,
    *,
    status: str = "Completed",
    promote: bool = True,
    candidate: float = 0.8,
    serving: float = 0.7,
    challenger: bool | None = None,
) -> dict[str, Any]:
    """`$.evaluation` after CheckEvaluation (with the verdict once Completed)."""
    verdict = Verdict(
        promote=promote,
        reason="gate passed" if promote else "candidate worse than serving",
        estimator="dr",
        margin=0.01,
        rows=400,
        candidate=Interval(candidate, candidate - 0.02, candidate + 0.02),
        serving=ServingEstimate(Interval(serving, serving - 0.02, serving + 0.02), "model", "m-serving"),
        difference=Interval(candidate - serving, None, None),
        candidate_ess=300.0,
        logged_mean_reward=0.6,
    )
    result = EvaluationResult(
        job_name=f"{model_id}-eval",
        model_id=model_id,
        serving_model_id="m-serving",
        status=JobStatus(status),
        deadline=_deadline(),
        verdict=verdict if status == "Completed" else None,
        challenger=challenger,
    )
    return _json(result.to_payload())


def deployment_payload(
    model_id: str,
    *,
    status: str = "deployed",
    previous_model_id: str | None = None,
    endpoint_config: str = "new",
    previous_config: str | None = "old",
    endpoint_name: str = "bandit-demo-policy",
    challenger_share: float | None = None,
) -> dict[str, Any]:
    """`$.deployment` after StartDeployment or CheckDeployment."""
    result = DeploymentResult(
        model_id=model_id,
        artifact_uri=None,
        sagemaker_model=f"{model_id}-model",
        endpoint_name=endpoint_name,
        endpoint_config=endpoint_config,
        previous_config=previous_config,
        previous_model_id=previous_model_id,
        mode=DeploymentMode.UPDATE,
        seen_updating=False,
        status=DeploymentStatus(status),
        deadline=_deadline(),
        challenger_share=challenger_share,
    )
    return _json(result.to_payload())
