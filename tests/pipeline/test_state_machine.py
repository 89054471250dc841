"""The real `statemachine/retrain.asl.json`, executed by moto's Step Functions interpreter in-process.

Lambda invocations are answered by the handlers of `lambdas/` (see `InProcessLambda`); AWS services are moto's,
except where moto cannot play the part: its SageMaker has no UpdateEndpoint (a scripted endpoint stands in) and
reports training jobs Completed at once (a scripted description makes one fail); Athena's count query result is
queued through moto's backend.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from conftest import ENDPOINT, StubAws
from moto.athena.models import QueryResults, athena_backends
from pipeline_common import store
from pipeline_common.aws import client
from pipeline_helpers import ACCOUNT, BUCKET, REGION, InProcessLambda, evaluation_archive, wait_for_execution

RUN = "bandit-demo-20261123T020000"
WINDOW = {"start": "2026-11-23T00:00:00.000Z", "end": "2026-11-23T02:00:00.000Z"}
TRIGGERED = {"run_id": RUN, "window": WINDOW, "reward_count": 12, "join_after": "2026-11-23T02:00:02.000Z"}


class Scripted:
    """A boto3 client whose named operations are replaced by scripts; everything else goes to moto."""

    def __init__(self, real: Any, **scripts: Callable[..., Any]) -> None:
        self._real = real
        self._scripts = scripts

    def __getattr__(self, name: str) -> Any:
        return self._scripts.get(name) or getattr(self._real, name)


class Endpoint:
    """The SageMaker endpoint as a rollout plays out: after UpdateEndpoint, DescribeEndpoint walks through `plan`."""

    def __init__(self, config: str | None, rollout: str = "deployed") -> None:
        self.config = config
        self.rollout = rollout
        self.updates: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.plan: list[dict[str, Any]] = []

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        if self.config is None:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ValidationException", "Message": "Could not find"}}, "Describe")
        state = self.plan.pop(0) if self.plan else {"EndpointStatus": "InService"}
        if "EndpointConfigName" in state:
            self.config = state["EndpointConfigName"]
        return {"EndpointName": EndpointName, "EndpointConfigName": self.config, **state}

    def create_endpoint(self, **request: Any) -> dict[str, Any]:
        self.created.append(request)
        self.config = request["EndpointConfigName"]
        self.plan = [{"EndpointStatus": "Creating"}, {"EndpointStatus": "InService"}]
        return {"EndpointArn": "arn:endpoint"}

    def update_endpoint(self, **request: Any) -> dict[str, Any]:
        self.updates.append(request)
        old, new = self.config, request["EndpointConfigName"]
        if self.rollout == "deployed":
            self.plan = [
                {"EndpointStatus": "InService"},
                {"EndpointStatus": "Updating"},
                {"EndpointStatus": "InService", "EndpointConfigName": new},
            ]
        elif self.rollout == "rolled_back":
            self.plan = [
                {"EndpointStatus": "Updating"},
                {"EndpointStatus": "RollingBack"},
                {
                    "EndpointStatus": "InService",
                    "EndpointConfigName": old,
                    "FailureReason": "Rolled back: alarm bandit-demo-5xx in ALARM",
                },
            ]
        else:
            self.plan = [{"EndpointStatus": "Updating"}, {"EndpointStatus": "Failed", "FailureReason": "no capacity"}]
        return {"EndpointArn": "arn:endpoint"}


@pytest.fixture
def endpoint(stub_aws: StubAws) -> Endpoint:
    """An existing endpoint serving `m-old` on `old-config` (set `.config = None` for a first deployment)."""
    scripted = Endpoint("old-config")
    sagemaker = Scripted(
        boto3.client("sagemaker", region_name=REGION),
        describe_endpoint=scripted.describe_endpoint,
        create_endpoint=scripted.create_endpoint,
        update_endpoint=scripted.update_endpoint,
    )
    stub_aws("sagemaker", sagemaker)
    store.put_model(
        {
            "model_id": "m-old",
            "experiment_id": "bandit-demo",
            "state": "serving",
            "artifact_uri": f"s3://{BUCKET}/models/m-old/output/model.tar.gz",
        }
    )
    store.put_model(
        {
            "model_id": "m-older",
            "experiment_id": "bandit-demo",
            "state": "retired",
            "artifact_uri": f"s3://{BUCKET}/models/m-older/output/model.tar.gz",
        }
    )
    store.update_experiment("bandit-demo", serving_model_id="m-old", watermark=WINDOW["start"])
    return scripted


def queue_counts(joined_rows: int) -> None:
    columns = ["joined_rows", "defaulted_rows", "unmatched_rewards", "malformed_rewards", "late_rewards"]
    values = [joined_rows, 5, 2, 1, 0]
    queue = athena_backends[ACCOUNT][REGION].query_results_queue
    # moto hands queued results to query executions as they start: the UNLOAD first, then the count query
    queue.append(QueryResults(rows=[], column_info=[]))
    queue.append(
        QueryResults(
            rows=[
                {"Data": [{"VarCharValue": c} for c in columns]},
                {"Data": [{"VarCharValue": str(v)} for v in values]},
            ],
            column_info=[{"Name": c, "Type": "bigint"} for c in columns],
        )
    )


def put_evaluation(run_id: str, promote: bool, candidate: float = 0.8) -> None:
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=BUCKET,
        Key=f"evaluations/{run_id}-eval/output/model.tar.gz",
        Body=evaluation_archive(promote, candidate=candidate),
    )


def take_lock(run_id: str = RUN, consumed: int = 12) -> None:
    store.add_to_counter("bandit-demo", consumed + 3)
    assert store.acquire_lock("bandit-demo", run_id, "2026-11-23T02:05:00.000Z", json.dumps(TRIGGERED))


def execute(machine: str, payload: dict[str, Any], name: str = RUN) -> tuple[dict[str, Any], dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))["executionArn"]
    description = wait_for_execution(sfn, arn)
    output = json.loads(description.get("output") or "{}")
    return description, output


def entered_states(machine: str, name: str = RUN) -> list[str]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = f"{machine.replace(':stateMachine:', ':execution:')}:{name}"
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def test_promote_and_deploy(state_machine_arn: str, lambdas: InProcessLambda, endpoint: Endpoint) -> None:
    take_lock()
    queue_counts(120)
    put_evaluation(RUN, promote=True)
    description, output = execute(state_machine_arn, TRIGGERED)
    assert description["status"] == "SUCCEEDED", description
    # the output tells the whole story
    assert output["window"] == WINDOW and output["join"]["rows"] == 120 and output["join"]["malformed_rewards"] == 1
    assert output["training"]["model_id"] == RUN and output["training"]["parent_model_id"] == "m-old"
    assert output["evaluation"]["promote"] is True and output["evaluation"]["candidate"]["value"] == 0.8
    assert output["deployment"]["status"] == "deployed" and output["deployment"]["mode"] == "update"
    assert output["result"]["outcome"] == "promoted"
    assert len(endpoint.updates) == 1
    policy = endpoint.updates[0]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    # the default fleet is one instance: no canary is valid there, so all at once with the canary wait as the bake
    assert policy["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}
    assert store.read_model(RUN)["state"] == "serving" and store.read_model("m-old")["state"] == "retired"  # type: ignore[index]
    experiment = store.read_experiment("bandit-demo")
    assert experiment["serving_model_id"] == RUN and experiment["watermark"] == WINDOW["end"]
    assert store.read_lock("bandit-demo") is None and store.read_counter("bandit-demo") == 3
    states = entered_states(state_machine_arn)
    assert states[:4] == ["IsRollback?", "RewardsDue?", "WaitForRewards", "StartJoin"]
    assert states[-2:] == ["Finalize", "Succeed"]
    assert "WaitForDeployment" in states and "Promote?" in states


def test_a_triggered_run_joins_at_its_join_after(state_machine_arn: str, lambdas: InProcessLambda) -> None:
    """The window ends at the crossing; the join waits for the window's rewards (`join_after`), not a moment less."""
    take_lock()
    queue_counts(10)  # too few rows: the run stops after the join, which is all this test needs
    join_at = datetime.fromtimestamp(math.ceil(time.time()) + 2, UTC)
    description, _ = execute(state_machine_arn, {**TRIGGERED, "join_after": join_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    assert description["status"] == "SUCCEEDED", description
    sfn = boto3.client("stepfunctions", region_name=REGION)
    events = sfn.get_execution_history(executionArn=description["executionArn"], maxResults=1000)["events"]
    entered = {e["stateEnteredEventDetails"]["name"]: e["timestamp"] for e in events if "stateEnteredEventDetails" in e}
    # moto's interpreter waits the whole seconds left (it truncates), so it may start up to 1 s early; AWS does not.
    assert "WaitForRewards" in entered and entered["StartJoin"] >= join_at - timedelta(seconds=1)


def test_no_promotion(state_machine_arn: str, lambdas: InProcessLambda, endpoint: Endpoint) -> None:
    take_lock()
    queue_counts(120)
    put_evaluation(RUN, promote=False, candidate=0.5)  # confidently worse: -0.2, upper bound -0.17
    description, output = execute(state_machine_arn, TRIGGERED)
    assert description["status"] == "SUCCEEDED"
    assert output["evaluation"]["promote"] is False and output["evaluation"]["challenger"] is False
    assert "deployment" not in output
    assert output["result"]["outcome"] == "rejected"
    assert lambdas.actions("deploy") == [] and endpoint.updates == []
    assert store.read_model(RUN)["state"] == "rejected"  # type: ignore[index]
    assert store.read_experiment("bandit-demo")["serving_model_id"] == "m-old"
    assert store.read_lock("bandit-demo") is None


def test_a_rejected_candidate_not_confidently_worse_serves_as_a_challenger(
    state_machine_arn: str, lambdas: InProcessLambda, endpoint: Endpoint
) -> None:
    take_lock()
    queue_counts(120)
    put_evaluation(RUN, promote=False)  # rejected, but its upper bound (+0.13) says it may well be better
    description, output = execute(state_machine_arn, TRIGGERED)
    assert description["status"] == "SUCCEEDED", description
    assert output["evaluation"]["promote"] is False and output["evaluation"]["challenger"] is True
    assert output["deployment"]["status"] == "deployed" and output["deployment"]["challenger_share"] == 0.2
    assert output["result"]["outcome"] == "rejected" and output["result"]["challenger_model_id"] == RUN
    assert len(endpoint.updates) == 1  # blue/green with the rollback alarms, as any rollout
    config = endpoint.updates[0]["EndpointConfigName"]
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    model = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]["ModelName"]
    container = sagemaker.describe_model(ModelName=model)["PrimaryContainer"]
    # decisions keep logging the serving model's id; the share mixes the candidate in from its own artifact
    assert container["Environment"]["MODEL_ID"] == "m-old" and container["Environment"]["CHALLENGER_SHARE"] == "0.2"
    assert container["ModelDataUrl"] == output["training"]["artifact_uri"]
    assert store.read_model(RUN)["state"] == "rejected" and store.read_model(RUN)["challenger_share"] == 0.2  # type: ignore[index]
    assert store.read_model("m-old")["state"] == "serving"  # type: ignore[index]
    experiment = store.read_experiment("bandit-demo")
    assert experiment["serving_model_id"] == "m-old" and experiment["challenger_model_id"] == RUN
    assert experiment["watermark"] == WINDOW["end"] and store.read_lock("bandit-demo") is None


def test_too_few_rows_skips_and_releases_the_lock(
    state_machine_arn: str, lambdas: InProcessLambda, endpoint: Endpoint
) -> None:
    take_lock()
    queue_counts(10)
    description, output = execute(state_machine_arn, TRIGGERED)
    assert description["status"] == "SUCCEEDED"
    assert output["join"]["enough_rows"] is False and output["result"]["outcome"] == "skipped"
    assert lambdas.actions("train") == [] and lambdas.actions("deploy") == []
    assert store.read_lock("bandit-demo") is None and store.read_counter("bandit-demo") == 3
    assert store.read_experiment("bandit-demo")["watermark"] == WINDOW["end"]


def fail_join(stub_aws: StubAws) -> None:
    athena = client("athena")

    def get_query_execution(QueryExecutionId: str) -> dict[str, Any]:
        real = athena.get_query_execution(QueryExecutionId=QueryExecutionId)
        real["QueryExecution"]["Status"] = {"State": "FAILED", "StateChangeReason": "HIVE_BAD_DATA: bad json"}
        return real

    stub_aws("athena", Scripted(athena, get_query_execution=get_query_execution))


def fail_training(stub_aws: StubAws) -> None:
    sagemaker = client("sagemaker")

    def describe_training_job(TrainingJobName: str) -> dict[str, Any]:
        real = sagemaker.describe_training_job(TrainingJobName=TrainingJobName)
        return {**real, "TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: vw crashed"}

    stub_aws("sagemaker", Scripted(sagemaker, describe_training_job=describe_training_job))


@pytest.mark.parametrize(
    ("step", "error", "states_before_failure"),
    [
        ("join", "JoinQueryFailed", "CheckJoin"),
        ("training", "TrainingJobFailed", "CheckTraining"),
        ("evaluation", "EvaluationJobFailed", "CheckEvaluation"),
        ("deployment", "DeploymentFailed", "CheckDeployment"),
    ],
)
def test_each_step_failing_records_the_failure_and_releases_the_lock(
    state_machine_arn: str,
    lambdas: InProcessLambda,
    endpoint: Endpoint,
    stub_aws: StubAws,
    step: str,
    error: str,
    states_before_failure: str,
) -> None:
    take_lock()
    queue_counts(120)
    if step == "join":
        fail_join(stub_aws)
    elif step == "training":
        fail_training(stub_aws)
    elif step == "deployment":
        put_evaluation(RUN, promote=True)
        endpoint.rollout = "failed"
    # evaluation: no evaluation.json was written, so reading the job's output fails
    description, _ = execute(state_machine_arn, TRIGGERED)
    assert description["status"] == "FAILED"
    assert description.get("error") == error, description
    states = entered_states(state_machine_arn)
    assert states[-3:] == [states_before_failure, "RecordFailure", "Fail"]
    if step != "deployment":
        assert endpoint.updates == [] and lambdas.actions("deploy") == []
    recorded = [event for name, event in lambdas.calls if name == "finalize"]
    assert [event["action"] for event in recorded] == ["record_failure"]
    assert recorded[0]["run"]["error"]["Error"] == error
    experiment = store.read_experiment("bandit-demo")
    assert experiment["last_outcome"] == "failed" and experiment["last_error"] == f"{step}: {error}"
    assert experiment["serving_model_id"] == "m-old" and experiment["watermark"] == WINDOW["start"]
    assert store.read_lock("bandit-demo") is None and store.read_counter("bandit-demo") == 3
    if step in ("training", "evaluation", "deployment"):
        assert store.read_model(RUN)["state"] == "failed"  # type: ignore[index]


def test_deployment_rolled_back(state_machine_arn: str, lambdas: InProcessLambda, endpoint: Endpoint) -> None:
    take_lock()
    queue_counts(120)
    put_evaluation(RUN, promote=True)
    endpoint.rollout = "rolled_back"
    description, output = execute(state_machine_arn, TRIGGERED)
    assert description["status"] == "SUCCEEDED"
    assert output["deployment"]["status"] == "rolled_back" and "alarm" in output["deployment"]["reason"]
    assert output["result"]["outcome"] == "rolled_back"
    assert store.read_model(RUN)["state"] == "rolled_back"  # type: ignore[index]
    assert store.read_model("m-old")["state"] == "serving"  # type: ignore[index]
    assert store.read_experiment("bandit-demo")["serving_model_id"] == "m-old"
    assert store.read_lock("bandit-demo") is None


def test_rollback_on_demand(state_machine_arn: str, lambdas: InProcessLambda, endpoint: Endpoint) -> None:
    description, output = execute(state_machine_arn, {"rollback_to": "m-older"}, name="rollback-to-m-older")
    assert description["status"] == "SUCCEEDED"
    assert lambdas.actions("join") == [] and lambdas.actions("train") == [] and lambdas.actions("evaluate") == []
    assert output["deployment"]["model_id"] == "m-older" and output["deployment"]["status"] == "deployed"
    assert output["result"]["outcome"] == "rollback_deployed"
    request = endpoint.updates[0]
    assert request["EndpointConfigName"] == "bandit-demo-rollback-to-m-older-config"
    assert store.read_model("m-older")["state"] == "serving" and store.read_model("m-old")["state"] == "retired"  # type: ignore[index]
    experiment = store.read_experiment("bandit-demo")
    assert experiment["serving_model_id"] == "m-older" and experiment["watermark"] == WINDOW["start"]


def bootstrap(state_machine_arn: str, endpoint: Endpoint, rows: int) -> dict[str, Any]:
    """A run started by hand with `{"bootstrap": true}` before any endpoint exists, on `rows` joined rows."""
    endpoint.config = None
    queue_counts(rows)
    description, output = execute(state_machine_arn, {"bootstrap": True}, name="bootstrap")
    assert description["status"] == "SUCCEEDED"
    return output


def test_bootstrap_without_data_creates_the_endpoint_with_the_uniform_policy(
    state_machine_arn: str, lambdas: InProcessLambda, endpoint: Endpoint
) -> None:
    output = bootstrap(state_machine_arn, endpoint, 0)
    assert lambdas.actions("train") == [] and lambdas.actions("evaluate") == []
    assert output["deployment"]["mode"] == "create" and output["deployment"]["artifact_uri"] is None
    assert output["result"]["outcome"] == "bootstrapped"
    assert endpoint.created == [{"EndpointName": ENDPOINT, "EndpointConfigName": "bandit-demo-bootstrap-config"}]
    assert store.read_experiment("bandit-demo")["serving_model_id"] == "bandit-demo-bootstrap"


def test_bootstrap_with_data_trains_and_deploys_without_evaluation(
    state_machine_arn: str, lambdas: InProcessLambda, endpoint: Endpoint
) -> None:
    output = bootstrap(state_machine_arn, endpoint, 3)
    assert lambdas.actions("train") == ["start", "status"] and lambdas.actions("evaluate") == []
    assert output["deployment"]["model_id"] == "bandit-demo-bootstrap" and output["result"]["outcome"] == "bootstrapped"


def test_create_endpoint_right_after_its_config_is_retried(
    state_machine_arn: str, lambdas: InProcessLambda, endpoint: Endpoint
) -> None:
    """CreateEndpoint reads the new config eventually consistently: the SageMaker API Reference says to retry its
    validation error. The handler names it `AwsRetryable` and the state machine retries the step."""
    endpoint.config = None
    queue_counts(0)
    create = endpoint.create_endpoint
    refusals: list[dict[str, Any]] = []

    def not_yet_consistent(**request: Any) -> dict[str, Any]:
        if not refusals:
            refusals.append(request)
            from botocore.exceptions import ClientError

            message = f'Could not find endpoint configuration "arn:aws:sagemaker:{request["EndpointConfigName"]}".'
            raise ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "CreateEndpoint")
        return create(**request)

    client("sagemaker")._scripts["create_endpoint"] = not_yet_consistent
    description, output = execute(state_machine_arn, {"bootstrap": True}, name="bootstrap")
    assert description["status"] == "SUCCEEDED", description
    assert lambdas.actions("deploy")[:2] == ["start", "start"] and len(refusals) == 1
    assert output["deployment"]["mode"] == "create" and len(endpoint.created) == 1
    assert "RecordFailure" not in entered_states(state_machine_arn, "bootstrap")


def triggered_run_fails(state_machine_arn: str, error: str) -> str:
    """A triggered run on 120 joined rows that fails with `error`: the message of its cause."""
    take_lock()
    queue_counts(120)
    description, _ = execute(state_machine_arn, TRIGGERED)
    assert description["status"] == "FAILED"
    assert description["error"] == error, description
    return str(json.loads(description["cause"])["errorMessage"])


def test_an_aws_refusal_fails_fast_with_the_service_operation_code_and_message(
    state_machine_arn: str, lambdas: InProcessLambda, endpoint: Endpoint, stub_aws: StubAws
) -> None:
    from botocore.exceptions import ClientError

    def create_training_job(**request: Any) -> dict[str, Any]:
        message = "User: arn:aws:sts::123456789012:assumed-role/train is not authorized to perform: iam:PassRole"
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, "CreateTrainingJob")

    stub_aws("sagemaker", Scripted(client("sagemaker"), create_training_job=create_training_job))
    cause = triggered_run_fails(state_machine_arn, "AwsCallFailed")
    assert cause.startswith("sagemaker.CreateTrainingJob failed: AccessDeniedException: User: arn:aws:sts::")
    assert lambdas.actions("train") == ["start"]  # not retried: repeating it would be refused the same way
    assert store.read_lock("bandit-demo") is None


def test_a_polling_loop_past_its_limit_fails_the_run_and_releases_the_lock(
    state_machine_arn: str,
    lambdas: InProcessLambda,
    endpoint: Endpoint,
    stub_aws: StubAws,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A training job that never leaves InProgress: the training loop gives up at `training_timeout_seconds`."""
    import pipeline_common.deadline as deadline

    skew = {"seconds": 0.0}
    real_now = deadline.now
    monkeypatch.setattr(deadline, "now", lambda: real_now() + timedelta(seconds=skew["seconds"]))

    sagemaker = client("sagemaker")

    def describe_training_job(TrainingJobName: str) -> dict[str, Any]:
        real = sagemaker.describe_training_job(TrainingJobName=TrainingJobName)  # before the job: not found
        skew["seconds"] += 10_000  # each poll, time runs on by almost three hours
        return {**real, "TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"}

    stub_aws("sagemaker", Scripted(sagemaker, describe_training_job=describe_training_job))
    cause = triggered_run_fails(state_machine_arn, "StepTimedOut")
    assert cause.startswith("training still Training after its limit of 16200 s")
    assert lambdas.actions("train") == ["start", "status", "status"]
    assert entered_states(state_machine_arn)[-3:] == ["CheckTraining", "RecordFailure", "Fail"]
    assert store.read_lock("bandit-demo") is None
    assert store.read_experiment("bandit-demo")["last_error"] == "training: StepTimedOut"
