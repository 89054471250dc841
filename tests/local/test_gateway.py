"""The gateway's routes: Lambda Invoke runs the handler with its environment, moto answers the rest, engines and
errors are rendered the AWS way, Firehose lands JSON lines under the hour prefix, Step Functions calls back."""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.aws import client
from local.errors import AwsError
from local.gateway import Gateway
from local.provision import Stack


def _invoke(gateway: Gateway, payload: dict[str, Any], name: str = "fixture-echo") -> tuple[dict[str, Any], Any]:
    answer = client("lambda", endpoint_url=gateway.url).invoke(FunctionName=name, Payload=json.dumps(payload))
    return answer, json.loads(answer["Payload"].read())


def test_invoke_runs_the_handler_with_the_function_environment(gateway: Gateway, fixture_stack: Stack) -> None:
    answer, body = _invoke(
        gateway,
        {
            "hello": 1,
            "env": [
                "BUCKET_NAME",
                "TABLE_NAME",
                "STREAM",
                "PARTITION_KIND",
                "AWS_ENDPOINT_URL",
                "AWS_LAMBDA_FUNCTION_NAME",
            ],
        },
    )
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert body["event"]["hello"] == 1
    env = body["env"]
    assert env["BUCKET_NAME"] == fixture_stack.outputs["BucketName"]
    assert env["TABLE_NAME"] == "fixture-Counts"
    assert env["STREAM"] == "fixture-rewards"  # Fn::Select / Fn::Split / Fn::Join / Fn::Sub resolved
    assert env["PARTITION_KIND"] == "commercial"  # Fn::If on a condition
    assert env["AWS_ENDPOINT_URL"] == gateway.url
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fixture-echo"
    assert body["function_name"] == "fixture-echo"
    assert 0 < body["remaining_ms"] <= 3000


def test_workers_stay_warm_and_are_replaced_after_a_crash(gateway: Gateway, fixture_stack: Stack) -> None:
    _, first = _invoke(gateway, {})
    _, second = _invoke(gateway, {})
    assert first["pid"] == second["pid"]  # the same execution environment answered
    answer, body = _invoke(gateway, {"crash": True})
    assert answer["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.ExitError"
    _, third = _invoke(gateway, {})
    assert third["pid"] != second["pid"]


def test_handler_errors_and_timeouts_are_function_errors(gateway: Gateway, fixture_stack: Stack) -> None:
    answer, body = _invoke(gateway, {"fail": "on purpose"})
    assert answer["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and "on purpose" in body["errorMessage"]
    started = time.monotonic()
    answer, body = _invoke(gateway, {"sleep": 10})
    assert answer["FunctionError"] == "Unhandled" and body["errorType"] == "Sandbox.Timedout"
    assert time.monotonic() - started < 6
    _, ok = _invoke(gateway, {"after": "timeout"})
    assert ok["event"] == {"after": "timeout"}


def test_concurrent_invocations_use_separate_workers(gateway: Gateway, fixture_stack: Stack) -> None:
    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(lambda n: _invoke(gateway, {"n": n, "sleep": 0.5})[1], range(4)))
    assert sorted(b["event"]["n"] for b in bodies) == [0, 1, 2, 3]
    assert len({b["pid"] for b in bodies}) >= 2


def test_unknown_function_is_resource_not_found(gateway: Gateway, fixture_stack: Stack) -> None:
    with pytest.raises(ClientError) as err:
        client("lambda", endpoint_url=gateway.url).invoke(FunctionName="no-such-function", Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_other_services_pass_through_to_moto(gateway: Gateway, fixture_stack: Stack) -> None:
    s3 = client("s3", endpoint_url=gateway.url)
    bucket = fixture_stack.outputs["BucketName"]
    s3.put_object(Bucket=bucket, Key="misc/hello.txt", Body=b"hello")
    assert s3.get_object(Bucket=bucket, Key="misc/hello.txt")["Body"].read() == b"hello"
    ddb = client("dynamodb", endpoint_url=gateway.url)
    assert "fixture-Counts" in ddb.list_tables()["TableNames"]
    functions = {f["FunctionName"] for f in client("lambda", endpoint_url=gateway.url).list_functions()["Functions"]}
    assert {"fixture-echo", "fixture-counter"} <= functions
    with urllib.request.urlopen(f"{gateway.url}/_local/health") as answer:
        assert json.loads(answer.read())["status"] == "ok"


class _StandInEngine:
    """Records calls; raises the AwsError the contract says the gateway renders."""

    operations = None

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, params))
        if params.get("QueryString") == "bad":
            raise AwsError("InvalidRequestException", "the query is bad", 400)
        if operation == "StartQueryExecution":
            return {"QueryExecutionId": "q-1"}
        if operation == "DescribeEndpoint":
            raise AwsError("ValidationException", f"Could not find endpoint {params['EndpointName']}.")
        return {"ok": True}

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str, accept: str
    ) -> tuple[int, dict[str, str], bytes]:
        if name == "broken":
            raise AwsError("ModelError", "the model failed", 424)
        return 200, {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": "AllTraffic"}, body

    def close(self) -> None:
        return None


@pytest.fixture
def stand_in_engines(gateway: Gateway):
    engine = _StandInEngine()
    saved = gateway.athena, gateway.sagemaker
    gateway.athena = gateway.sagemaker = engine
    yield engine
    gateway.athena, gateway.sagemaker = saved


def test_engines_answer_athena_and_sagemaker_and_errors_render_as_aws_errors(
    gateway: Gateway, fixture_stack: Stack, stand_in_engines: _StandInEngine
) -> None:
    athena = client("athena", endpoint_url=gateway.url)
    assert athena.start_query_execution(QueryString="SELECT 1", WorkGroup="fixture-wg")["QueryExecutionId"] == "q-1"
    with pytest.raises(ClientError) as err:
        athena.start_query_execution(QueryString="bad", WorkGroup="fixture-wg")
    assert err.value.response["Error"] == {"Code": "InvalidRequestException", "Message": "the query is bad"}
    # work groups are moto's (provisioned from the template), not the engine's
    assert athena.get_work_group(WorkGroup="fixture-wg")["WorkGroup"]["Name"] == "fixture-wg"
    sagemaker = client("sagemaker", endpoint_url=gateway.url)
    with pytest.raises(ClientError) as err:
        sagemaker.describe_endpoint(EndpointName="nope")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert ("DescribeEndpoint", {"EndpointName": "nope"}) in stand_in_engine_calls(stand_in_engines)
    runtime = client("sagemaker-runtime", endpoint_url=gateway.url)
    answer = runtime.invoke_endpoint(EndpointName="policy", Body=b'{"x": 1}', ContentType="application/json")
    assert answer["Body"].read() == b'{"x": 1}' and answer["InvokedProductionVariant"] == "AllTraffic"
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(EndpointName="broken", Body=b"{}", ContentType="application/json")
    assert err.value.response["Error"]["Code"] == "ModelError"


def stand_in_engine_calls(engine: _StandInEngine) -> list[tuple[str, dict[str, Any]]]:
    return engine.calls


def test_without_engines_the_gateway_says_why(gateway: Gateway, fixture_stack: Stack) -> None:
    with pytest.raises(ClientError) as err:
        client("athena", endpoint_url=gateway.url).start_query_execution(QueryString="SELECT 1")
    assert err.value.response["Error"]["Code"] == "ServiceUnavailableException"


def test_firehose_buffers_records_into_json_lines_under_the_hour_prefix(gateway: Gateway, fixture_stack: Stack) -> None:
    firehose = client("firehose", endpoint_url=gateway.url)
    s3 = client("s3", endpoint_url=gateway.url)
    bucket = fixture_stack.outputs["BucketName"]
    stream = fixture_stack.outputs["RewardsStreamName"]
    before = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="rewards/").get("Contents", [])}
    for n in range(3):
        firehose.put_record_batch(
            DeliveryStreamName=stream,
            Records=[{"Data": json.dumps({"event_id": f"e{n}-{i}", "reward": 1.0}).encode()} for i in range(2)],
        )
    firehose.put_record(DeliveryStreamName=stream, Record={"Data": b'{"event_id": "single", "reward": 0.0}'})
    with pytest.raises(ClientError) as err:
        firehose.put_record(DeliveryStreamName="no-such-stream", Record={"Data": b"x"})
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    deadline = time.monotonic() + 10
    new: list[str] = []
    while time.monotonic() < deadline and not new:
        time.sleep(0.2)
        new = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=bucket, Prefix="rewards/").get("Contents", [])
            if o["Key"] not in before
        ]
    assert len(new) == 1, new  # the buffer made one object of four calls
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime())
    assert new[0].startswith(f"rewards/{hour}/fixture-rewards-")
    lines = s3.get_object(Bucket=bucket, Key=new[0])["Body"].read().decode().splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [
        "e0-0",
        "e0-1",
        "e1-0",
        "e1-1",
        "e2-0",
        "e2-1",
        "single",
    ]


def test_step_functions_execute_and_call_lambda_back_through_the_gateway(
    gateway: Gateway, fixture_stack: Stack
) -> None:
    sfn = client("stepfunctions", endpoint_url=gateway.url)
    arn = fixture_stack.outputs["StateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="greet-1", input=json.dumps({"greeting": "hi"}))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            break
        time.sleep(0.3)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["event"]["greeting"] == "hi" and output["env"]["PARTITION_KIND"] == "commercial"
    with pytest.raises(ClientError) as err:  # the deterministic name: a second start does not run twice
        sfn.start_execution(stateMachineArn=arn, name="greet-1", input=json.dumps({"greeting": "again"}))
    assert err.value.response["Error"]["Code"] == "ExecutionAlreadyExists"


def test_history_and_executions_views(gateway: Gateway, fixture_stack: Stack, capsys: pytest.CaptureFixture) -> None:
    from local.cli import main
    from local.history import executions_table, render_history

    sfn = client("stepfunctions", endpoint_url=gateway.url)
    arn = fixture_stack.outputs["StateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="view-1", input=json.dumps({"greeting": "view"}))
    deadline = time.monotonic() + 20
    while (
        time.monotonic() < deadline
        and sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING"
    ):
        time.sleep(0.3)
    text = render_history(sfn, execution["executionArn"])
    assert "status SUCCEEDED" in text and "> Echo" in text and "< Pause" in text and "ExecutionSucceeded" in text
    assert '"greeting":"view"' in text  # what the Echo task added (its Payload)
    table = executions_table(sfn, arn)
    assert "view-1" in table and "SUCCEEDED" in table
    assert main(["history", execution["executionArn"], "--url", gateway.url]) == 0
    assert "> Echo" in capsys.readouterr().out


def test_embedded_metrics_in_function_logs_reach_cloudwatch(gateway: Gateway, fixture_stack: Stack) -> None:
    _invoke(gateway, {"metric": 3})
    cloudwatch = client("cloudwatch", endpoint_url=gateway.url)
    deadline = time.monotonic() + 10
    metrics: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not metrics:
        metrics = cloudwatch.list_metrics(Namespace="Fixture", MetricName="Echoes")["Metrics"]
        time.sleep(0.2)
    assert metrics and metrics[0]["Dimensions"] == [{"Name": "service", "Value": "echo"}]
