"""The step handlers against moto, with the exact SageMaker requests captured by botocore's Stubber."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import deploy
import evaluate
import finalize
import join
import pytest
import train
from botocore.stub import ANY, Stubber
from conftest import ENDPOINT, StubAws
from hypothesis import given
from hypothesis import strategies as st
from moto.athena.models import QueryResults, athena_backends
from pipeline_common import errors, store
from pipeline_common.config import RunSettings, parse_run_settings
from pipeline_common.errors import ConfigError
from pipeline_common.names import sagemaker_name
from pipeline_common.outcome import failed_step
from pipeline_common.payloads import Fields
from pipeline_common.sagemaker_requests import metric_definitions, traffic_routing
from pipeline_common.steps import RunState
from pipeline_common.timefmt import iso
from pipeline_helpers import (
    ACCOUNT,
    BUCKET,
    IMAGE,
    REGION,
    FakeContext,
    deployment_payload,
    evaluation_archive,
    evaluation_payload,
    finished_evaluation,
    join_payload,
    training_payload,
)

from contract.settings import Settings, parse_settings

RUN = "bandit-demo-20261123T010000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/training"
ENDPOINT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/endpoint"
SM_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:"


def test_settings_json_round_trips_through_the_lambdas_parse() -> None:
    for raw in ({}, {"exploration": {"algorithm": "bag", "bag": 7}, "interactions": ["sa", "ua"], "seed": 3}):
        settings = parse_settings(raw)
        assert parse_run_settings(settings.to_json()) == settings


def test_invalid_settings_json_is_a_config_error_naming_the_setting() -> None:
    text = json.dumps({**json.loads(Settings().to_json()), "holdout_share": 0.95})
    with pytest.raises(ConfigError, match="holdout_share"):
        parse_run_settings(text)
    with pytest.raises(ConfigError, match="SETTINGS_JSON"):
        parse_run_settings("not json")


def test_sagemaker_names_are_valid_and_stable() -> None:
    long_run = "x" * 70 + "_manual run"
    for name in (sagemaker_name(RUN), sagemaker_name(long_run, "-eval"), sagemaker_name(long_run, "-config")):
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name
    assert sagemaker_name(long_run, "-eval") == sagemaker_name(long_run, "-eval")
    assert sagemaker_name(long_run, "-eval") != sagemaker_name("y" + long_run, "-eval")
    # the IAM policies allow SageMaker resources by the experiment prefix: manual execution names get it
    assert sagemaker_name("bootstrap", "-model", "bandit-demo") == "bandit-demo-bootstrap-model"
    assert sagemaker_name(RUN, "-model", "bandit-demo") == f"{RUN}-model"
    assert sagemaker_name(long_run, "-config", "bandit-demo").startswith("bandit-demo-")


@pytest.fixture
def sagemaker_stub(stub_aws: StubAws) -> Iterator[Stubber]:
    """A stubbed SageMaker client handed to the handlers; every other service stays moto's."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(sagemaker)
    stub_aws("sagemaker", sagemaker)
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


def channel(name: str, uri: str, content_type: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
        "InputMode": "File",
        "ContentType": content_type,
    }


def serve(model_id: str, artifact: str | None) -> None:
    store.put_model(
        {"model_id": model_id, "experiment_id": "bandit-demo", "state": "serving", "artifact_uri": artifact}
    )
    store.update_experiment("bandit-demo", serving_model_id=model_id)


JOIN = join_payload(RUN)


def test_train_start_sends_the_exact_create_training_job_request(sagemaker_stub: Stubber, context: FakeContext) -> None:
    serve("m-old", f"s3://{BUCKET}/models/m-old/output/model.tar.gz")
    sagemaker_stub.add_client_error("describe_training_job", "ValidationException", "Requested resource not found")
    expected = {
        "TrainingJobName": RUN,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [
            channel("training", f"s3://{BUCKET}/joined/{RUN}/", "application/jsonlines"),
            channel("pretrained_model", f"s3://{BUCKET}/models/m-old/output/model.tar.gz", "application/x-tar"),
            # the serving model, packed into the candidate's artifact for a challenger deployment
            channel("serving_model", f"s3://{BUCKET}/models/m-old/output/model.tar.gz", "application/x-tar"),
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 14400},
        "HyperParameters": {
            **Settings().hyperparameters(),
            "model_id": RUN,
            "parent_model_id": "m-old",
            "serving_model_id": "m-old",
        },
        "Tags": [{"Key": "experiment_id", "Value": "bandit-demo"}],
    }
    sagemaker_stub.add_response("create_training_job", {"TrainingJobArn": SM_ARN + "training-job/j"}, expected)
    result = train.handler({"action": "start", "run_id": RUN, "join": JOIN}, context)
    assert result.pop("timeout_seconds") == Settings().training_timeout_seconds and result.pop("deadline")
    assert result == {
        "model_id": RUN,
        "job_name": RUN,
        "parent_model_id": "m-old",
        "warm_start": True,
        "status": "InProgress",
    }
    row = store.read_model(RUN)
    assert row is not None and row["state"] == "training" and row["parent_model_id"] == "m-old"


def test_train_without_a_serving_model_has_no_pretrained_channel(aws: None, context: FakeContext) -> None:
    result = train.handler({"action": "start", "run_id": RUN, "join": JOIN}, context)
    assert result["warm_start"] is False and result["parent_model_id"] is None
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=RUN)
    assert [c["ChannelName"] for c in job["InputDataConfig"]] == ["training"]
    assert job["HyperParameters"]["parent_model_id"] == ""
    # moto reports the job Completed at once: the model becomes a candidate with its artifact.
    status = train.handler({"action": "status", "run_id": RUN, "training": result}, context)
    assert status["status"] == "Completed"
    assert status["artifact_uri"] == f"s3://{BUCKET}/models/{RUN}/output/model.tar.gz"
    assert store.read_model(RUN)["state"] == "candidate"  # type: ignore[index]


def test_a_failed_training_job_raises_with_its_reason(sagemaker_stub: Stubber, context: FakeContext) -> None:
    store.put_model({"model_id": RUN, "state": "training"})
    sagemaker_stub.add_response(
        "describe_training_job",
        {
            "TrainingJobName": RUN,
            "TrainingJobArn": SM_ARN + "training-job/j",
            "TrainingJobStatus": "Failed",
            "SecondaryStatus": "Failed",
            "FailureReason": "AlgorithmError: no rows",
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 1},
            "CreationTime": "2026-11-23T00:00:00Z",
            "ModelArtifacts": {"S3ModelArtifacts": "s3://x"},
        },
    )
    with pytest.raises(errors.TrainingJobFailed, match="AlgorithmError: no rows"):
        train.handler(
            {"action": "status", "run_id": RUN, "training": training_payload(RUN, status="InProgress")}, context
        )
    assert store.read_model(RUN)["state"] == "failed"  # type: ignore[index]


def test_evaluate_start_request_and_metric_regexes(aws: None, context: FakeContext) -> None:
    serve("m-old", f"s3://{BUCKET}/models/m-old/output/model.tar.gz")
    training = training_payload(RUN)
    result = evaluate.handler({"action": "start", "run_id": RUN, "join": JOIN, "training": training}, context)
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=f"{RUN}-eval")
    assert result["job_name"] == f"{RUN}-eval" and result["serving_model_id"] == "m-old"
    assert job["AlgorithmSpecification"]["ContainerEntrypoint"] == ["evaluate"]
    assert {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]} == {
        "holdout": f"s3://{BUCKET}/joined/",  # every run's rows: the evaluator pools them from holdout_since
        "candidate": training["artifact_uri"],
        "serving": f"s3://{BUCKET}/models/m-old/output/model.tar.gz",
    }
    assert job["HyperParameters"] == {
        "holdout_share": "0.2",
        "promotion_estimator": "dr",
        "promotion_margin": "0.01",
        "promotion_confidence": "0.95",
        "promotion_interval": "normal",
        "reward_min": "0",  # the reward_range setting: the join quarantined every reward outside it
        "reward_max": "1",
        "seed": "7",
    }
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/evaluations/"
    log = "METRIC candidate_dr=0.8125\nMETRIC difference_dr_low=-1.5e-03\nMETRIC serving_dr=nan\n"
    found = {d["Name"]: m.group(1) for d in metric_definitions() if (m := re.search(d["Regex"], log)) is not None}
    assert found == {"candidate_dr": "0.8125", "difference_dr_low": "-1.5e-03", "serving_dr": "nan"}


def test_evaluate_status_reports_the_verdict_and_numbers(aws: None, context: FakeContext) -> None:
    store.put_model({"model_id": RUN, "state": "candidate"})
    finished_evaluation(RUN, evaluation_archive(False, 0.6, 0.7))
    evaluation = evaluation_payload(RUN, status="InProgress")
    result = evaluate.handler({"action": "status", "run_id": RUN, "evaluation": evaluation}, context)
    assert result["status"] == "Completed" and result["promote"] is False
    assert result["candidate"]["value"] == pytest.approx(0.6)
    assert result["serving"]["value"] == pytest.approx(0.7) and result["serving"]["model_id"] == "m-serving"
    assert result["difference"]["ci_low"] == pytest.approx(-0.13)
    assert json.loads(store.read_model(RUN)["scores"])["promote"] is False  # type: ignore[index]


ENDPOINT_IN_SERVICE = {
    "EndpointName": ENDPOINT,
    "EndpointArn": SM_ARN + "endpoint/e",
    "EndpointConfigName": "old-config",
    "EndpointStatus": "InService",
    "CreationTime": "2026-11-23T00:00:00Z",
    "LastModifiedTime": "2026-11-23T00:00:00Z",
}


ALL_AT_ONCE = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}
CANARY_ONE = {"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 300}


@pytest.mark.parametrize(
    ("settings_overrides", "instances", "routing"),
    [
        # one instance: SageMaker refuses any canary (at most 50% of 1 instance), so all at once with a bake
        ({}, 1, ALL_AT_ONCE),
        ({"endpoint_instance_count": 2}, 2, CANARY_ONE),  # 10% of 2 rounds down to the minimum canary of 1
        (
            {"endpoint_instance_count": 10, "canary_percent": 30, "decision_acknowledgement": "firehose"},
            10,
            {**CANARY_ONE, "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 3}},
        ),
        ({"endpoint_instance_count": 3, "canary_percent": 100}, 3, ALL_AT_ONCE),
    ],
)
def test_deploy_start_updates_the_endpoint_blue_green_with_alarm_rollback(
    sagemaker_stub: Stubber,
    context: FakeContext,
    settings_overrides: dict[str, Any],
    instances: int,
    routing: dict[str, Any],
) -> None:
    serve("m-old", "s3://old")
    store.put_model({"model_id": RUN, "state": "candidate", "artifact_uri": f"s3://{BUCKET}/models/{RUN}/m.tar.gz"})
    sagemaker_stub.add_response(
        "create_model",
        {"ModelArn": SM_ARN + "model/m"},
        {
            "ModelName": f"{RUN}-model",
            "PrimaryContainer": {
                "Image": IMAGE,
                "ModelDataUrl": f"s3://{BUCKET}/models/{RUN}/m.tar.gz",
                "Environment": {
                    "DECISIONS_STREAM": "bandit-demo-decisions",
                    "EXPERIMENT_ID": "bandit-demo",
                    "MODEL_ID": RUN,
                    # the serving container's botocore needs AWS_DEFAULT_REGION; SageMaker does not set it reliably
                    "AWS_DEFAULT_REGION": REGION,
                    "AWS_REGION": REGION,
                    # when the endpoint answers: the setting, passed on (container/serving/decision_log.py)
                    "DECISIONS_ACKNOWLEDGEMENT": settings_overrides.get("decision_acknowledgement", "spool"),
                },
            },
            "ExecutionRoleArn": ENDPOINT_ROLE,
        },
    )
    sagemaker_stub.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": SM_ARN + "endpoint-config/c"},
        {
            "EndpointConfigName": f"{RUN}-config",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{RUN}-model",
                    "InitialInstanceCount": instances,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        },
    )
    sagemaker_stub.add_response("describe_endpoint", ENDPOINT_IN_SERVICE, {"EndpointName": ENDPOINT})
    sagemaker_stub.add_response(
        "update_endpoint",
        {"EndpointArn": SM_ARN + "endpoint/e"},
        {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": f"{RUN}-config",
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": routing,
                    "TerminationWaitInSeconds": 120,
                    "MaximumExecutionTimeoutInSeconds": 4020,
                },
                "AutoRollbackConfiguration": {
                    "Alarms": [{"AlarmName": "bandit-demo-5xx"}, {"AlarmName": "bandit-demo-latency"}]
                },
            },
        },
    )
    run = {"join": JOIN, "training": training_payload(RUN), "evaluation": evaluation_payload(RUN)}
    result = deploy.handler({"action": "start", "run_id": RUN, "run": run}, context)
    assert result["mode"] == "update"
    assert result["previous_config"] == "old-config" and result["previous_model_id"] == "m-old"
    assert result["endpoint_config"] == f"{RUN}-config" and result["status"] == "in_progress"


@pytest.mark.parametrize(("instances", "percent"), [(2, 51), (4, 99), (3, 0), (0, 10)])
def test_traffic_routing_refuses_what_sagemaker_would(instances: int, percent: int) -> None:
    with pytest.raises(errors.ConfigError, match=r"bandit\.(canary_percent|endpoint_instance_count)"):
        traffic_routing(instance_count=instances, canary_percent=percent, canary_wait_seconds=60)


def test_deploy_start_creates_the_endpoint_the_first_time(sagemaker_stub: Stubber, context: FakeContext) -> None:
    sagemaker_stub.add_response("create_model", {"ModelArn": SM_ARN + "model/m"}, ANY_REQUEST["create_model"])
    sagemaker_stub.add_response(
        "create_endpoint_config", {"EndpointConfigArn": SM_ARN + "endpoint-config/c"}, ANY_REQUEST["config"]
    )
    sagemaker_stub.add_client_error("describe_endpoint", "ValidationException", "Could not find endpoint")
    sagemaker_stub.add_response(
        "create_endpoint",
        {"EndpointArn": SM_ARN + "endpoint/e"},
        {"EndpointName": ENDPOINT, "EndpointConfigName": f"{RUN}-config"},
    )
    result = deploy.handler({"action": "start", "run_id": RUN, "run": {"bootstrap": True}}, context)
    assert result["mode"] == "create" and result["previous_config"] is None
    # no training: the uniform policy is registered as the run's model, without an artifact.
    assert result["model_id"] == RUN and result["artifact_uri"] is None
    assert store.read_model(RUN)["state"] == "candidate"  # type: ignore[index]


ANY_REQUEST = {
    "create_model": {"ModelName": ANY, "PrimaryContainer": ANY, "ExecutionRoleArn": ANY},
    "config": {"EndpointConfigName": ANY, "ProductionVariants": ANY},
}


def test_a_rollback_target_must_be_registered_and_trained(aws: None, context: FakeContext) -> None:
    with pytest.raises(errors.NotFound):
        deploy.handler({"action": "start", "run_id": RUN, "run": {"rollback_to": "nope"}}, context)
    store.put_model({"model_id": "m-broken", "state": "failed"})
    with pytest.raises(errors.NotDeployable):
        deploy.handler({"action": "start", "run_id": RUN, "run": {"rollback_to": "m-broken"}}, context)


@pytest.mark.parametrize(
    ("status", "config", "seen", "reason", "expected"),
    [
        ("Updating", "old", False, "", ("in_progress", True)),
        ("InService", "old", False, "", ("in_progress", False)),  # update not visible yet
        ("InService", "new", True, "", ("deployed", True)),
        ("InService", "new", False, "", ("deployed", False)),
        ("InService", "old", True, "", ("rolled_back", True)),
        ("InService", "old", False, "Rolled back: alarm 5xx in ALARM", ("rolled_back", False)),
        ("RollingBack", "old", True, "", ("in_progress", True)),
        ("SystemUpdating", "old", False, "", ("in_progress", True)),
        ("Creating", "new", False, "", ("in_progress", False)),
        ("Failed", "new", True, "capacity", ("failed", True)),
        # the rollback itself failed: terminal, not "still updating" (the run used to poll it forever)
        ("UpdateRollbackFailed", "old", True, "rollback failed", ("failed", True)),
        ("UpdateRollbackFailed", "new", False, "", ("failed", False)),
        ("OutOfService", "new", True, "", ("failed", True)),
        ("Deleting", "old", True, "", ("failed", True)),
        ("Exploding", "old", True, "", ("failed", True)),  # not a documented EndpointStatus: fail, never loop
    ],
)
def test_rollout_outcome(status: str, config: str, seen: bool, reason: str, expected: tuple[str, bool]) -> None:
    description = {"EndpointStatus": status, "EndpointConfigName": config, "FailureReason": reason}
    outcome = deploy.rollout_outcome(description, "new", "old", seen)
    assert (outcome.status, outcome.seen_updating) == expected


def test_deploy_status_raises_when_the_endpoint_failed(sagemaker_stub: Stubber, context: FakeContext) -> None:
    sagemaker_stub.add_response(
        "describe_endpoint",
        {**ENDPOINT_IN_SERVICE, "EndpointStatus": "Failed", "FailureReason": "no capacity"},
    )
    deployment = deployment_payload(RUN, status="in_progress", previous_config=None)
    with pytest.raises(errors.DeploymentFailed, match="no capacity"):
        deploy.handler({"action": "status", "run_id": RUN, "deployment": deployment}, context)


def test_deploy_status_fails_the_run_when_the_rollback_failed(sagemaker_stub: Stubber, context: FakeContext) -> None:
    """UpdateRollbackFailed was in UPDATING_STATES: the status loop kept polling an endpoint that waits for an
    operator. Now the run fails with the status and SageMaker's reason."""
    sagemaker_stub.add_response(
        "describe_endpoint",
        {
            **ENDPOINT_IN_SERVICE,
            "EndpointStatus": "UpdateRollbackFailed",
            "FailureReason": "could not restore the blue fleet",
        },
    )
    deployment = deployment_payload(RUN, status="in_progress", previous_config="old-config")
    with pytest.raises(errors.DeploymentFailed, match="UpdateRollbackFailed: could not restore the blue fleet"):
        deploy.handler({"action": "status", "run_id": RUN, "deployment": deployment}, context)


def test_deploy_status_fails_when_the_endpoint_is_gone(sagemaker_stub: Stubber, context: FakeContext) -> None:
    sagemaker_stub.add_client_error("describe_endpoint", "ValidationException", "Could not find endpoint")
    deployment = deployment_payload(RUN, status="in_progress", previous_config="old-config")
    with pytest.raises(errors.DeploymentFailed, match="does not exist"):
        deploy.handler({"action": "status", "run_id": RUN, "deployment": deployment}, context)


def queue_counts(values: dict[str, int]) -> None:
    columns = list(values)
    rows = [
        {"Data": [{"VarCharValue": column} for column in columns]},
        {"Data": [{"VarCharValue": str(values[column])} for column in columns]},
    ]
    backend = athena_backends[ACCOUNT][REGION]
    # moto hands queued results to query executions as they start: the UNLOAD first, then the count query
    backend.query_results_queue.append(QueryResults(rows=[], column_info=[]))
    backend.query_results_queue.append(
        QueryResults(rows=rows, column_info=[{"Name": c, "Type": "bigint"} for c in columns])
    )


def test_join_start_and_status(aws: None, context: FakeContext) -> None:
    window = {"start": "2026-11-23T00:00:00.000Z", "end": "2026-11-23T02:00:00.000Z"}
    queue_counts({"joined_rows": 120, "defaulted_rows": 7, "unmatched_rewards": 3, "malformed_rewards": 2})
    started = join.handler({"action": "start", "run_id": RUN, "input": {"window": window}}, context)
    assert started["output_prefix"] == f"s3://{BUCKET}/joined/{RUN}/" and started["window"] == window
    athena = boto3.client("athena", region_name=REGION)
    unload_sql = athena.get_query_execution(QueryExecutionId=started["query_execution_id"])["QueryExecution"]["Query"]
    assert unload_sql.startswith("UNLOAD (") and "d.dt BETWEEN '2026/11/23/00' AND '2026/11/23/02'" in unload_sql
    # a retried start reuses the queries instead of starting a second UNLOAD into the same prefix
    again = join.handler({"action": "start", "run_id": RUN, "input": {"window": window}}, context)
    assert again["query_execution_id"] == started["query_execution_id"]
    status = join.handler({"action": "status", "run_id": RUN, "join": started}, context)
    assert status["state"] == "SUCCEEDED" and status["rows"] == 120 and status["enough_rows"] is True
    assert (status["unmatched_rewards"], status["malformed_rewards"], status["late_rewards"]) == (3, 2, 0)
    row = store.read_join(RUN)
    assert row is not None and row["rows"] == 120 and row["window_start"] == window["start"]


def test_join_reports_malformed_decisions(aws: None, context: FakeContext) -> None:
    window = {"start": "2026-11-23T00:00:00.000Z", "end": "2026-11-23T02:00:00.000Z"}
    queue_counts({"joined_rows": 120, "malformed_rewards": 2, "malformed_decisions": 4})
    started = join.handler({"action": "start", "run_id": RUN, "input": {"window": window}}, context)
    status = join.handler({"action": "status", "run_id": RUN, "join": started}, context)
    assert (status["malformed_rewards"], status["malformed_decisions"]) == (2, 4)
    row = store.read_join(RUN)
    assert row is not None and row["malformed_decisions"] == 4


def test_a_retried_bootstrap_start_sends_the_same_sql(
    aws: None, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt dies after starting the UNLOAD; the retry, a minute later by the clock, must send the very
    same SQL under the same ClientRequestToken (Athena refuses the token with another query string)."""
    moments = iter([datetime(2026, 11, 23, 5, 0, tzinfo=UTC), datetime(2026, 11, 23, 5, 1, tzinfo=UTC)])
    monkeypatch.setattr(join, "now", lambda: next(moments))
    sent: list[tuple[str, str, str]] = []
    real = join._run_query

    def first_attempt_dies_after_the_unload(sql: str, run_id: str, kind: str) -> str:
        sent.append((kind, f"{run_id}-{kind}", sql))
        if len(sent) == 2:
            raise TimeoutError("the Lambda timed out after starting the UNLOAD")
        return real(sql, run_id, kind)

    monkeypatch.setattr(join, "_run_query", first_attempt_dies_after_the_unload)
    event = {"action": "start", "run_id": RUN, "input": {"bootstrap": True}}
    with pytest.raises(TimeoutError):
        join.handler(event, context)
    started = join.handler(event, context)
    assert [kind for kind, _, _ in sent] == ["unload", "counts", "unload", "counts", "quarantine"]
    assert sent[2] == sent[0] and sent[3] == sent[1]  # same token, same SQL
    wait = timedelta(seconds=join.settings().reward_wait_seconds)
    first_clock = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    assert started["window"]["end"] == iso(first_clock - wait)  # planned once, by the first attempt's clock


def test_join_enough_rows_rule() -> None:
    config = RunSettings.from_json(parse_settings({"min_training_rows": 50}).to_json())
    assert join.enough_rows(50, config, bootstrap=False) and not join.enough_rows(49, config, bootstrap=False)
    assert join.enough_rows(1, config, bootstrap=True) and not join.enough_rows(0, config, bootstrap=True)
    assert join.combine_states("SUCCEEDED", "FAILED").state == "FAILED"
    assert join.combine_states("SUCCEEDED", "RUNNING").state == "RUNNING"


# --- finalize ---------------------------------------------------------------------------------------------------


def take_lock(run_id: str, consumed: int) -> None:
    store.add_to_counter("bandit-demo", consumed + 4)  # 4 more arrived during the run
    assert store.acquire_lock("bandit-demo", run_id, "2026-11-23T01:00:00.000Z", "{}")


def test_finalize_resets_the_counter_by_what_was_consumed_and_releases_the_lock(
    aws: None, context: FakeContext
) -> None:
    serve("m-old", "s3://old")
    store.put_model({"model_id": RUN, "state": "candidate"})
    take_lock(RUN, 12)
    run = {
        "run_id": RUN,
        "reward_count": 12,
        "window": {"start": "2026-11-23T00:00:00.000Z", "end": "2026-11-23T01:00:00.000Z"},
        "join": join_payload(RUN),
        "training": training_payload(RUN),
        "evaluation": evaluation_payload(RUN, promote=True),
        "deployment": deployment_payload(RUN, previous_model_id="m-old"),
    }
    result = finalize.handler({"action": "finalize", "run_id": RUN, "run": run}, context)
    assert result["outcome"] == "promoted" and result["lock_released"] is True and result["counter_reset_by"] == 12
    assert store.read_counter("bandit-demo") == 4
    assert store.read_lock("bandit-demo") is None
    assert store.read_model(RUN)["state"] == "serving"  # type: ignore[index]
    assert store.read_model("m-old")["state"] == "retired"  # type: ignore[index]
    experiment = store.read_experiment("bandit-demo")
    assert experiment["serving_model_id"] == RUN and experiment["watermark"] == "2026-11-23T01:00:00.000Z"
    # a retried finalize must not take the rewards off twice
    again = finalize.handler({"action": "finalize", "run_id": RUN, "run": run}, context)
    assert again["counter_reset_by"] == 0 and store.read_counter("bandit-demo") == 4


def test_record_failure_keeps_the_watermark_and_releases_the_lock(aws: None, context: FakeContext) -> None:
    store.update_experiment("bandit-demo", watermark="2026-11-22T00:00:00.000Z")
    store.put_model({"model_id": RUN, "state": "training"})
    take_lock(RUN, 12)
    run = {
        "run_id": RUN,
        "reward_count": 12,
        "join": join_payload(RUN),
        "training": training_payload(RUN, status="InProgress"),
        "error": {"Error": "TrainingJobFailed", "Cause": '{"errorMessage": "AlgorithmError"}'},
    }
    result = finalize.handler({"action": "record_failure", "run_id": RUN, "run": run}, context)
    assert result["failed_step"] == "training" and result["error"] == "TrainingJobFailed"
    assert result["lock_released"] is True and store.read_counter("bandit-demo") == 4
    assert store.read_model(RUN)["state"] == "failed"  # type: ignore[index]
    experiment = store.read_experiment("bandit-demo")
    assert experiment["watermark"] == "2026-11-22T00:00:00.000Z" and experiment["last_outcome"] == "failed"


def test_a_manual_run_does_not_release_a_triggered_runs_lock(aws: None, context: FakeContext) -> None:
    take_lock("bandit-demo-triggered", 12)
    store.put_model({"model_id": "m-1", "state": "retired", "artifact_uri": "s3://m1"})
    run = {"rollback_to": "m-1", "deployment": deployment_payload("m-1")}
    result = finalize.handler({"action": "finalize", "run_id": "manual", "run": run}, context)
    assert result["outcome"] == "rollback_deployed" and result["lock_released"] is False
    assert store.read_lock("bandit-demo") is not None and store.read_counter("bandit-demo") == 16


@pytest.mark.parametrize(
    "event",
    [{}, {"action": "finalize"}, {"action": "nope", "run_id": "r", "run": {}}, {"action": "finalize", "run_id": 3}],
)
def test_bad_payloads_name_the_problem(aws: None, context: FakeContext, event: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidEvent):
        finalize.handler(event, context)


SUCCEEDED = join_payload(RUN)
TOO_FEW = join_payload(RUN, rows=3, enough_rows=False)
TRAINED = training_payload(RUN)


@pytest.mark.parametrize(
    ("run", "step"),
    [
        ({}, "join"),
        ({"join": join_payload(RUN, state="RUNNING")}, "join"),
        ({"join": TOO_FEW}, "finalize"),
        ({"bootstrap": True, "join": TOO_FEW}, "deployment"),
        ({"join": SUCCEEDED}, "training"),
        ({"join": SUCCEEDED, "training": training_payload(RUN, status="InProgress")}, "training"),
        ({"join": SUCCEEDED, "training": TRAINED}, "evaluation"),
        ({"join": SUCCEEDED, "training": TRAINED, "evaluation": evaluation_payload(RUN, promote=False)}, "finalize"),
        ({"bootstrap": True, "join": SUCCEEDED, "training": TRAINED}, "deployment"),
        (
            {
                "join": SUCCEEDED,
                "training": TRAINED,
                "evaluation": evaluation_payload(RUN, promote=True),
                "deployment": deployment_payload(RUN, status="in_progress"),
            },
            "deployment",
        ),
        ({"rollback_to": "m-1"}, "deployment"),
    ],
)
def test_failed_step_follows_the_runs_path(run: dict[str, Any], step: str) -> None:
    assert failed_step(RunState.from_fields(Fields(run))) == step


@given(st.text(min_size=1, max_size=80), st.sampled_from(["", "-eval", "-model", "-config"]))
def test_any_execution_name_gives_a_valid_prefixed_sagemaker_name(run_id: str, suffix: str) -> None:
    name = sagemaker_name(run_id, suffix, "bandit-demo")
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name
    assert name.startswith("bandit-demo-") and name.endswith(suffix)
