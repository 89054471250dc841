"""IAM at the local gateway's door: a request signed with credentials the authorizer issued (a Lambda function's,
a serving container's, a Step Functions task's) is evaluated against that role's policies from the template
(`local.iam`); so are the calls services make with a role or as themselves (Firehose delivery, EventBridge targets,
SageMaker's PassRole). Other credentials are an administrator's and pass unchecked."""

from __future__ import annotations

import io
import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote

from local.errors import AwsError
from local.iam import athena as iam_athena
from local.iam import requests as iam_requests
from local.iam.authorizer import Authorizer, Identity

INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
"""Lambda `Invoke`'s path."""
RUNTIME = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations/?$")
"""sagemaker-runtime `InvokeEndpoint`'s path."""
_SIGNED_SERVICE = re.compile(r"Credential=[^/]+/\d+/(?P<region>[^/]+)/(?P<service>[^/]+)/")
ACCESS_KEY = re.compile(r"Credential=(?P<key>[^/]+)/")


def signed_service(environ: dict[str, Any]) -> tuple[str, str]:
    """(region, service) from the SigV4 Authorization header; empty strings when unsigned."""
    match = _SIGNED_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return "", ""
    return match.group("region"), match.group("service")


def request_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


class RequestAuthorizer:
    """The template's IAM applied to requests and to the calls services make on the pipeline's behalf."""

    def __init__(self, iam: Authorizer) -> None:
        self.iam = iam
        self.query_workgroups: dict[str, str] = {}
        """Each Athena query's work group (a later GetQueryResults is authorized against it)."""

    def authorize(self, environ: dict[str, Any], path: str, method: str, target: str) -> None:
        """Evaluate a request signed with a role's credentials against that role's policies (`local.iam`).

        Requests with a key the authorizer did not issue (tests, the simulator, a person's CLI) are an
        administrator's and pass unchecked.
        """
        match = ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
        identity = self.iam.identity(match.group("key")) if match else None
        if identity is None:
            return
        region, service = signed_service(environ)
        body = b""
        if service != "s3" and not INVOKE.match(path) and environ.get("CONTENT_LENGTH"):
            # JSON and query-protocol calls name their resources in the body: read it, and hand the route a copy
            # (S3 and Invoke name theirs in the path, and an S3 body may be large or chunked: left unread)
            body = request_body(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        account = self.iam.catalog.account if self.iam.catalog else "123456789012"
        try:
            call = self._call(environ, path, method, target, service, region, account, body)
            checks = iam_requests.checks(call)
            if call.service == "athena" and call.operation == "StartQueryExecution":
                checks += self.athena_query_checks(call)
        except iam_requests.UnmappedCall as err:
            raise AwsError(
                "AccessDeniedException",
                f"User: {identity.arn} is not authorized: the local runtime has no IAM mapping for {err} "
                "(local.iam.requests), so it refuses the call rather than pass it unchecked",
            ) from err
        self.iam.authorize(identity, checks, "AccessDenied" if service == "s3" else "AccessDeniedException")
        passed = iam_requests.PASSED_ROLE.get(call.operation) if service == "sagemaker" else None
        if passed and call.params.get(passed):
            self.require_assumable(str(call.params[passed]), account)
        if service == "s3" and call.operation == "GetObject" and not _s3_object_exists(call):
            # "If the object you request doesn't exist, the error that Amazon S3 returns depends on whether you also
            # have the s3:ListBucket permission": 404 NoSuchKey with it, 403 AccessDenied without (GetObject, Amazon
            # S3 API Reference, https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
            bucket, key = str(call.params["Bucket"]), str(call.params["Key"])
            listing = iam_requests.Check("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": key})
            self.iam.authorize(identity, [listing], "AccessDenied")

    def _call(
        self,
        environ: dict[str, Any],
        path: str,
        method: str,
        target: str,
        service: str,
        region: str,
        account: str,
        body: bytes,
    ) -> iam_requests.Call:
        invoke = INVOKE.match(path)
        if invoke:
            params = {"FunctionName": unquote(invoke.group("name"))}
            return iam_requests.Call("lambda", "Invoke", params, region, account)
        runtime = RUNTIME.match(path)
        if runtime and service == "sagemaker":
            params = {"EndpointName": unquote(runtime.group("name"))}
            return iam_requests.Call("sagemaker", "InvokeEndpoint", params, region, account)
        if service == "s3":
            headers = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
            return iam_requests.s3_call(method, path, environ.get("QUERY_STRING", ""), headers, region, account)
        if target:
            operation = target.split(".", 1)[-1]
            try:
                params = json.loads(body) if body.strip() else {}
            except json.JSONDecodeError:
                params = {}
            if service == "athena" and "QueryExecutionId" in params:
                params["_WorkGroup"] = self.query_workgroups.get(str(params["QueryExecutionId"]), "primary")
            return iam_requests.Call(service, operation, params, region, account)
        form = parse_qs(body.decode(errors="replace"))
        if "Action" in form:
            params = {k: v[0] for k, v in form.items()}
            return iam_requests.Call(service, form["Action"][0], params, region, account)
        raise iam_requests.UnmappedCall(f"{service} {method} {path}")

    @staticmethod
    def athena_query_checks(call: iam_requests.Call) -> list[iam_requests.Check]:
        """What Athena does with the caller's permissions for this query (`local.iam.athena`): the work group's
        result location and the Glue tables' locations come from moto, where provisioning put them."""
        from moto.athena.models import athena_backends
        from moto.glue.models import glue_backends

        params = call.params
        workgroup = str(params.get("WorkGroup") or "primary")
        database = str((params.get("QueryExecutionContext") or {}).get("Database") or "default")
        sql = str(params.get("QueryString") or "")
        group = athena_backends[call.account][call.region].work_groups.get(workgroup)
        configured = ((group.configuration if group else {}) or {}).get("ResultConfiguration") or {}
        output = (params.get("ResultConfiguration") or {}).get("OutputLocation") or configured.get("OutputLocation")
        locations: dict[tuple[str, str], str] = {}
        glue = glue_backends[call.account][call.region]
        for db, table in iam_athena.tables(sql, database):
            try:
                descriptor = glue.get_table(db, table).as_dict().get("StorageDescriptor") or {}
            except Exception:  # not in the catalog: the engine answers the query with its own error
                continue
            if descriptor.get("Location"):
                locations[(db, table)] = str(descriptor["Location"])
        return iam_athena.implied_checks(sql, database, workgroup, output, locations, call.region, call.account)

    def require_assumable(self, role: str, account: str) -> None:
        """SageMaker refuses a role it cannot assume at once (ValidationException, the message SageMaker gives)."""
        if not self.iam.assumable(role, "sagemaker.amazonaws.com", {"aws:SourceAccount": account}):
            raise AwsError(
                "ValidationException",
                f"Could not assume role {role}. Please ensure that the role exists and allows principal "
                "'sagemaker.amazonaws.com' to assume the role.",
            )

    def state_machine_credentials(self, state_machine_arn: str) -> dict[str, str] | None:
        """What a state machine's Lambda tasks sign with: its role's credentials (None if unknown)."""
        catalog = self.iam.catalog
        role = catalog.state_machine_roles.get(state_machine_arn) if catalog else None
        return self.iam.credentials_for(role, "StepFunctions") if role else None

    def authorize_delivery(self, region: str, stream: str, key: str) -> None:
        """Firehose writes with the S3 destination's role: it must allow s3:PutObject on the object."""
        catalog = self.iam.catalog
        role = catalog.delivery_roles.get(stream) if catalog else None
        if role is None:
            return
        account = role.split(":")[4]
        if not self.iam.assumable(role, "firehose.amazonaws.com", {"sts:ExternalId": account}):
            raise AwsError(
                "AccessDenied", f"Firehose is unable to assume role {role}: its trust policy does not allow it"
            )
        put = iam_requests.Check("s3:PutObject", key)
        self.iam.authorize(Identity(role, "FirehoseDelivery"), [put], "AccessDenied")

    def authorize_event_target(self, target: dict[str, Any]) -> None:
        """EventBridge invokes a Lambda target as `events.amazonaws.com`: the function's resource policy
        (`AWS::Lambda::Permission`, SourceArn = the rule) must allow it ("Using resource-based policies for Amazon
        EventBridge", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html)."""
        arn = str(target["Arn"])
        context = {"aws:SourceArn": str(target.get("_RuleArn", "")), "aws:SourceAccount": arn.split(":")[4]}
        self.iam.authorize_service("events.amazonaws.com", iam_requests.Check("lambda:InvokeFunction", arn, context))


def _s3_object_exists(call: iam_requests.Call) -> bool:
    """Whether moto holds the key (True when the bucket is missing: S3 answers NoSuchBucket either way)."""
    from moto.s3.models import s3_backends

    try:
        bucket = s3_backends[call.account]["aws"].get_bucket(str(call.params["Bucket"]))
    except Exception:
        return True
    return str(call.params["Key"]) in bucket.keys
