"""What IAM authorizes for one API call: its action(s), resource ARN(s) and condition keys.

From the Service Authorization Reference ("Actions, resources, and condition keys for <service>",
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html):
the action is `<prefix>:<Operation>` for the services here, authorized on the resource the request names; some
calls need more than one action (`TransactWriteItems` is authorized per item; `CreateTrainingJob` and `CreateModel`
also need `iam:PassRole` on the role they pass, with `iam:PassedToService`; a request with `Tags` also needs
`sagemaker:AddTags`). A call this module does not know raises `UnmappedCall`, so a role's request is never passed
unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote


@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return self.action, self.resource, tuple(sorted((k, str(v)) for k, v in self.context.items()))


class UnmappedCall(Exception):
    """An API call whose IAM action or resource the local runtime does not know."""


@dataclass(frozen=True)
class Call:
    """One request as the gateway sees it."""

    service: str  # the SigV4 signing name: dynamodb, s3, states, sagemaker, athena, lambda, firehose, ...
    operation: str  # from X-Amz-Target, the form's Action, or the REST route
    params: dict[str, Any]
    region: str
    account: str


SAGEMAKER_RESOURCES = {
    "TrainingJob": ("training-job", "TrainingJobName"),
    "EndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "Endpoint": ("endpoint", "EndpointName"),
    "Model": ("model", "ModelName"),
}
"""SageMaker operation noun -> (ARN resource type, the parameter naming it). ARNs carry the name in lower case."""

PASSED_ROLE = {"CreateTrainingJob": "RoleArn", "CreateModel": "ExecutionRoleArn"}


def _sagemaker(call: Call) -> list[Check]:
    op = call.operation
    if op.startswith("List") or op == "Search":
        return [Check(f"sagemaker:{op}", "*")]
    for noun in sorted(SAGEMAKER_RESOURCES, key=len, reverse=True):
        if op.endswith(noun):
            kind, param = SAGEMAKER_RESOURCES[noun]
            name = str(call.params.get(param, ""))
            arn = f"arn:aws:sagemaker:{call.region}:{call.account}:{kind}/{name.lower()}"
            checks = [Check(f"sagemaker:{op}", arn)]
            if call.params.get("Tags"):
                checks.append(Check("sagemaker:AddTags", arn))
            if op in PASSED_ROLE and call.params.get(PASSED_ROLE[op]):
                checks.append(
                    Check(
                        "iam:PassRole",
                        str(call.params[PASSED_ROLE[op]]),
                        {"iam:PassedToService": "sagemaker.amazonaws.com"},
                    )
                )
            return checks
    if op in ("AddTags", "DeleteTags", "ListTags"):
        return [Check(f"sagemaker:{op}", str(call.params.get("ResourceArn", "*")))]
    raise UnmappedCall(f"sagemaker {op}")


def _dynamodb(call: Call) -> list[Check]:
    table = f"arn:aws:dynamodb:{call.region}:{call.account}:table/"
    op = call.operation
    if op in ("TransactWriteItems", "TransactGetItems"):
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        checks = []
        for item in call.params.get("TransactItems") or []:
            for kind, body in item.items():
                checks.append(Check(f"dynamodb:{kinds[kind]}", table + str(body.get("TableName", ""))))
        return checks
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [Check(f"dynamodb:{op}", table + name) for name in call.params.get("RequestItems") or {}]
    if op == "ListTables":
        return [Check("dynamodb:ListTables", "*")]
    if "TableName" in call.params:
        return [Check(f"dynamodb:{op}", table + str(call.params["TableName"]))]
    raise UnmappedCall(f"dynamodb {op}")


def _states(call: Call) -> list[Check]:
    for param in ("stateMachineArn", "executionArn"):
        if param in call.params:
            return [Check(f"states:{call.operation}", str(call.params[param]))]
    if call.operation.startswith("List"):
        return [Check(f"states:{call.operation}", "*")]
    raise UnmappedCall(f"states {call.operation}")


def _athena(call: Call) -> list[Check]:
    workgroup = str(call.params.get("WorkGroup") or call.params.get("_WorkGroup") or "primary")
    arn = f"arn:aws:athena:{call.region}:{call.account}:workgroup/{workgroup}"
    return [Check(f"athena:{call.operation}", arn)]


def _firehose(call: Call) -> list[Check]:
    name = str(call.params.get("DeliveryStreamName", ""))
    arn = f"arn:aws:firehose:{call.region}:{call.account}:deliverystream/{name}"
    return [Check(f"firehose:{call.operation}", arn)]


def _lambda(call: Call) -> list[Check]:
    name = str(call.params.get("FunctionName", ""))
    arn = name if name.startswith("arn:") else f"arn:aws:lambda:{call.region}:{call.account}:function:{name}"
    action = "lambda:InvokeFunction" if call.operation == "Invoke" else f"lambda:{call.operation}"
    return [Check(action, arn)]


def _cloudwatch(call: Call) -> list[Check]:
    op = call.operation
    if op == "PutMetricData":
        return [Check("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": call.params.get("Namespace", "")})]
    if op == "DescribeAlarms" and call.params.get("AlarmNames"):
        return [
            Check("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{call.region}:{call.account}:alarm:{name}")
            for name in call.params["AlarmNames"]
        ]
    return [Check(f"cloudwatch:{op}", "*")]


def _s3(call: Call) -> list[Check]:
    bucket = str(call.params.get("Bucket", ""))
    key = call.params.get("Key")
    op = call.operation
    if key is not None:
        checks = [Check(f"s3:{op}", f"arn:aws:s3:::{bucket}/{key}")]
        source = call.params.get("CopySource")
        if source:
            checks.append(Check("s3:GetObject", f"arn:aws:s3:::{unquote(str(source)).lstrip('/')}"))
        return checks
    if not bucket:
        return [Check(f"s3:{op}", "*")]
    context = {"s3:prefix": call.params["Prefix"]} if "Prefix" in call.params else {}
    return [Check(f"s3:{op}", f"arn:aws:s3:::{bucket}", context)]


MAPPERS = {
    "sagemaker": _sagemaker,
    "dynamodb": _dynamodb,
    "states": _states,
    "athena": _athena,
    "firehose": _firehose,
    "lambda": _lambda,
    "monitoring": _cloudwatch,
    "s3": _s3,
}
"""SigV4 signing name -> mapper. `monitoring` is CloudWatch's signing name."""

FREE_ACTIONS = {("sts", "GetCallerIdentity")}
"""Calls IAM does not authorize (GetCallerIdentity works even under an explicit deny)."""


def checks(call: Call) -> list[Check]:
    """The IAM checks one call needs; raises `UnmappedCall` for a call the local runtime cannot authorize."""
    if (call.service, call.operation) in FREE_ACTIONS:
        return []
    mapper = MAPPERS.get(call.service)
    if mapper is None:
        raise UnmappedCall(f"{call.service} {call.operation}")
    return mapper(call)


# Reading the wire -----------------------------------------------------------------------------------------------

_S3_BUCKET_QUERY = {
    "location": "GetBucketLocation",
    "policy": "GetBucketPolicy",
    "notification": "GetBucketNotification",
    "encryption": "GetEncryptionConfiguration",
    "uploads": "ListBucketMultipartUploads",
    "versioning": "GetBucketVersioning",
    "tagging": "GetBucketTagging",
    "lifecycle": "GetLifecycleConfiguration",
    "publicAccessBlock": "GetBucketPublicAccessBlock",
    "acl": "GetBucketAcl",
}


def s3_call(method: str, path: str, query: str, headers: dict[str, str], region: str, account: str) -> Call:
    """A path-style S3 REST request as a `Call` (the operation is the IAM action's name)."""
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    q = parse_qs(query, keep_blank_values=True)
    params: dict[str, Any] = {"Bucket": bucket}
    if not bucket:
        return Call("s3", "ListAllMyBuckets", {}, region, account)
    if key:
        params["Key"] = key
        if method in ("GET", "HEAD"):
            op = "GetObjectTagging" if "tagging" in q else "GetObject"
        elif method == "PUT":
            op = "PutObjectTagging" if "tagging" in q else "PutObject"
            if headers.get("x-amz-copy-source"):
                params["CopySource"] = headers["x-amz-copy-source"]
        elif method == "DELETE":
            op = "AbortMultipartUpload" if "uploadId" in q else "DeleteObject"
        elif method == "POST":
            op = "PutObject"
        else:
            raise UnmappedCall(f"s3 {method} object")
        if method == "GET" and "uploadId" in q:
            op = "ListMultipartUploadParts"
        return Call("s3", op, params, region, account)
    if method in ("GET", "HEAD"):
        for sub, op in _S3_BUCKET_QUERY.items():
            if sub in q:
                return Call("s3", op, params, region, account)
        if method == "GET" and "prefix" in q:
            params["Prefix"] = q["prefix"][0]
        return Call("s3", "ListBucket", params, region, account)
    if method == "POST" and "delete" in q:
        return Call("s3", "DeleteObject", {"Bucket": bucket, "Key": "*"}, region, account)
    raise UnmappedCall(f"s3 {method} bucket {sorted(q)}")
