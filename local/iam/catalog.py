"""The template's IAM, resolved: each role's policies, the resource-based policies AWS applies, who runs as what.

Read from the provisioned `local.template.Template` (so `Ref`/`Fn::GetAtt` are the local physical names and ARNs):

- `AWS::IAM::Role` inline `Policies` and `ManagedPolicyArns` that name a managed policy of the stack;
- `AWS::IAM::Policy` / `AWS::IAM::ManagedPolicy` attached to roles by `Roles`;
- `AWS::S3::BucketPolicy` (bucket name -> document), `AWS::Lambda::Permission` (function ARN -> the statement
  Lambda builds from it, as `GetPolicy` shows it);
- `AWS::SQS::QueuePolicy` (queue name -> document);
- the functions' `Role`, the state machines' `RoleArn` and the Firehose streams' S3 destination `RoleARN`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.template import Template


@dataclass
class Catalog:
    account: str
    roles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """role ARN -> identity-based policy documents"""
    bucket_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    function_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    state_machine_roles: dict[str, str] = field(default_factory=dict)
    """state machine ARN -> role ARN"""
    delivery_roles: dict[str, str] = field(default_factory=dict)
    """delivery stream name -> role ARN (the S3 destination's RoleARN)"""
    queue_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """queue name -> `AWS::SQS::QueuePolicy` documents"""
    trust: dict[str, dict[str, Any]] = field(default_factory=dict)
    """role ARN -> its AssumeRolePolicyDocument (who may assume it)"""
    function_roles: dict[str, str] = field(default_factory=dict)
    """function ARN -> its execution role ARN (Lambda sends OnFailure destinations with it)"""

    def role_arn(self, name_or_arn: str) -> str:
        return name_or_arn if name_or_arn.startswith("arn:") else f"arn:aws:iam::{self.account}:role/{name_or_arn}"


def _lambda_permission_statement(props: dict[str, Any], account: str) -> dict[str, Any]:
    """The statement `AddPermission` puts in the function's policy (principal, action, SourceArn/SourceAccount)."""
    principal = str(props["Principal"])
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": principal} if principal.endswith(".amazonaws.com") else {"AWS": principal},
        "Action": props["Action"],
        "Resource": props["FunctionName"],
    }
    condition: dict[str, dict[str, str]] = {}
    if props.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": props["SourceArn"]}
    if props.get("SourceAccount"):
        condition["StringEquals"] = {"AWS:SourceAccount": props["SourceAccount"]}
    if condition:
        statement["Condition"] = condition
    return statement


def from_template(template: Any) -> Catalog:
    """The catalog of a provisioned template (`template.resolve` gives each resource's local properties)."""
    catalog = Catalog(account=template.account)
    resolved = {
        lid: (r["Type"], template.resolve(r.get("Properties", {})))
        for lid, r in template.resources.items()
        if r["Type"].startswith(("AWS::IAM::", "AWS::S3::BucketPolicy", "AWS::Lambda::Permission"))
        or r["Type"]
        in (
            "AWS::StepFunctions::StateMachine",
            "AWS::KinesisFirehose::DeliveryStream",
            "AWS::SQS::QueuePolicy",
            "AWS::Lambda::Function",
        )
    }
    managed: dict[str, dict[str, Any]] = {}
    for lid, (rtype, props) in resolved.items():
        if rtype == "AWS::IAM::ManagedPolicy":
            managed[str(template.physical[lid].ref)] = props["PolicyDocument"]
    for lid, (rtype, props) in resolved.items():
        if rtype == "AWS::IAM::Role":
            arn = str(template.physical[lid].attrs["Arn"])
            catalog.trust[arn] = props.get("AssumeRolePolicyDocument") or {}
            documents = catalog.roles.setdefault(arn, [])
            documents.extend(p["PolicyDocument"] for p in props.get("Policies") or [])
            documents.extend(managed[a] for a in props.get("ManagedPolicyArns") or [] if a in managed)
    for _lid, (rtype, props) in resolved.items():
        if rtype in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role in props.get("Roles") or []:
                catalog.roles.setdefault(catalog.role_arn(str(role)), []).append(props["PolicyDocument"])
        elif rtype == "AWS::S3::BucketPolicy":
            catalog.bucket_policies.setdefault(str(props["Bucket"]), []).append(props["PolicyDocument"])
        elif rtype == "AWS::Lambda::Permission":
            function = str(props["FunctionName"])
            if not function.startswith("arn:"):
                function = f"arn:aws:lambda:{template.region}:{template.account}:function:{function}"
                props = {**props, "FunctionName": function}
            statement = _lambda_permission_statement(props, template.account)
            catalog.function_policies.setdefault(function, []).append({"Statement": [statement]})
    for lid, (rtype, props) in resolved.items():
        if rtype == "AWS::StepFunctions::StateMachine":
            catalog.state_machine_roles[str(template.physical[lid].ref)] = str(props["RoleArn"])
        elif rtype == "AWS::SQS::QueuePolicy":
            for queue in props.get("Queues") or []:  # queue URLs; the name is the last path segment
                catalog.queue_policies.setdefault(str(queue).rstrip("/").rsplit("/", 1)[-1], []).append(
                    props["PolicyDocument"]
                )
        elif rtype == "AWS::Lambda::Function":
            catalog.function_roles[str(template.physical[lid].attrs["Arn"])] = str(props["Role"])
        elif rtype == "AWS::KinesisFirehose::DeliveryStream":
            destination = props.get("ExtendedS3DestinationConfiguration") or props.get("S3DestinationConfiguration")
            if destination and destination.get("RoleARN"):
                catalog.delivery_roles[str(template.physical[lid].ref)] = str(destination["RoleARN"])
    return catalog


_NAME_PROPERTY = {
    "AWS::IAM::Role": "RoleName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
}


def _arn(rtype: str, name: str, lid: str, region: str, account: str) -> str:
    return {
        "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{name}",
        "AWS::CloudWatch::Alarm": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
        "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
        "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
        "AWS::KinesisFirehose::DeliveryStream": f"arn:aws:firehose:{region}:{account}:deliverystream/{name}",
        "AWS::StepFunctions::StateMachine": f"arn:aws:states:{region}:{account}:stateMachine:{name}",
    }.get(rtype, f"arn:aws:local:{region}:{account}:{lid}")


def _get_atts(value: Any, found: set[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            lid, attr = target if isinstance(target, list) else target.split(".", 1)
            found.add((str(lid), str(attr)))
        for item in value.values():
            _get_atts(item, found)
    elif isinstance(value, list):
        for item in value:
            _get_atts(item, found)


def from_raw_template(
    raw: dict[str, Any], stack_name: str = "stack", account: str = "123456789012", region: str = "us-east-1"
) -> Catalog:
    """The catalog of a synthesized template without provisioning it (`named_template`). Lets a test or a check read
    what a template's roles may do without starting a gateway."""
    return from_template(named_template(raw, stack_name, account, region))


def named_template(
    raw: dict[str, Any], stack_name: str = "stack", account: str = "123456789012", region: str = "us-east-1"
) -> Template:
    """A synthesized template with names and ARNs as provisioning derives them (the name property when it is a
    literal, else `<stack>-<logical id>`), so `resolve` gives a function's environment as it would run."""
    from local.template import Template

    template = Template(raw, stack_name, account, region)
    used: set[tuple[str, str]] = set()
    _get_atts(raw.get("Resources", {}), used)
    for lid, resource in template.resources.items():
        rtype = resource["Type"]
        literal = (resource.get("Properties") or {}).get(_NAME_PROPERTY.get(rtype, ""))
        if isinstance(literal, str):
            name = literal
        else:
            name = template.generated_name(
                lid, 63 if rtype == "AWS::S3::Bucket" else 64, lower=rtype == "AWS::S3::Bucket"
            )
        arn = _arn(rtype, name, lid, region, account)
        ref = arn if rtype == "AWS::StepFunctions::StateMachine" else name
        attrs = {attr: arn if attr == "Arn" else f"{name}.{attr}" for target, attr in used if target == lid}
        attrs.setdefault("Arn", arn)
        template.set_physical(lid, ref, **attrs)
    return template
