"""Provision the synthesized CDK template into the local gateway, the way CloudFormation would create it.

`synthesize(overrides, outdir)` builds the template with the project's own CDK app (`app.build_app`, in a subprocess
so jsii stays out of the gateway process); `provision(gateway, template_path)` creates every resource through the
gateway's AWS APIs (boto3 against `gateway.url`) in dependency order and registers the Lambda functions with the
gateway's Lambda runtime. Every resource type of the template is either in `PROVISIONERS` or in `NOT_EMULATED`
(with the reason, from `local/fidelity.py`'s table); anything else stops provisioning
(`tests/local/test_provision.py` checks the real template).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

from local import fidelity
from local.aws import client, local_environment
from local.lambdas import FunctionSpec
from local.template import Template, TemplateError

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_ID = "BanditPipeline"

IGNORED_PROPERTIES = {
    "AWS::S3::Bucket": "LoggingConfiguration (server access logs), LifecycleConfiguration (no expiry runs), "
    "VersioningConfiguration",
    "AWS::Lambda::Function": "Layers, VpcConfig, TracingConfig (no X-Ray daemon), ReservedConcurrentExecutions",
    "AWS::StepFunctions::StateMachine": "LoggingConfiguration, TracingConfiguration (the history is the log)",
    "AWS::DynamoDB::Table": "PointInTimeRecoverySpecification, SSESpecification",
    "AWS::KinesisFirehose::DeliveryStream": "CloudWatchLoggingOptions, ErrorOutputPrefix, compression; buffering is "
    "the gateway's (local interval)",
}
"""Properties that are accepted but have no local effect (documented in docs/local-runtime.md)."""


class ProvisionError(Exception):
    """The template cannot be provisioned locally."""


@dataclass
class Stack:
    """What was provisioned: physical ids per logical id, resolved outputs, the Lambda specs."""

    name: str
    template_path: Path
    physical: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack_name": self.name,
            "template": str(self.template_path),
            "outputs": self.outputs,
            "resources": {k: {"type": self.types[k], "physical_id": v} for k, v in self.physical.items()},
            "not_emulated": self.skipped,
            "functions": sorted(self.functions),
        }


# Synthesis -------------------------------------------------------------------------------------------------------


def synthesize(overrides: dict[str, Any] | None, outdir: Path, timeout: float = 300) -> Path:
    """`cdk synth` through the project's app (in a subprocess); the template path."""
    outdir.mkdir(parents=True, exist_ok=True)
    code = (
        "import json, sys\n"
        "from app import build_app, STACK_ID\n"
        "ctx = {'aws:cdk:enable-asset-metadata': True}\n"
        "if sys.argv[2] != '{}':\n"
        "    ctx['bandit'] = sys.argv[2]\n"
        "app, stack = build_app(ctx, outdir=sys.argv[1], nag=False)\n"
        "app.synth()\n"
    )
    env = dict(os.environ, JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(outdir), json.dumps(overrides or {})],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    template = outdir / f"{STACK_ID}.template.json"
    if proc.returncode != 0 or not template.is_file():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise ProvisionError(f"cdk synth failed (exit {proc.returncode}):\n{tail}")
    return template


# Provisioning ----------------------------------------------------------------------------------------------------


class _Context:
    def __init__(self, gateway: Any, template: Template, template_path: Path, stack: Stack) -> None:
        self.gateway = gateway
        self.t = template
        self.template_path = template_path
        self.stack = stack
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = client(service, endpoint_url=self.gateway.url)
        return self._clients[service]

    @property
    def account(self) -> str:
        return self.t.account

    @property
    def region(self) -> str:
        return self.t.region

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account if account else ''}:{resource}"


Provisioner = Callable[[_Context, str, dict[str, Any]], None]


def _s3_bucket(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("BucketName") or c.t.generated_name(lid, 63, lower=True)
    s3 = c.client("s3")
    s3.create_bucket(Bucket=name)
    enc = p.get("BucketEncryption")
    if enc:
        rules = []
        for rule in enc.get("ServerSideEncryptionConfiguration", []):
            api_rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
            if "BucketKeyEnabled" in rule:
                api_rule["BucketKeyEnabled"] = rule["BucketKeyEnabled"]
            rules.append(api_rule)
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if p.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
    notification = p.get("NotificationConfiguration") or {}
    config: dict[str, Any] = {}
    if (notification.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled", False):
        config["EventBridgeConfiguration"] = {}
    for cfn_key, api_key, arn_key in (
        ("QueueConfigurations", "QueueConfigurations", "Queue"),
        ("TopicConfigurations", "TopicConfigurations", "Topic"),
        ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function"),
    ):
        items = notification.get(cfn_key) or []
        if items:
            config[api_key] = [
                {
                    f"{'LambdaFunction' if arn_key == 'Function' else arn_key}Arn": item[arn_key],
                    "Events": [item["Event"]],
                    **(
                        {"Filter": {"Key": {"FilterRules": item["Filter"]["S3Key"]["Rules"]}}}
                        if "Filter" in item
                        else {}
                    ),
                }
                for item in items
            ]
    if config:
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
    c.t.set_physical(
        lid,
        name,
        Arn=f"arn:aws:s3:::{name}",
        DomainName=f"{name}.s3.amazonaws.com",
        RegionalDomainName=f"{name}.s3.{c.region}.amazonaws.com",
        WebsiteURL=f"http://{name}.s3-website-{c.region}.amazonaws.com",
    )


def _s3_bucket_policy(c: _Context, lid: str, p: dict[str, Any]) -> None:
    # The gateway speaks plain HTTP on loopback (TLS is not emulated), and moto evaluates bucket policies, so the
    # SSL-only statement (Deny when aws:SecureTransport is false) would deny every request: it is left out.
    document = dict(p["PolicyDocument"])
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    document["Statement"] = [s for s in statements if "aws:SecureTransport" not in json.dumps(s.get("Condition", {}))]
    if document["Statement"]:
        c.client("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(document))
    c.t.set_physical(lid, f"{p['Bucket']}-policy")


def _iam_role(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("RoleName") or c.t.generated_name(lid, 64)
    iam = c.client("iam")
    kwargs: dict[str, Any] = {
        "RoleName": name,
        "AssumeRolePolicyDocument": json.dumps(p["AssumeRolePolicyDocument"]),
        "Path": p.get("Path", "/"),
    }
    if p.get("Description"):
        kwargs["Description"] = p["Description"]
    role = iam.create_role(**kwargs)["Role"]
    for policy in p.get("Policies") or []:
        iam.put_role_policy(
            RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
        )
    c.t.set_physical(lid, name, Arn=role["Arn"], RoleId=role["RoleId"])


def _iam_policy(c: _Context, lid: str, p: dict[str, Any]) -> None:
    iam = c.client("iam")
    document = json.dumps(p["PolicyDocument"])
    for role in p.get("Roles") or []:
        iam.put_role_policy(RoleName=role, PolicyName=p["PolicyName"], PolicyDocument=document)
    for user in p.get("Users") or []:
        iam.put_user_policy(UserName=user, PolicyName=p["PolicyName"], PolicyDocument=document)
    for group in p.get("Groups") or []:
        iam.put_group_policy(GroupName=group, PolicyName=p["PolicyName"], PolicyDocument=document)
    c.t.set_physical(lid, p["PolicyName"], Id=p["PolicyName"])


def _iam_managed_policy(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("ManagedPolicyName") or c.t.generated_name(lid, 128)
    iam = c.client("iam")
    arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(p["PolicyDocument"]))["Policy"]["Arn"]
    for role in p.get("Roles") or []:
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    c.t.set_physical(lid, arn, PolicyArn=arn)


def _log_group(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("LogGroupName") or c.t.generated_name(lid, 512)
    logs = c.client("logs")
    logs.create_log_group(logGroupName=name)
    if p.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(p["RetentionInDays"]))
    c.t.set_physical(lid, name, Arn=c.arn("logs", f"log-group:{name}:*"))


def _log_stream(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("LogStreamName") or c.t.generated_name(lid, 512)
    c.client("logs").create_log_stream(logGroupName=p["LogGroupName"], logStreamName=name)
    c.t.set_physical(lid, name)


def _firehose(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("DeliveryStreamName") or c.t.generated_name(lid, 64)
    kwargs: dict[str, Any] = {
        "DeliveryStreamName": name,
        "DeliveryStreamType": p.get("DeliveryStreamType", "DirectPut"),
    }
    for key in (
        "ExtendedS3DestinationConfiguration",
        "S3DestinationConfiguration",
        "DeliveryStreamEncryptionConfigurationInput",
    ):
        if key in p:
            kwargs[key] = p[key]
    arn = c.client("firehose").create_delivery_stream(**kwargs)["DeliveryStreamARN"]
    c.t.set_physical(lid, name, Arn=arn)


def _glue_database(c: _Context, lid: str, p: dict[str, Any]) -> None:
    c.client("glue").create_database(DatabaseInput=p["DatabaseInput"])
    c.t.set_physical(lid, p["DatabaseInput"]["Name"])


def _glue_table(c: _Context, lid: str, p: dict[str, Any]) -> None:
    c.client("glue").create_table(DatabaseName=p["DatabaseName"], TableInput=p["TableInput"])
    c.t.set_physical(lid, p["TableInput"]["Name"])


def _athena_workgroup(c: _Context, lid: str, p: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {"Name": p["Name"]}
    if p.get("Description"):
        kwargs["Description"] = p["Description"]
    if p.get("WorkGroupConfiguration"):
        config = dict(p["WorkGroupConfiguration"])
        config.pop("AdditionalConfiguration", None)
        kwargs["Configuration"] = config
    c.client("athena").create_work_group(**kwargs)
    c.t.set_physical(lid, p["Name"])


def _dynamodb_table(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("TableName") or c.t.generated_name(lid, 255)
    ddb = c.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": p["AttributeDefinitions"],
        "KeySchema": p["KeySchema"],
        "BillingMode": p.get("BillingMode", "PROVISIONED"),
    }
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = p.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
        if p.get(key):
            kwargs[key] = p[key]
    table = ddb.create_table(**kwargs)["TableDescription"]
    ttl = p.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
        )
    c.t.set_physical(lid, name, Arn=table["TableArn"], StreamArn=table.get("LatestStreamArn", ""))


def _code_dir(c: _Context, lid: str) -> Path:
    """The function's code: the staged asset in cdk.out, what `cdk deploy` would upload (the handlers with the
    contract beside them). A template without it cannot run here: the repository's `lambdas/` alone is not what
    Lambda would run."""
    asset = c.t.resources[lid].get("Metadata", {}).get("aws:asset:path")
    path = (c.template_path.parent / asset).resolve() if asset else None
    if path is None or not path.is_dir():
        raise ProvisionError(
            f"the function's code asset is not staged next to the template ({asset or 'no aws:asset:path'}): "
            "synthesize with asset metadata (`aws:cdk:enable-asset-metadata`), as `local.provision.synthesize` does"
        )
    return path


def image_assets(template_path: Path) -> dict[str, Path]:
    """Image tag -> staged build context of each Docker image asset (`<stack>.assets.json` beside the template):
    the image's `/opt/program` as its Dockerfile lays it out (`container/` and `contract/`)."""
    manifest = template_path.with_name(template_path.name.replace(".template.json", ".assets.json"))
    if not manifest.is_file():
        return {}
    images: dict[str, Path] = {}
    for image in json.loads(manifest.read_text()).get("dockerImages", {}).values():
        directory = template_path.parent / image["source"]["directory"]
        for destination in image.get("destinations", {}).values():
            images[str(destination["imageTag"])] = directory.resolve()
    return images


def register_images(engine: Any, template_path: Path) -> None:
    """Tell the SageMaker engine (when there is one) what each of the template's images holds."""
    if engine is not None and hasattr(engine, "register_image"):
        for tag, directory in image_assets(template_path).items():
            engine.register_image(tag, directory)


def _lambda_function(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("FunctionName") or c.t.generated_name(lid, 64)
    arn = c.arn("lambda", f"function:{name}")
    code_dir = _code_dir(c, lid)
    env = {k: str(v) for k, v in ((p.get("Environment") or {}).get("Variables") or {}).items()}
    if "DELIVERY_LAG_SECONDS" in env:  # the template's lag is for its 60 s Firehose buffers; the gateway's are shorter
        env["DELIVERY_LAG_SECONDS"] = str(c.gateway.delivery_lag_seconds)
    log_group = (p.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}"
    # Lambda gives the handler its role's temporary credentials; the gateway maps this key back to the role.
    credentials = c.gateway.iam.credentials_for(str(p["Role"]), name) if hasattr(c.gateway, "iam") else {}
    spec = FunctionSpec(
        name=name,
        arn=arn,
        handler=p.get("Handler", "index.handler"),
        code_dir=code_dir,
        environment={**env, **credentials},
        timeout=float(p.get("Timeout", 3)),
        memory_mb=int(p.get("MemorySize", 128)),
        log_group=log_group,
    )
    c.gateway.lambdas.register(spec)
    # Also registered in moto so list-functions / get-function show it; Invoke is answered by the gateway.
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("README.txt", f"local runtime: code is {code_dir}\n")
    c.client("lambda").create_function(
        FunctionName=name,
        Runtime=p.get("Runtime", "python3.12"),
        Role=p["Role"],
        Handler=spec.handler,
        Code={"ZipFile": zipped.getvalue()},
        Description=p.get("Description", ""),
        Timeout=int(spec.timeout),
        MemorySize=spec.memory_mb,
        Environment={"Variables": env},
    )
    c.stack.functions[name] = spec
    c.t.set_physical(lid, name, Arn=arn)


def _lambda_event_invoke_config(c: _Context, lid: str, p: dict[str, Any]) -> None:
    destination = ((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    c.gateway.lambdas.update_async_config(
        p["FunctionName"],
        int(p.get("MaximumRetryAttempts", 2)),
        destination,
        float(p.get("MaximumEventAgeInSeconds", 21600)),
    )
    c.t.set_physical(lid, f"{p['FunctionName']}:{p.get('Qualifier', '$LATEST')}")


def _sqs_queue(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("QueueName") or c.t.generated_name(lid, 80)
    attrs = {
        k: str(v).lower() if isinstance(v, bool) else (json.dumps(v) if isinstance(v, dict) else str(v))
        for k, v in p.items()
        if k not in ("QueueName", "Tags", "SqsManagedSseEnabled")
    }
    url = c.client("sqs").create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    c.t.set_physical(lid, url, Arn=c.arn("sqs", name), QueueName=name, QueueUrl=url)


def _sqs_queue_policy(c: _Context, lid: str, p: dict[str, Any]) -> None:
    for url in p.get("Queues") or []:
        c.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])})
    c.t.set_physical(lid, f"{lid}-policy")


def _state_machine(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("StateMachineName") or c.t.generated_name(lid, 80)
    if "DefinitionString" in p:
        definition = p["DefinitionString"]
    elif "Definition" in p:
        definition = json.dumps(p["Definition"])
    else:
        raise ProvisionError(f"{lid}: DefinitionS3Location is not supported locally")
    for key, value in (p.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    json.loads(definition)  # a broken substitution fails here, naming the state machine
    arn = c.client("stepfunctions").create_state_machine(
        name=name, definition=definition, roleArn=p["RoleArn"], type=p.get("StateMachineType", "STANDARD")
    )["stateMachineArn"]
    c.t.set_physical(lid, arn, Arn=arn, Name=name)


def _events_rule(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("Name") or c.t.generated_name(lid, 64)
    events = c.client("events")
    kwargs: dict[str, Any] = {"Name": name, "State": p.get("State", "ENABLED")}
    if p.get("EventPattern"):
        kwargs["EventPattern"] = json.dumps(p["EventPattern"])
    if p.get("ScheduleExpression"):
        kwargs["ScheduleExpression"] = p["ScheduleExpression"]
    if p.get("Description"):
        kwargs["Description"] = p["Description"]
    if p.get("EventBusName"):
        kwargs["EventBusName"] = p["EventBusName"]
    arn = events.put_rule(**kwargs)["RuleArn"]
    targets = []
    for target in p.get("Targets") or []:
        keep = {
            k: target[k]
            for k in (
                "Id",
                "Arn",
                "RoleArn",
                "Input",
                "InputPath",
                "InputTransformer",
                "RetryPolicy",
                "DeadLetterConfig",
                "SqsParameters",
            )
            if k in target
        }
        targets.append(keep)
    if targets:
        extra = {"EventBusName": p["EventBusName"]} if p.get("EventBusName") else {}
        events.put_targets(Rule=name, Targets=targets, **extra)
    c.t.set_physical(lid, name, Arn=arn)


_ALARM_KEYS = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)


def _cloudwatch_alarm(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("AlarmName") or c.t.generated_name(lid, 255)
    kwargs = {k: p[k] for k in _ALARM_KEYS if k in p}
    kwargs["AlarmName"] = name
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if key in kwargs:
            kwargs[key] = int(kwargs[key])
    if "Threshold" in kwargs:
        kwargs["Threshold"] = float(kwargs["Threshold"])
    c.client("cloudwatch").put_metric_alarm(**kwargs)
    c.t.set_physical(lid, name, Arn=c.arn("cloudwatch", f"alarm:{name}"))


def _cloudwatch_dashboard(c: _Context, lid: str, p: dict[str, Any]) -> None:
    name = p.get("DashboardName") or c.t.generated_name(lid, 255)
    body = p["DashboardBody"]
    c.client("cloudwatch").put_dashboard(
        DashboardName=name, DashboardBody=body if isinstance(body, str) else json.dumps(body)
    )
    c.t.set_physical(lid, name)


PROVISIONERS: dict[str, Provisioner] = {
    "AWS::S3::Bucket": _s3_bucket,
    "AWS::S3::BucketPolicy": _s3_bucket_policy,
    "AWS::IAM::Role": _iam_role,
    "AWS::IAM::Policy": _iam_policy,
    "AWS::IAM::ManagedPolicy": _iam_managed_policy,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::Logs::LogStream": _log_stream,
    "AWS::KinesisFirehose::DeliveryStream": _firehose,
    "AWS::Glue::Database": _glue_database,
    "AWS::Glue::Table": _glue_table,
    "AWS::Athena::WorkGroup": _athena_workgroup,
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::Lambda::Function": _lambda_function,
    "AWS::Lambda::EventInvokeConfig": _lambda_event_invoke_config,
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::SQS::QueuePolicy": _sqs_queue_policy,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Events::Rule": _events_rule,
    "AWS::CloudWatch::Alarm": _cloudwatch_alarm,
    "AWS::CloudWatch::Dashboard": _cloudwatch_dashboard,
}

NOT_EMULATED: dict[str, str] = fidelity.not_emulated_types(set(PROVISIONERS))
"""Resource types the local runtime knowingly does not create, with the reason: the fidelity table's resource types
without a provisioner (local/fidelity.py is the one list)."""


def uncovered_types(raw: dict[str, Any]) -> set[str]:
    """Resource types of a template that are neither provisioned nor named as not emulated."""
    types = {r["Type"] for r in raw.get("Resources", {}).values()}
    return {t for t in types if t not in PROVISIONERS and t not in NOT_EMULATED and not t.startswith("Custom::")}


def provision(gateway: Any, template_path: Path, stack_name: str | None = None, region: str | None = None) -> Stack:
    """Create the template's resources in the gateway; the provisioned `Stack` (also written to state_dir)."""
    raw = json.loads(Path(template_path).read_text())
    missing = uncovered_types(raw)
    custom = sorted({r["Type"] for r in raw.get("Resources", {}).values() if r["Type"].startswith("Custom::")})
    if missing or custom:
        raise ProvisionError(
            "the template has resource types the local runtime neither provisions nor names as not emulated: "
            + ", ".join(sorted(missing | set(custom)))
        )
    name = stack_name or raw.get("Metadata", {}).get("StackName") or "local-stack"
    template = Template(raw, name, DEFAULT_ACCOUNT_ID, region or local_environment()["AWS_DEFAULT_REGION"])
    stack = Stack(name=name, template_path=Path(template_path))
    ctx = _Context(gateway, template, Path(template_path), stack)
    for lid in template.creation_order():
        resource = raw["Resources"][lid]
        rtype = resource["Type"]
        stack.types[lid] = rtype
        if rtype in NOT_EMULATED:
            stack.skipped[lid] = f"{rtype}: {NOT_EMULATED[rtype]}"
            template.set_physical(lid, f"{lid}-not-emulated", Arn=f"arn:aws:local:::{lid}")
            stack.physical[lid] = f"(not emulated) {NOT_EMULATED[rtype]}"
            continue
        try:
            props = template.resolve(resource.get("Properties", {}))
            PROVISIONERS[rtype](ctx, lid, props)
        except (TemplateError, ProvisionError) as err:
            raise ProvisionError(f"{lid} ({rtype}): {err}") from err
        except Exception as err:
            raise ProvisionError(f"{lid} ({rtype}): {type(err).__name__}: {err}") from err
        stack.physical[lid] = template.physical[lid].ref
    if hasattr(gateway, "iam"):
        from local.iam.authorizer import trusts
        from local.iam.catalog import from_template

        catalog = from_template(template)
        for function, role in catalog.function_roles.items():
            if gateway.iam.enforce and not trusts(catalog, role, "lambda.amazonaws.com"):  # CreateFunction's error
                raise ProvisionError(f"{function}: The role defined for the function cannot be assumed by Lambda.")
        gateway.iam.load(catalog)
    register_images(getattr(gateway, "sagemaker", None), Path(template_path))
    for key, output in raw.get("Outputs", {}).items():
        stack.outputs[key] = str(template.resolve(output["Value"]))
    state_dir = Path(getattr(gateway, "state_dir", REPO_ROOT / "local" / ".state"))
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "stack.json").write_text(json.dumps(stack.to_json(), indent=2))
    return stack
