"""The SageMaker engine acts as the job's RoleArn / the model's ExecutionRoleArn, checked against the synthesized
template's policies: image pull, channel reads, artifact write, ModelDataUrl read and the auto-rollback alarms."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from local.engines.sagemaker import SageMakerEngine
from local.engines.sagemaker.common import JobFailed, Params, Rollback
from local.engines.sagemaker.state import Fleet, Variant
from local.iam import requests
from local.iam.authorizer import Authorizer
from local.iam.catalog import from_raw_template

ACCOUNT, REGION = "123456789012", "us-east-1"
ALARMS = ["bandit-demo-policy-5xx", "bandit-demo-policy-latency"]


def _role(raw: dict[str, Any], prefix: str) -> str:
    lid = next(k for k, v in raw["Resources"].items() if v["Type"] == "AWS::IAM::Role" and k.startswith(prefix))
    return f"arn:aws:iam::{ACCOUNT}:role/BanditPipeline-{lid}"


def _bucket(raw: dict[str, Any]) -> str:
    return next(k for k in raw["Resources"] if k.startswith("DataLakeBucket")).lower().join(["banditpipeline-", ""])


def _image(raw: dict[str, Any]) -> str:
    lid = next(
        k for k, v in raw["Resources"].items() if v["Type"] == "AWS::Lambda::Function" and k.startswith("PipelineTrain")
    )
    sub = raw["Resources"][lid]["Properties"]["Environment"]["Variables"]["TRAINING_IMAGE_URI"]["Fn::Sub"]
    return (
        sub.replace("${AWS::AccountId}", ACCOUNT)
        .replace("${AWS::Region}", REGION)
        .replace("${AWS::URLSuffix}", "amazonaws.com")
    )


def _engine(raw: dict[str, Any], tmp_path: Path) -> SageMakerEngine:
    engine = SageMakerEngine(state_dir=tmp_path, endpoint_url="http://127.0.0.1:9")
    engine.iam = Authorizer()
    engine.iam.load(from_raw_template(raw, "BanditPipeline", ACCOUNT, REGION))
    return engine


def _without_describe_alarms(raw: dict[str, Any]) -> dict[str, Any]:
    """The template as the code before the fix synthesized it: no DescribeAlarms grant anywhere."""
    old = copy.deepcopy(raw)
    for resource in old["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            statements[:] = [s for s in statements if s["Action"] != "cloudwatch:DescribeAlarms"]
    return old


def _model(raw: dict[str, Any]) -> Params:
    return {
        "ModelName": "candidate",
        "ExecutionRoleArn": _role(raw, "ModelExecutionRole"),
        "PrimaryContainer": {"Image": _image(raw), "ModelDataUrl": f"s3://{_bucket(raw)}/models/m1/model.tar.gz"},
    }


def _green(raw: dict[str, Any], tmp_path: Path) -> Fleet:
    """A green fleet of the candidate model, as the launcher makes it (the variant runs as the model's role)."""
    model = _model(raw)
    variant = Variant("AllTraffic", "candidate", 1.0, 1, "image", tmp_path, role_arn=model["ExecutionRoleArn"])
    return Fleet("candidate-config", [variant])


def _roles(green: Fleet) -> list[str]:
    return [v.role_arn for v in green.variants]


@pytest.fixture(scope="module")
def raw(real_template: Path) -> dict[str, Any]:
    return json.loads(real_template.read_text())


def test_auto_rollback_alarms_are_readable_by_the_execution_role(raw: dict[str, Any], tmp_path: Path) -> None:
    """Defect 2: SageMaker reads the AutoRollbackConfiguration alarms with the execution role."""
    engine = _engine(raw, tmp_path)
    engine.roles.authorize_alarms(_roles(_green(raw, tmp_path)), ALARMS)


def test_without_the_grant_the_update_rolls_back_naming_the_denied_action(raw: dict[str, Any], tmp_path: Path) -> None:
    old = _without_describe_alarms(raw)
    engine = _engine(old, tmp_path)
    with pytest.raises(Rollback) as rollback:
        engine.deployments.check(_green(old, tmp_path), ALARMS)  # what every bake step of an update runs
    message = str(rollback.value)
    assert "assumed-role/BanditPipeline-ModelExecutionRole" in message
    assert f"cloudwatch:DescribeAlarms on resource: arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{ALARMS[0]}" in message


def test_the_grant_names_exactly_the_alarms(raw: dict[str, Any], tmp_path: Path) -> None:
    engine = _engine(raw, tmp_path)
    with pytest.raises(Rollback, match="alarm:some-other-alarm"):
        engine.roles.authorize_alarms(_roles(_green(raw, tmp_path)), ["some-other-alarm"])


def test_a_model_must_pull_its_image_and_read_its_artifact(raw: dict[str, Any], tmp_path: Path) -> None:
    engine = _engine(raw, tmp_path)
    model = _model(raw)
    engine.roles.authorize_model(model)
    outside = {**model, "PrimaryContainer": {**model["PrimaryContainer"], "ModelDataUrl": f"s3://{_bucket(raw)}/x.gz"}}
    with pytest.raises(RuntimeError, match=r"s3:ListBucket on resource"):
        engine.roles.authorize_model(outside)
    other_repo = {
        **model,
        "PrimaryContainer": {**model["PrimaryContainer"], "Image": _image(raw).replace("cdk-", "x-")},
    }
    with pytest.raises(RuntimeError, match=r"ecr:BatchCheckLayerAvailability"):
        engine.roles.authorize_model(other_repo)


def _job(raw: dict[str, Any], name: str, role: str, channels: dict[str, str], output: str) -> dict[str, Any]:
    """A CreateTrainingJob request as the engine authorizes it: channel name -> key in the data lake bucket."""
    bucket = _bucket(raw)
    return {
        "TrainingJobName": name,
        "RoleArn": _role(raw, role),
        "AlgorithmSpecification": {"TrainingImage": _image(raw)},
        "InputDataConfig": [
            {"ChannelName": channel, "DataSource": {"S3DataSource": {"S3Uri": f"s3://{bucket}/{key}"}}}
            for channel, key in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{output}"},
    }


def test_a_training_job_reads_its_channels_and_writes_its_artifact_as_its_role(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    engine = _engine(raw, tmp_path)
    bucket = _bucket(raw)
    request = _job(raw, "bandit-demo-train-1", "ModelTrainingRole", {"train": "joined/run-1/"}, "models/")
    engine.roles.authorize_job(request)
    rewards = copy.deepcopy(request)
    rewards["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{bucket}/rewards/"
    with pytest.raises(JobFailed, match=r"ClientError: User: .* s3:ListBucket"):
        engine.roles.authorize_job(rewards)
    joined_output = {**request, "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/joined/"}}
    with pytest.raises(JobFailed, match=r"s3:PutObject on resource: arn:aws:s3:::.*/joined/bandit-demo-train-1/"):
        engine.roles.authorize_job(joined_output)


def test_an_evaluation_job_writes_its_verdict_only_as_the_evaluation_role(raw: dict[str, Any], tmp_path: Path) -> None:
    """The engine acts as the RoleArn of each request: the training role must not write under evaluations/."""
    engine = _engine(raw, tmp_path)
    channels = {"holdout": "joined/run-1/", "candidate": "models/bandit-demo-run-1/output/model.tar.gz"}
    request = _job(raw, "bandit-demo-run-1-eval", "ModelEvaluationRole", channels, "evaluations/")
    engine.roles.authorize_job(request)
    denied = {"ModelTrainingRole": r"s3:PutObject on resource: .*/evaluations/", "ModelExecutionRole": r"s3:ListBucket"}
    for other, what in denied.items():
        with pytest.raises(JobFailed, match=rf"assumed-role/BanditPipeline-{other}.* not authorized .*{what}"):
            engine.roles.authorize_job({**request, "RoleArn": _role(raw, other)})


def test_the_functions_may_pass_the_execution_role_to_sagemaker_only(raw: dict[str, Any]) -> None:
    authorizer = Authorizer()
    authorizer.load(from_raw_template(raw, "BanditPipeline", ACCOUNT, REGION))
    execution_role = _role(raw, "ModelExecutionRole")
    call = requests.Call(
        "sagemaker",
        "CreateModel",
        {"ModelName": "bandit-demo-m1", "ExecutionRoleArn": execution_role, "Tags": [{"Key": "k", "Value": "v"}]},
        REGION,
        ACCOUNT,
    )
    checks = requests.checks(call)
    assert [c.action for c in checks] == ["sagemaker:CreateModel", "sagemaker:AddTags", "iam:PassRole"]
    deploy = _role(raw, "PipelineDeployRole")
    for check in checks:
        assert authorizer.allows(deploy, "bandit-demo-deploy", check), check
    assert not authorizer.allows(_role(raw, "PipelineJoinRole"), "bandit-demo-join", checks[-1])
    to_lambda = requests.Check("iam:PassRole", execution_role, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert not authorizer.allows(deploy, "bandit-demo-deploy", to_lambda)


def test_the_execution_role_is_assumable_by_sagemaker_only_from_this_account(raw: dict[str, Any]) -> None:
    authorizer = Authorizer()
    authorizer.load(from_raw_template(raw, "BanditPipeline", ACCOUNT, REGION))
    role = _role(raw, "ModelTrainingRole")
    assert authorizer.assumable(role, "sagemaker.amazonaws.com", {"aws:SourceAccount": ACCOUNT})
    assert not authorizer.assumable(role, "sagemaker.amazonaws.com", {"aws:SourceAccount": "999999999999"})
    assert not authorizer.assumable(_role(raw, "PipelineDeployRole"), "sagemaker.amazonaws.com", {})
