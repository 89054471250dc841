"""One SageMaker execution role per job, evaluated by the local IAM evaluator on the synthesized template.

The serving container parses untrusted requests; if it ran under the role that writes models and the gate's verdict,
a compromised container could replace the next candidate or approve it. Each role here is found the way AWS would
use it: as the role a function may pass to SageMaker, and as the role its environment names for the request.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

import pytest

from infra.names import ResourceNames
from infra.settings import REPO_ROOT
from local.iam.authorizer import Authorizer
from local.iam.catalog import Catalog, from_template, named_template
from local.iam.requests import Check

ACCOUNT, REGION = "123456789012", "us-east-1"
TO_SAGEMAKER = {"iam:PassedToService": "sagemaker.amazonaws.com"}
SOURCE = {"aws:SourceAccount": ACCOUNT}
JOB = "bandit-demo-20260101T000000"
"""A training job name as the pipeline makes them (its artifact lands under `models/<job>/output/`)."""
ROLE_ENV = {"train": "TRAINING_ROLE_ARN", "evaluate": "EVALUATION_ROLE_ARN", "deploy": "ENDPOINT_ROLE_ARN"}


@dataclass(frozen=True)
class Lake:
    """The template's IAM, evaluated, and the resolved names the checks address."""

    authorizer: Authorizer
    catalog: Catalog
    function_roles: dict[str, str]
    """function key -> its Lambda role ARN"""
    environment: dict[str, str]
    """the functions' (shared) environment, resolved"""
    names: ResourceNames

    @property
    def bucket(self) -> str:
        return self.environment["BUCKET_NAME"]

    def object(self, key: str) -> str:
        return f"arn:aws:s3:::{self.bucket}/{key}"

    def stream(self, name: str) -> str:
        return f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}"

    def allows(self, role: str, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
        return self.authorizer.allows(role, "test", Check(action, resource, context or {}))

    def sagemaker_roles(self) -> set[str]:
        """Roles SageMaker may assume (trust policy evaluated as the service would present itself)."""
        return {arn for arn in self.catalog.trust if self.authorizer.assumable(arn, "sagemaker.amazonaws.com", SOURCE)}

    def passable(self, key: str) -> set[str]:
        """The SageMaker roles function `key` may pass to SageMaker."""
        role = self.function_roles[key]
        return {arn for arn in self.sagemaker_roles() if self.allows(role, "iam:PassRole", arn, TO_SAGEMAKER)}

    def passed(self, key: str) -> str:
        """The one role function `key` may pass (its jobs or models run under it)."""
        (role,) = self.passable(key)
        return role


@pytest.fixture(scope="module")
def lake(synth: Any) -> Lake:
    template = named_template(synth.raw, "BanditPipeline", ACCOUNT, REGION)
    catalog = from_template(template)
    authorizer = Authorizer()
    authorizer.load(catalog)
    functions = {
        str(props["Handler"]).removesuffix(".handler"): props
        for lid, resource in synth.resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
        for props in [template.resolve(resource["Properties"])]
        if str(props.get("Handler", "")).endswith(".handler")
    }
    return Lake(
        authorizer=authorizer,
        catalog=catalog,
        function_roles={key: str(props["Role"]) for key, props in functions.items()},
        environment=dict(functions["train"]["Environment"]["Variables"]),
        names=ResourceNames.of(synth.settings),
    )


def test_training_evaluation_and_the_endpoint_run_under_three_roles(lake: Lake) -> None:
    """Fails on the shared role: train, evaluate and deploy all passed the same one."""
    passed = {key: lake.passed(key) for key in ROLE_ENV}
    assert len(set(passed.values())) == 3, passed
    assert set(passed.values()) == lake.sagemaker_roles()


@pytest.mark.parametrize("key", sorted(ROLE_ENV))
def test_each_step_passes_only_its_own_role_and_only_to_sagemaker(lake: Lake, key: str) -> None:
    role = lake.function_roles[key]
    own = lake.passed(key)
    assert lake.environment[ROLE_ENV[key]] == own  # the request names the role the step may pass
    for other in lake.sagemaker_roles() - {own}:
        assert not lake.allows(role, "iam:PassRole", other, TO_SAGEMAKER), other
    for service in ("lambda.amazonaws.com", "ec2.amazonaws.com"):
        assert not lake.allows(role, "iam:PassRole", own, {"iam:PassedToService": service})
    assert not lake.allows(role, "iam:PassRole", own)  # no iam:PassedToService: the condition is false


def test_no_other_function_may_pass_a_sagemaker_role(lake: Lake) -> None:
    for key in set(lake.function_roles) - set(ROLE_ENV):
        assert not lake.passable(key), key


def test_the_endpoint_role_cannot_write_models_or_the_verdict(lake: Lake) -> None:
    endpoint = lake.passed("deploy")
    for key in (f"models/{JOB}/output/model.tar.gz", f"evaluations/{JOB}-eval/output/model.tar.gz"):
        assert not lake.allows(endpoint, "s3:PutObject", lake.object(key)), key
        assert not lake.allows(endpoint, "s3:DeleteObject", lake.object(key)), key
    assert not lake.allows(endpoint, "s3:GetObject", lake.object(f"joined/{JOB}/part-0"))
    assert not lake.allows(endpoint, "s3:GetObject", lake.object(f"evaluations/{JOB}-eval/output/model.tar.gz"))
    # what it does need: read the served artifact, log decisions with exactly the Firehose calls the image makes
    assert lake.allows(endpoint, "s3:GetObject", lake.object(f"models/{JOB}/output/model.tar.gz"))
    decisions, rewards = lake.environment["DECISIONS_STREAM"], lake.names.rewards_stream
    called = container_firehose_actions()
    assert called == {"firehose:PutRecordBatch"}  # container/serving/decision_log.py; guards the scan itself
    for action in FIREHOSE_CALLS.values():
        assert lake.allows(endpoint, action, lake.stream(decisions)) == (action in called), action
        assert not lake.allows(endpoint, action, lake.stream(rewards)), action  # the endpoint cannot forge rewards


FIREHOSE_CALLS = {"put_record": "firehose:PutRecord", "put_record_batch": "firehose:PutRecordBatch"}


def container_firehose_actions() -> set[str]:
    """The Firehose actions the image's code calls (`<client>.put_record_batch(...)`), tests excluded."""
    found: set[str] = set()
    for path in (REPO_ROOT / "container").rglob("*.py"):
        if "tests" in path.relative_to(REPO_ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FIREHOSE_CALLS:
                found.add(FIREHOSE_CALLS[node.func.attr])
    return found


def test_training_cannot_write_the_verdict(lake: Lake) -> None:
    training = lake.passed("train")
    verdict = lake.object(f"evaluations/{JOB}-eval/output/model.tar.gz")
    assert not lake.allows(training, "s3:PutObject", verdict)
    assert not lake.allows(training, "s3:GetObject", verdict)
    assert lake.allows(training, "s3:PutObject", lake.object(f"models/{JOB}/output/model.tar.gz"))
    assert lake.allows(training, "s3:GetObject", lake.object(f"joined/{JOB}/part-0"))
    assert lake.allows(training, "s3:GetObject", lake.object("models/bandit-demo-parent/output/model.tar.gz"))
    assert not lake.allows(training, "firehose:PutRecordBatch", lake.stream(lake.environment["DECISIONS_STREAM"]))


def test_evaluation_writes_the_verdict_and_no_model(lake: Lake) -> None:
    evaluation = lake.passed("evaluate")
    assert lake.allows(evaluation, "s3:PutObject", lake.object(f"evaluations/{JOB}-eval/output/model.tar.gz"))
    assert not lake.allows(evaluation, "s3:PutObject", lake.object(f"models/{JOB}/output/model.tar.gz"))
    assert lake.allows(evaluation, "s3:GetObject", lake.object(f"joined/{JOB}/part-0"))
    assert lake.allows(evaluation, "s3:GetObject", lake.object(f"models/{JOB}/output/model.tar.gz"))
    assert not lake.allows(evaluation, "firehose:PutRecordBatch", lake.stream(lake.environment["DECISIONS_STREAM"]))


def test_only_the_endpoint_role_reads_the_rollback_alarms(lake: Lake) -> None:
    """SageMaker reads the AutoRollbackConfiguration alarms with the endpoint model's execution role."""
    prefix = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:"
    alarms = [prefix + name for name in lake.environment["ROLLBACK_ALARMS"].split(",")]
    assert alarms
    for alarm in alarms:
        assert lake.allows(lake.passed("deploy"), "cloudwatch:DescribeAlarms", alarm)
        assert not lake.allows(lake.passed("train"), "cloudwatch:DescribeAlarms", alarm)
        assert not lake.allows(lake.passed("evaluate"), "cloudwatch:DescribeAlarms", alarm)


SHARED_ROLE_LOGICAL_ID = "ModelExecutionRoleB8BE4D0D"
"""The logical id of the one role all jobs shared before the split (as deployed stacks have it)."""


def test_the_endpoint_role_is_the_shared_role_updated_in_place(lake: Lake) -> None:
    """A serving endpoint's model names the shared role's ARN; if the split replaced that role, CloudFormation would
    delete it under the running endpoint, whose container would lose the credentials its decision log uses."""
    assert lake.passed("deploy") == f"arn:aws:iam::{ACCOUNT}:role/BanditPipeline-{SHARED_ROLE_LOGICAL_ID}"
