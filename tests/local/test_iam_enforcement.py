"""The gateway evaluates what each role calls against the template's policies (local/iam), on the fixture stack."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.aws import client
from local.gateway import Gateway
from local.iam.authorizer import AccessDenied
from local.iam.requests import Check
from local.provision import Stack

ACCOUNT = "123456789012"
FUNCTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/fixture-FunctionRole"
MACHINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/fixture-MachineRole"
DELIVERY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/fixture-DeliveryRole"


def _as_role(gateway: Gateway, service: str, role: str, session: str) -> Any:
    """A client signed the way a handler of that role signs (the credentials Lambda hands it)."""
    creds = gateway.iam.credentials_for(role, session)
    return boto3.client(
        service,
        endpoint_url=gateway.url,
        region_name="us-east-1",
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        config=Config(retries={"max_attempts": 1}),
    )


@contextlib.contextmanager
def _without_policies(gateway: Gateway, role: str) -> Iterator[None]:
    assert gateway.iam.catalog is not None
    saved = gateway.iam.catalog.roles[role]
    gateway.iam.catalog.roles[role] = []
    gateway.iam._cache.clear()
    try:
        yield
    finally:
        gateway.iam.catalog.roles[role] = saved
        gateway.iam._cache.clear()


def test_a_function_runs_with_credentials_that_name_its_role(gateway: Gateway, fixture_stack: Stack) -> None:
    answer = client("lambda", endpoint_url=gateway.url).invoke(
        FunctionName="fixture-echo", Payload=json.dumps({"env": ["AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"]})
    )
    env = json.loads(answer["Payload"].read())["env"]
    identity = gateway.iam.identity(env["AWS_ACCESS_KEY_ID"])
    assert identity is not None and env["AWS_SESSION_TOKEN"]
    assert (identity.role_arn, identity.session) == (FUNCTION_ROLE, "fixture-echo")


def test_the_role_gets_what_its_policy_allows_and_an_aws_access_denied_otherwise(
    gateway: Gateway, fixture_stack: Stack
) -> None:
    ddb = _as_role(gateway, "dynamodb", FUNCTION_ROLE, "fixture-echo")
    ddb.put_item(TableName="fixture-Counts", Item={"pk": {"S": "iam-1"}})  # the policy's one grant
    with pytest.raises(ClientError) as err:
        ddb.get_item(TableName="fixture-Counts", Key={"pk": {"S": "iam-1"}})
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert err.value.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/fixture-FunctionRole/fixture-echo is not authorized to perform: "
        f"dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/fixture-Counts because no "
        "identity-based policy allows the dynamodb:GetItem action"
    )
    s3 = _as_role(gateway, "s3", FUNCTION_ROLE, "fixture-echo")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=fixture_stack.outputs["BucketName"], Key="rewards/x.json")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert (
        "s3:GetObject on resource: arn:aws:s3:::fixture-bucket/rewards/x.json" in err.value.response["Error"]["Message"]
    )
    # the harness's own credentials are an administrator's: the same read passes (the item is there)
    admin = client("dynamodb", endpoint_url=gateway.url)
    assert admin.get_item(TableName="fixture-Counts", Key={"pk": {"S": "iam-1"}})["Item"]


def test_a_call_the_runtime_cannot_map_is_refused_not_passed(gateway: Gateway, fixture_stack: Stack) -> None:
    sqs = _as_role(gateway, "sqs", FUNCTION_ROLE, "fixture-echo")
    with pytest.raises(ClientError) as err:
        sqs.list_queues()
    assert "no IAM mapping for sqs ListQueues" in err.value.response["Error"]["Message"]


def _run(gateway: Gateway, arn: str, name: str) -> dict[str, Any]:
    sfn = client("stepfunctions", endpoint_url=gateway.url)
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps({"greeting": "iam"}))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.3)
    raise AssertionError("execution still running")


def test_step_functions_tasks_invoke_as_the_state_machine_role(gateway: Gateway, fixture_stack: Stack) -> None:
    arn = fixture_stack.outputs["StateMachineArn"]
    assert _run(gateway, arn, "iam-allowed")["status"] == "SUCCEEDED"
    with _without_policies(gateway, MACHINE_ROLE):
        failed = _run(gateway, arn, "iam-denied")
    assert failed["status"] == "FAILED", failed
    history = client("stepfunctions", endpoint_url=gateway.url).get_execution_history(
        executionArn=failed["executionArn"]
    )
    text = json.dumps(history["events"], default=str)
    assert "AccessDenied" in text and "fixture-MachineRole" in text and "lambda:InvokeFunction" in text


def test_eventbridge_invokes_a_function_only_as_its_permission_allows(gateway: Gateway, fixture_stack: Stack) -> None:
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fixture-counter"
    rule = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/fixture-RewardObjects"
    gateway.auth.authorize_event_target({"Arn": function, "_RuleArn": rule})
    with pytest.raises(
        AccessDenied, match=r"events\.amazonaws\.com is not authorized to perform: lambda:InvokeFunction"
    ):
        gateway.auth.authorize_event_target({"Arn": function, "_RuleArn": rule.replace("RewardObjects", "Other")})
    echo = function.replace("counter", "echo")  # no AWS::Lambda::Permission for the echo function
    with pytest.raises(AccessDenied, match="no resource-based policy allows"):
        gateway.auth.authorize_event_target({"Arn": echo, "_RuleArn": rule})


def test_firehose_delivers_only_what_its_role_may_write(gateway: Gateway, fixture_stack: Stack) -> None:
    assert gateway.firehose is not None
    stream = fixture_stack.outputs["RewardsStreamName"]
    record = {"Data": "eyJyZXdhcmQiOiAxfQo="}  # {"reward": 1}\n
    failed = gateway.firehose.records_failed
    with _without_policies(gateway, DELIVERY_ROLE):
        gateway.firehose.put("us-east-1", stream, [record])
        gateway.firehose.flush_all()
    assert gateway.firehose.records_failed == failed + 1
    delivered = gateway.firehose.records_delivered
    gateway.firehose.put("us-east-1", stream, [record])
    gateway.firehose.flush_all()
    assert gateway.firehose.records_delivered == delivered + 1
    assert gateway.firehose.records_failed == failed + 1


def test_a_role_query_is_also_checked_for_what_athena_reads_and_writes_as_it(
    gateway: Gateway, fixture_stack: Stack
) -> None:
    """The work group's result location and the Glue table's location come from what provisioning created."""
    from local.iam.requests import Call

    params = {
        "QueryString": 'SELECT count(*) FROM "fixture_lake"."rewards" r JOIN missing_table m ON true',
        "QueryExecutionContext": {"Database": "fixture_lake"},
        "WorkGroup": "fixture-wg",
    }
    checks = gateway.auth.athena_query_checks(Call("athena", "StartQueryExecution", params, "us-east-1", ACCOUNT))
    assert [(c.action, c.resource) for c in checks] == [
        ("athena:GetWorkGroup", f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/fixture-wg"),
        ("glue:GetTable", f"arn:aws:glue:us-east-1:{ACCOUNT}:catalog"),
        ("glue:GetTable", f"arn:aws:glue:us-east-1:{ACCOUNT}:database/fixture_lake"),
        ("glue:GetTable", f"arn:aws:glue:us-east-1:{ACCOUNT}:table/fixture_lake/rewards"),
        ("s3:GetBucketLocation", "arn:aws:s3:::fixture-bucket"),
        ("s3:ListBucket", "arn:aws:s3:::fixture-bucket"),
        ("s3:GetObject", "arn:aws:s3:::fixture-bucket/rewards/"),
        ("s3:PutObject", "arn:aws:s3:::fixture-bucket/athena-results/"),
    ]


def test_a_missing_key_is_403_without_list_bucket_and_404_with_it(gateway: Gateway, fixture_stack: Stack) -> None:
    assert gateway.iam.catalog is not None
    bucket = fixture_stack.outputs["BucketName"]
    get = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    listing = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
    s3 = _as_role(gateway, "s3", FUNCTION_ROLE, "fixture-echo")
    with _without_policies(gateway, FUNCTION_ROLE):
        gateway.iam.catalog.roles[FUNCTION_ROLE] = [{"Statement": [get]}]
        with pytest.raises(ClientError) as err:
            s3.get_object(Bucket=bucket, Key="rewards/not-there.json")
        assert err.value.response["Error"]["Code"] == "AccessDenied"
        assert "s3:ListBucket" in err.value.response["Error"]["Message"]
        gateway.iam.catalog.roles[FUNCTION_ROLE] = [{"Statement": [get, listing]}]
        gateway.iam._cache.clear()
        with pytest.raises(ClientError) as err:
            s3.get_object(Bucket=bucket, Key="rewards/not-there.json")
        assert err.value.response["Error"]["Code"] == "NoSuchKey"


def test_failure_destinations_are_sent_as_their_senders(gateway: Gateway, fixture_stack: Stack) -> None:
    """Lambda sends an OnFailure record with the function's role; EventBridge a dead letter as itself (queue policy)."""
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:fixture-DeadLetters"
    record = json.dumps(
        {"requestContext": {"functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fixture-failing:$LATEST"}}
    )
    gateway.targets.send_failed_invocation(queue, record)
    with (
        _without_policies(gateway, FUNCTION_ROLE),
        pytest.raises(AccessDenied, match="fixture-failing is not authorized"),
    ):
        gateway.targets.send_failed_invocation(queue, record)
    send = Check(
        "sqs:SendMessage", queue, {"aws:SourceArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/fixture-RewardObjects"}
    )
    gateway.iam.authorize_service("events.amazonaws.com", send)
    with pytest.raises(AccessDenied, match="no resource-based policy allows the sqs:SendMessage action"):
        gateway.iam.authorize_service("sns.amazonaws.com", send)


def test_a_function_whose_role_lambda_cannot_assume_fails_provisioning(gateway: Gateway, tmp_path: Any) -> None:
    from local.provision import ProvisionError, provision

    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    template = {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Metadata": {"aws:asset:path": "asset.trust-test"},  # staged code, as `cdk synth` leaves it
                "Properties": {
                    "FunctionName": "trust-test",
                    "Handler": "echo.handler",
                    "Runtime": "python3.12",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                },
            },
        }
    }
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    (tmp_path / "asset.trust-test").mkdir()
    (tmp_path / "asset.trust-test" / "echo.py").write_text("def handler(event, context):\n    return event\n")
    with pytest.raises(
        ProvisionError, match=r"trust-test: The role defined for the function cannot be assumed by Lambda"
    ):
        provision(gateway, path, stack_name="trust")


def test_sagemaker_refuses_a_role_it_cannot_assume(gateway: Gateway, fixture_stack: Stack) -> None:
    """The fixture's function role trusts only Lambda: passing it to SageMaker is refused at once."""
    assert not gateway.iam.assumable(FUNCTION_ROLE, "sagemaker.amazonaws.com", {"aws:SourceAccount": ACCOUNT})
    assert gateway.iam.assumable(FUNCTION_ROLE, "lambda.amazonaws.com")
    with pytest.raises(Exception, match=r"Could not assume role .*fixture-FunctionRole.*'sagemaker\.amazonaws\.com'"):
        gateway.auth.require_assumable(FUNCTION_ROLE, ACCOUNT)
