"""Lambdas, state machine, trigger rule, SageMaker execution roles and image, alarms, dashboard, outputs."""

from __future__ import annotations

import json
import re

import pytest

from contract import environment
from infra.names import FUNCTION_KEYS
from infra.pipeline import INVOKED_BY_STATE_MACHINE, POWERTOOLS_LAYER_NAME

# docs/contracts.md: `${<Key>FunctionArn}` per function the ASL may name (reconcile runs on the execution's end
# event, outside it), the poll interval and the run timeout.
SUBSTITUTIONS = {f"{key.capitalize()}FunctionArn" for key in FUNCTION_KEYS if key != "reconcile"} | {
    "PollSeconds",
    "RunTimeoutSeconds",
}


def _functions(synth):
    return {
        f["Properties"]["FunctionName"]: (k, f["Properties"]) for k, f in synth.of_type("AWS::Lambda::Function").items()
    }


def _policy_statements(synth, role_id):
    return [
        s
        for p in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement):
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def test_six_functions_python312_powertools_tracing_own_log_group(synth):
    functions = _functions(synth)
    experiment = synth.settings.experiment_id
    assert set(functions) == {f"{experiment}-{k}" for k in FUNCTION_KEYS}
    log_groups = synth.of_type("AWS::Logs::LogGroup")
    for key in FUNCTION_KEYS:
        _, props = functions[f"{experiment}-{key}"]
        assert props["Runtime"] == "python3.12"
        assert props["Handler"] == f"{key}.handler"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogGroup"]["Ref"] in log_groups
        layer = json.dumps(props["Layers"])
        assert '"Ref": "AWS::Region"' in layer  # region-aware public ARN
        (lookup,) = props["Layers"]
        mapping = synth.raw["Mappings"][lookup["Fn::FindInMap"][0]]
        assert all(f":layer:{POWERTOOLS_LAYER_NAME}:" in arn for row in mapping.values() for arn in row.values())
        env = props["Environment"]["Variables"]
        assert set(env) == set(environment.LAMBDA)
        assert json.loads(env["SETTINGS_JSON"]) == json.loads(synth.settings.to_json())
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "BanditPipeline"
        assert env["ENDPOINT_NAME"] == f"{experiment}-policy"
        assert env["ROLLBACK_ALARMS"] == f"{experiment}-policy-5xx,{experiment}-policy-latency"
        assert env["DECISIONS_STREAM"] == f"{experiment}-decisions"
        # a run joins a Firehose buffer (60 s) plus a margin after its reward wait: both streams have delivered
        assert env["DELIVERY_LAG_SECONDS"] == "90"
        assert env["STATE_MACHINE_ARN"]["Fn::Join"][1][-1] == f":stateMachine:{experiment}-retrain"


def test_state_machine_definition_substitutions_logging_tracing(synth):
    machines = synth.of_type("AWS::StepFunctions::StateMachine")
    assert len(machines) == 1
    props = next(iter(machines.values()))["Properties"]
    assert props["StateMachineName"] == f"{synth.settings.experiment_id}-retrain"
    assert props["DefinitionString"] == synth.statemachine_path.read_text()
    assert set(props["DefinitionSubstitutions"]) == SUBSTITUTIONS
    assert props["DefinitionSubstitutions"]["PollSeconds"] == str(synth.settings.poll_seconds)
    assert props["DefinitionSubstitutions"]["RunTimeoutSeconds"] == str(synth.settings.run_timeout_seconds)
    functions = {name.split("-")[-1]: logical for name, (logical, _) in _functions(synth).items()}
    for key in (k for k in FUNCTION_KEYS if k != "reconcile"):  # reconcile runs on the execution's end event
        assert props["DefinitionSubstitutions"][f"{key.capitalize()}FunctionArn"] == {
            "Fn::GetAtt": [functions[key], "Arn"]
        }
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert props["TracingConfiguration"] == {"Enabled": True}
    # Explicit invoke grants, one per task function.
    role_id = props["RoleArn"]["Fn::GetAtt"][0]
    invokable = {
        json.dumps(r)
        for s in _policy_statements(synth, role_id)
        if "lambda:InvokeFunction" in _actions(s)
        for r in s["Resource"]
    }
    for key in ("join", "train", "evaluate", "deploy", "finalize"):
        assert json.dumps({"Fn::GetAtt": [functions[key], "Arn"]}) in invokable


def test_trigger_rule_targets_the_trigger_function(synth):
    rules = [
        r
        for r in synth.of_type("AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.s3"]
    ]
    assert len(rules) == 1
    props = rules[0]["Properties"]
    pattern = props["EventPattern"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": "rewards/"}]
    bucket_ref = pattern["detail"]["bucket"]["name"][0]["Ref"]
    assert synth.resources[bucket_ref]["Type"] == "AWS::S3::Bucket"
    trigger_id, _ = _functions(synth)[f"{synth.settings.experiment_id}-trigger"]
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [trigger_id, "Arn"]}
    assert "DeadLetterConfig" in target
    permissions = synth.of_type("AWS::Lambda::Permission").values()
    assert any(
        p["Properties"]["Principal"] == "events.amazonaws.com"
        and p["Properties"]["FunctionName"] == {"Fn::GetAtt": [trigger_id, "Arn"]}
        for p in permissions
    )


def test_trigger_may_start_the_state_machine_and_read_rewards_only(synth):
    _, props = _functions(synth)[f"{synth.settings.experiment_id}-trigger"]
    statements = _policy_statements(synth, props["Role"]["Fn::GetAtt"][0])
    starts = [s for s in statements if "states:StartExecution" in _actions(s)]
    assert len(starts) == 1
    assert starts[0]["Resource"]["Fn::Join"][1][-1] == f":stateMachine:{synth.settings.experiment_id}-retrain"
    reads = [s for s in statements if "s3:GetObject" in _actions(s)]
    assert [json.dumps(s["Resource"]).count("/rewards/*") for s in reads] == [1]
    assert all("sagemaker" not in json.dumps(s) for s in statements)


def test_deploy_scoped_to_experiment_prefix_and_passes_only_the_endpoint_role(synth):
    experiment = synth.settings.experiment_id
    _, props = _functions(synth)[f"{experiment}-deploy"]
    statements = _policy_statements(synth, props["Role"]["Fn::GetAtt"][0])
    sagemaker = [s for s in statements if any(a.startswith("sagemaker:") for a in _actions(s))]
    assert {"sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:UpdateEndpoint"} <= {
        a for s in sagemaker for a in _actions(s)
    }
    for statement in sagemaker:
        for resource in statement["Resource"]:
            tail = resource["Fn::Join"][1][-1]
            assert tail.split("/", 1)[1].startswith(experiment.lower()), tail
    passes = [s for s in statements if "iam:PassRole" in _actions(s)]
    assert len(passes) == 1
    role_id = passes[0]["Resource"]["Fn::GetAtt"][0]
    assert synth.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"
    }
    assert passes[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert role_id == props["Environment"]["Variables"]["ENDPOINT_ROLE_ARN"]["Fn::GetAtt"][0]


# role construct id -> (prefixes read, prefixes written, log group, other actions beyond image pull, logs, metrics)
EXECUTION_ROLES = {
    "TrainingRole": ({"joined", "models"}, {"models"}, "/aws/sagemaker/TrainingJobs", set()),
    "EvaluationRole": ({"joined", "models"}, {"evaluations"}, "/aws/sagemaker/TrainingJobs", set()),
    "ExecutionRole": (  # the endpoint's: it keeps the shared role's id (infra.model.ENDPOINT_ROLE_ID)
        {"models"},
        set(),
        "/aws/sagemaker/Endpoints/",
        {"firehose:PutRecordBatch", "cloudwatch:DescribeAlarms"},
    ),
}
BASE_ACTIONS = {
    "s3:GetObject",
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "ecr:GetAuthorizationToken",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogStreams",
    "cloudwatch:PutMetricData",
}
WRITE_ACTIONS = {"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}


def _prefixes(statements, predicate):
    text = json.dumps([s["Resource"] for s in statements if predicate(_actions(s))])
    return {prefix for prefix in re.findall(r"/([a-z-]+)/\*", text)}


@pytest.mark.parametrize("construct_id", sorted(EXECUTION_ROLES))
def test_each_execution_role_holds_exactly_its_jobs_actions(synth, construct_id):
    reads, writes, log_group, extra = EXECUTION_ROLES[construct_id]
    (role_id,) = [k for k in synth.of_type("AWS::IAM::Role") if k.startswith(f"Model{construct_id}")]
    trust = synth.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "sagemaker.amazonaws.com"}]
    statements = _policy_statements(synth, role_id)
    assert _prefixes(statements, lambda a: a == ["s3:GetObject"]) == reads
    assert _prefixes(statements, lambda a: "s3:PutObject" in a) == writes
    actions = {a for s in statements for a in _actions(s)}
    assert actions == BASE_ACTIONS | (WRITE_ACTIONS if writes else set()) | extra
    logs = [s for s in statements if "logs:PutLogEvents" in _actions(s)]
    assert [log_group in json.dumps(s["Resource"]) for s in logs] == [True]


def test_rollback_alarms_watch_the_endpoint_variant(synth):
    experiment = synth.settings.experiment_id
    every = synth.of_type("AWS::CloudWatch::Alarm").values()
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"] for a in every if a["Properties"]["Namespace"] != "BanditPipeline"
    }
    assert set(alarms) == {f"{experiment}-policy-5xx", f"{experiment}-policy-latency"}
    expected_dims = [
        {"Name": "EndpointName", "Value": f"{experiment}-policy"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    assert alarms[f"{experiment}-policy-5xx"]["MetricName"] == "Invocation5XXErrors"
    assert alarms[f"{experiment}-policy-latency"]["MetricName"] == "ModelLatency"
    for props in alarms.values():
        assert props["Namespace"] == "AWS/SageMaker"
        assert sorted(props["Dimensions"], key=lambda d: d["Name"]) == expected_dims
        assert props["TreatMissingData"] == "notBreaching"


def test_the_drift_alarm_watches_the_evaluate_functions_metric(synth):
    experiment = synth.settings.experiment_id
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()}
    drift = alarms[f"{experiment}-drift"]
    assert (drift["Namespace"], drift["MetricName"], drift["Statistic"]) == (
        "BanditPipeline",
        "DriftDetected",
        "Maximum",
    )
    assert drift["Dimensions"] == [{"Name": "service", "Value": experiment}]
    assert drift["Threshold"] == 1 and drift["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert drift["TreatMissingData"] == "notBreaching" and drift["EvaluationPeriods"] == 1


def test_dashboard_graphs_pipeline_metrics_and_endpoint_traffic(synth):
    (dashboard,) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "RewardsCounted",
        "RowsJoined",
        "CandidateValue",
        "ServingValue",
        "Promotions",
        "Rollbacks",
        "RunsFailed",
    ):
        assert metric in body
    assert "BanditPipeline" in body
    assert "VariantName" in body and f"{synth.settings.experiment_id}-policy" in body


def test_outputs(synth):
    outputs = synth.raw["Outputs"]
    for name in (
        "BucketName",
        "DecisionsStreamName",
        "RewardsStreamName",
        "StateMachineArn",
        "EndpointName",
        "DashboardUrl",
        "ExperimentsTableName",
        "ModelsTableName",
        "JoinsTableName",
        "StateTableName",
        "IdempotencyTableName",
        "TrainingRoleArn",
        "EvaluationRoleArn",
        "EndpointRoleArn",
    ):
        assert name in outputs, name
    assert outputs["EndpointName"]["Value"] == f"{synth.settings.experiment_id}-policy"


def test_no_sagemaker_endpoint_owned_by_cloudformation(synth):
    """The pipeline creates and updates the endpoint, so `cdk deploy` never reverts a rollout."""
    types = {r["Type"] for r in synth.resources.values()}
    assert not {t for t in types if t.startswith("AWS::SageMaker::")}


def test_asl_uses_only_provided_substitutions_of_invokable_functions(synth):
    """The ASL file and the stack agree: every `${Name}` is substituted, every task function may be invoked."""
    used = set(re.findall(r"\$\{(\w+)\}", synth.statemachine_path.read_text()))
    assert used <= SUBSTITUTIONS, used - SUBSTITUTIONS
    invoked = {name for name in used if name.endswith("FunctionArn")}
    granted = {f"{key.capitalize()}FunctionArn" for key in INVOKED_BY_STATE_MACHINE}
    assert invoked <= granted, f"the state machine may not invoke {invoked - granted}"
    assert "PollSeconds" in used
