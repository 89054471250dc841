"""Provisioning from a template: intrinsic functions, dependency order, each resource kind, and the coverage rule
(a resource type of the real template that is neither provisioned nor named as not emulated fails)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.aws import client
from local.gateway import Gateway
from local.provision import NOT_EMULATED, PROVISIONERS, ProvisionError, Stack, provision, uncovered_types
from local.template import Template, TemplateError


def _eventbridge_enabled(bucket: str) -> bool:
    """moto keeps the setting (and acts on it) but its GetBucketNotificationConfiguration does not render it."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    config = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket).notification_configuration
    return config is not None and config.event_bridge is not None


def test_intrinsic_functions_resolve() -> None:
    raw = {
        "Parameters": {"Env": {"Type": "String", "Default": "dev"}},
        "Mappings": {"M": {"aws": {"account": "111"}}},
        "Conditions": {
            "IsDev": {"Fn::Equals": [{"Ref": "Env"}, "dev"]},
            "NotDev": {"Fn::Not": [{"Condition": "IsDev"}]},
        },
        "Resources": {"A": {"Type": "X"}, "B": {"Type": "X", "Condition": "NotDev"}},
    }
    t = Template(raw, "st", "123456789012", "eu-west-1")
    t.set_physical("A", "a-name", Arn="arn:a")
    r = t.resolve
    assert r({"Fn::Sub": "${AWS::StackName}-${A}-${A.Arn}-${!Literal}"}) == "st-a-name-arn:a-${Literal}"
    assert r({"Fn::Sub": ["${x}/${AWS::Region}", {"x": {"Ref": "A"}}]}) == "a-name/eu-west-1"
    assert r({"Fn::Join": [":", ["a", {"Ref": "AWS::AccountId"}]]}) == "a:123456789012"
    assert r({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert r({"Fn::FindInMap": ["M", {"Ref": "AWS::Partition"}, "account"]}) == "111"
    assert r({"Fn::If": ["IsDev", "yes", "no"]}) == "yes"
    assert r({"k": {"Fn::If": ["NotDev", "x", {"Ref": "AWS::NoValue"}]}}) == {}
    assert t.creation_order() == ["A"]  # B's condition is false
    with pytest.raises(TemplateError):
        r({"Fn::ImportValue": "elsewhere"})
    with pytest.raises(TemplateError):
        r({"Fn::GetAtt": ["A", "Missing"]})


def test_creation_order_follows_references_and_depends_on() -> None:
    raw = {
        "Resources": {
            "C": {"Type": "X", "Properties": {"p": {"Fn::Sub": "${B.Arn}"}}},
            "B": {"Type": "X", "DependsOn": "A"},
            "A": {"Type": "X", "Properties": {"q": {"Ref": "AWS::Region"}}},
        }
    }
    assert Template(raw, "s", "1", "r").creation_order() == ["A", "B", "C"]
    cyclic = {"Resources": {"A": {"Type": "X", "DependsOn": "B"}, "B": {"Type": "X", "DependsOn": "A"}}}
    with pytest.raises(TemplateError, match="cycle"):
        Template(cyclic, "s", "1", "r").creation_order()


def test_the_fixture_template_is_provisioned(gateway: Gateway, fixture_stack: Stack) -> None:
    url = gateway.url
    bucket = fixture_stack.outputs["BucketName"]
    assert bucket == "fixture-bucket"
    assert _eventbridge_enabled(bucket)
    table = client("glue", endpoint_url=url).get_table(DatabaseName="fixture_lake", Name="rewards")["Table"]
    assert table["Parameters"]["projection.dt.format"] == "yyyy/MM/dd/HH"
    assert table["Parameters"]["storage.location.template"] == f"s3://{bucket}/rewards/${{dt}}/"
    stream = client("firehose", endpoint_url=url).describe_delivery_stream(DeliveryStreamName="fixture-rewards")
    destination = stream["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert destination["BucketARN"] == f"arn:aws:s3:::{bucket}" and destination["Prefix"] == "rewards/"
    sfn = client("stepfunctions", endpoint_url=url)
    definition = json.loads(
        sfn.describe_state_machine(stateMachineArn=fixture_stack.outputs["StateMachineArn"])["definition"]
    )
    assert definition["States"]["Echo"]["Parameters"]["FunctionName"] == fixture_stack.outputs["EchoArn"]
    assert definition["States"]["Pause"]["Seconds"] == 1
    events = client("events", endpoint_url=url)
    rules = {r["Name"]: r for r in events.list_rules()["Rules"]}
    rule = rules["fixture-RewardObjects"]
    assert json.loads(rule["EventPattern"])["detail"]["bucket"]["name"] == [bucket]
    targets = events.list_targets_by_rule(Rule="fixture-RewardObjects")["Targets"]
    assert targets[0]["Arn"].endswith(":function:fixture-counter")
    assert client("iam", endpoint_url=url).get_role_policy(
        RoleName="fixture-FunctionRole", PolicyName="fixture-functions"
    )
    alarms = client("cloudwatch", endpoint_url=url).describe_alarms(AlarmNames=["fixture-5xx"])["MetricAlarms"]
    assert alarms and alarms[0]["Threshold"] == 1.0
    assert client("cloudwatch", endpoint_url=url).get_dashboard(DashboardName="fixture")["DashboardBody"]
    ttl = client("dynamodb", endpoint_url=url).describe_time_to_live(TableName="fixture-Counts")
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiration"
    assert "RewardObjectsPermission" in fixture_stack.skipped
    written = json.loads((gateway.state_dir / "stack.json").read_text())
    assert written["outputs"]["BucketName"] == bucket


def test_a_resource_type_nobody_handles_stops_provisioning(gateway: Gateway, tmp_path: Path) -> None:
    raw = {"Resources": {"Odd": {"Type": "AWS::Made::Up", "Properties": {}}}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(raw))
    assert uncovered_types(raw) == {"AWS::Made::Up"}
    with pytest.raises(ProvisionError, match="AWS::Made::Up"):
        provision(gateway, path, stack_name="odd")


def test_every_resource_type_of_the_real_template_is_provisioned_or_named(real_template: Path) -> None:
    raw = json.loads(real_template.read_text())
    types = {r["Type"] for r in raw["Resources"].values()}
    assert not uncovered_types(raw), (
        f"resource types neither provisioned nor in NOT_EMULATED: {sorted(uncovered_types(raw))}; "
        "add a provisioner to local/provision.py or name the type with its reason"
    )
    assert types & set(PROVISIONERS)
    for name, reason in NOT_EMULATED.items():
        assert reason.strip(), name


def test_the_real_template_provisions(gateway: Gateway, fixture_stack: Stack, real_template: Path) -> None:
    stack = provision(gateway, real_template, stack_name="bandit-demo-pipeline")
    outputs = stack.outputs
    for key in ("BucketName", "StateMachineArn", "DecisionsStreamName", "RewardsStreamName", "EndpointName"):
        assert outputs.get(key), key
    url = gateway.url
    assert _eventbridge_enabled(outputs["BucketName"])
    functions = set(stack.functions)
    assert {f"bandit-demo-{k}" for k in ("trigger", "join", "train", "evaluate", "deploy", "finalize")} <= functions
    spec = stack.functions["bandit-demo-trigger"]
    assert spec.environment["STATE_MACHINE_ARN"] == outputs["StateMachineArn"]
    assert spec.environment["BUCKET_NAME"] == outputs["BucketName"]
    assert json.loads(spec.environment["SETTINGS_JSON"])["experiment_id"] == "bandit-demo"
    # the template's lag is for 60 s Firehose buffers; here the gateway's own buffer (0.5 s) sets it
    assert float(spec.environment["DELIVERY_LAG_SECONDS"]) == gateway.delivery_lag_seconds == 0.5 + 1.5
    assert (spec.code_dir / "trigger.py").is_file()
    definition = client("stepfunctions", endpoint_url=url).describe_state_machine(
        stateMachineArn=outputs["StateMachineArn"]
    )["definition"]
    assert "${" not in definition
    rules = client("events", endpoint_url=url).list_targets_by_rule(
        Rule="bandit-demo-pipeline-TriggerRewardObjectCreatedD0D39176"
    )
    assert rules["Targets"][0]["Arn"].endswith(":function:bandit-demo-trigger")
