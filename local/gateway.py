"""The local AWS gateway: one threaded WSGI server on loopback in front of moto, plus what moto cannot run.

Routes (first match wins):

- `GET /_local/health`, `GET /_local/status`: the gateway itself (liveness; functions, async results, Firehose).
- `GET /_local/faults` (config and counts), `POST /_local/faults` (replace the config; `{}` = off): fault injection
  (`local.faults`), off unless a test or benchmark switches it on. `GET /_local/endpoints/{name}`: the serving
  processes of an endpoint (pids, ports, router counters) for tests that signal them.
- `POST /2015-03-31/functions/{name}/invocations` (Lambda `Invoke`): `local.lambdas.LambdaRuntime`, the handler
  from the asset in a warm worker process with the function's environment; `InvocationType=Event` is queued with
  Lambda's async retries and OnFailure destination.
- `X-Amz-Target: Firehose_20150804.PutRecord` / `.PutRecordBatch`: `local.firehose.FirehoseBuffer` (buffering in
  front of moto's S3 delivery).
- `X-Amz-Target: AmazonAthena.*`: `AthenaEngine.dispatch` (DuckDB) for query executions; work groups are moto's.
- `X-Amz-Target: SageMaker.*`: `SageMakerEngine.dispatch` (jobs as subprocesses, endpoints as `serve` processes).
- `POST /endpoints/{name}/invocations` signed for `sagemaker` (sagemaker-runtime `InvokeEndpoint`):
  `SageMakerEngine.invoke_endpoint`.
- everything else: moto's server application (`DomainDispatcherApplication`), mounted in this process.

moto's server app is mounted directly rather than behind a second socket (`ThreadedMotoServer` serves exactly this
app): one hop less, and moto's backends are the same objects in-process (the Firehose buffer, the EventBridge hook
and the engines' tests use them). `MOTO_PORT` is set to the gateway's port and Step Functions' `execute_state_machine`
is switched on, so moto's ASL interpreter runs executions for real and its Lambda tasks come back through this
gateway (`http://localhost:$MOTO_PORT`).

DynamoDB requests are serialized (one at a time): DynamoDB applies each request atomically, moto's backend does not
lock, and the trigger's conditional put on the run lock must let exactly one of several concurrent invocations win.

Before any of these, a request signed with credentials the IAM authorizer issued (a Lambda function's, a serving
container's, a Step Functions task's) is evaluated against that role's policies from the template (`local.iam`);
other credentials are an administrator's. S3's AccessDenied is rendered as S3's XML error.

Errors raised as `local.errors.AwsError` are rendered the way AWS's JSON protocols render them (status, body
`{"__type", "message"}`, header `x-amzn-ErrorType`), so boto3 raises `ClientError` with the same code.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local import events, sfn_events
from local.aws import local_environment
from local.engines.athena.operations import OPERATIONS as ATHENA_ENGINE_OPERATIONS
from local.errors import AwsError
from local.faults import FaultConfigError, Faults
from local.firehose import DELIVERY_MARGIN_SECONDS, FirehoseBuffer
from local.iam import athena as iam_athena
from local.iam import requests as iam_requests
from local.iam import stepfunctions as iam_stepfunctions
from local.iam.authorizer import Authorizer
from local.lambdas import LambdaRuntime

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / "local" / ".state"

_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_RUNTIME = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations/?$")
_SIGNED_SERVICE = re.compile(r"Credential=[^/]+/\d+/(?P<region>[^/]+)/(?P<service>[^/]+)/")
_ACCESS_KEY = re.compile(r"Credential=(?P<key>[^/]+)/")
EVENT_DELIVERY_DELAYS = (1.0, 2.0, 4.0)
"""Seconds between EventBridge's attempts to hand an event to a Lambda target that is not there (capped at 3)."""

StartResponse = Callable[..., Any]


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _Handler(MotoRequestHandler):
    """moto's request handler (keeps underscored S3 metadata headers); quiet unless LOCAL_GATEWAY_ACCESS_LOG is set."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if os.environ.get("LOCAL_GATEWAY_ACCESS_LOG"):
            super().log_request(code, size)


def _load_engine(kind: str, state_dir: Path, endpoint_url: str) -> Any:
    """One engine of `local/engines/` (another part of the runtime), constructed per the contract."""
    import importlib

    import local.engines as engines_pkg

    class_name = {"athena": "AthenaEngine", "sagemaker": "SageMakerEngine"}[kind]
    engine_cls = getattr(engines_pkg, class_name, None)
    if engine_cls is None:
        engine_cls = getattr(importlib.import_module(f"local.engines.{kind}"), class_name)
    work_dir = state_dir / kind
    work_dir.mkdir(parents=True, exist_ok=True)
    return engine_cls(state_dir=work_dir, endpoint_url=endpoint_url)


class Gateway:
    """Start with `start()`, stop with `close()`; `url` is the endpoint to give boto3 and the AWS CLI."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        state_dir: Path = DEFAULT_STATE_DIR,
        firehose_buffer_seconds: float = 1.0,
        engines: bool = True,
        lambda_concurrency: int = 4,
        faults: Faults | None = None,
        enforce_iam: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._want_engines = engines
        self._firehose_seconds = firehose_buffer_seconds
        self.delivery_lag_seconds = firehose_buffer_seconds + DELIVERY_MARGIN_SECONDS
        """What a record sent to Firehose here takes to land in S3: the Lambdas' `DELIVERY_LAG_SECONDS`."""
        self._lambda_concurrency = lambda_concurrency
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._moto = DomainDispatcherApplication(create_backend_app)
        self.athena: Any = None
        self.sagemaker: Any = None
        self.engine_errors: dict[str, str] = {}
        self.lambdas: LambdaRuntime | None = None
        self.firehose: FirehoseBuffer | None = None
        self.events_delivered = 0
        self.events_failed = 0
        self.faults = faults or Faults()
        self._dynamodb_lock = threading.Lock()
        self.iam = Authorizer(enforce=enforce_iam)
        """The template's IAM (`local.iam`): loaded by provisioning; requests signed with a role's key are checked."""
        self._query_workgroups: dict[str, str] = {}

    # Life cycle -----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Gateway:
        self._server = make_server(self.host, self.port, self.wsgi, threaded=True, request_handler=_Handler)
        self.port = self._server.server_port  # port 0 picks a free one (tests)
        os.environ["MOTO_PORT"] = str(self.port)
        # moto's interpreter compares a Wait state's UTC timestamp with the naive local clock: keep the two the same.
        os.environ["TZ"] = "UTC"
        time.tzset()
        if not os.environ.get("LOCAL_GATEWAY_DEBUG"):
            # moto's ASL interpreter logs every caught error (e.g. a Choice on a field that is absent, the way the
            # ASL tests optional input) at ERROR; the execution history already says what failed.
            logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        moto_api_backend.set_config({"stepfunctions": {"execute_state_machine": True}})
        env = local_environment(self.url)
        base_env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR") if k in os.environ}
        base_env.update(env)
        base_env.update(
            {
                "AWS_REGION": env["AWS_DEFAULT_REGION"],
                "POWERTOOLS_TRACE_DISABLED": "1",  # no X-Ray daemon here
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.lambdas = LambdaRuntime(
            self.state_dir / "logs" / "lambda",
            base_env,
            max_concurrency=self._lambda_concurrency,
            on_failure=self._send_failed_invocation,
            faults=self.faults,
        )
        self.firehose = FirehoseBuffer(interval=self._firehose_seconds, faults=self.faults)
        events.install(self._deliver_event)
        iam_stepfunctions.install(self._state_machine_credentials)
        self.firehose.authorize_delivery = self._authorize_delivery
        sfn_events.install()  # Step Functions status changes -> the default bus (reconcile's rule)
        if self._want_engines:
            for kind in ("athena", "sagemaker"):
                try:
                    engine = _load_engine(kind, self.state_dir, self.url)
                    if hasattr(engine, "faults"):
                        engine.faults = self.faults
                    if hasattr(engine, "iam"):
                        engine.iam = self.iam
                    setattr(self, kind, engine)
                except Exception as err:  # the gateway serves everything else; calls to it answer with the reason
                    self.engine_errors[kind] = f"{type(err).__name__}: {err}"
                    print(f"local gateway: {kind} engine unavailable ({self.engine_errors[kind]})", file=sys.stderr)
        self._thread = threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self.firehose is not None:
            self.firehose.close()
        events.uninstall(self._deliver_event)
        iam_stepfunctions.uninstall()
        sfn_events.uninstall()
        for engine in (self.sagemaker, self.athena):
            if engine is not None:
                try:
                    engine.close()
                except Exception as err:
                    print(f"local gateway: closing {type(engine).__name__} failed: {err}", file=sys.stderr)
        if self.lambdas is not None:
            self.lambdas.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # WSGI ----------------------------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        try:
            if path.startswith("/_local/"):
                return self._local_api(environ, path, start_response)
            self._authorize(environ, path, method, target)
            match = _INVOKE.match(path)
            if match and method == "POST":
                return self._lambda_invoke(environ, unquote(match.group("name")), start_response)
            if target.startswith("Firehose_20150804.PutRecord"):
                return self._firehose_put(environ, target, start_response)
            if target.startswith("AmazonAthena.") and self._engine_handles(
                self.athena, target, ATHENA_ENGINE_OPERATIONS
            ):
                return self._json_engine(self.athena, "Athena", environ, target, start_response)
            if target.startswith("SageMaker.") and self._engine_handles(self.sagemaker, target, None):
                return self._json_engine(self.sagemaker, "SageMaker", environ, target, start_response)
            match = _RUNTIME.match(path)
            if match and method == "POST" and self._signed_service(environ)[1] in ("sagemaker", ""):
                return self._invoke_endpoint(environ, unquote(match.group("name")), start_response)
            if target.startswith("DynamoDB_"):
                with self._dynamodb_lock:
                    return list(self._moto(environ, start_response))
        except AwsError as err:
            return self._error(err, start_response)
        except Exception as err:  # a bug in the gateway or an engine: a 500 the client can read, and a log line
            print(f"local gateway: {method} {path} {target}: {type(err).__name__}: {err}", file=sys.stderr)
            return self._error(AwsError("InternalFailure", f"{type(err).__name__}: {err}", 500), start_response)
        return self._moto(environ, start_response)

    @staticmethod
    def _body(environ: dict[str, Any]) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        return environ["wsgi.input"].read(length) if length else b""

    @staticmethod
    def _signed_service(environ: dict[str, Any]) -> tuple[str, str]:
        """(region, service) from the SigV4 Authorization header; empty strings when unsigned."""
        match = _SIGNED_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not match:
            return "", ""
        return match.group("region"), match.group("service")

    def _region(self, environ: dict[str, Any]) -> str:
        return self._signed_service(environ)[0] or local_environment(self.url)["AWS_DEFAULT_REGION"]

    @staticmethod
    def _respond(
        start_response: StartResponse, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> list[bytes]:
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ]
        headers.extend((extra or {}).items())
        start_response(f"{status} {_REASONS.get(status, 'Status')}", headers)
        return [body]

    def _error(self, err: AwsError, start_response: StartResponse) -> list[bytes]:
        if err.code == "AccessDenied":  # S3's REST-XML error
            message = _xml_escape(err.message)
            xml = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{err.code}</Code><Message>{message}</Message>"
            xml += "</Error>"
            return self._respond(start_response, err.status, xml.encode(), "application/xml")
        body = json.dumps({"__type": err.code, "message": err.message, "Message": err.message}).encode()
        return self._respond(
            start_response, err.status, body, "application/x-amz-json-1.1", {"x-amzn-ErrorType": err.code}
        )

    # Routes --------------------------------------------------------------------------------------------------

    def _local_api(self, environ: dict[str, Any], path: str, start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/_local/faults":
            if method == "POST":
                try:
                    self.faults.configure(json.loads(self._body(environ) or b"{}"))
                except (FaultConfigError, ValueError, TypeError) as err:
                    raise AwsError("ValidationException", f"fault configuration refused: {err}") from err
            body: dict[str, Any] = self.faults.snapshot()
        elif path.startswith("/_local/endpoints/"):
            name = unquote(path[len("/_local/endpoints/") :])
            engine = self._engine(self.sagemaker, "SageMaker")
            body = {"endpoint": name, "variants": engine.variant_processes(name)}
        elif path == "/_local/health":
            body = {"status": "ok", "url": self.url, "pid": os.getpid()}
        elif path == "/_local/status":
            assert self.lambdas is not None and self.firehose is not None
            body = {
                "url": self.url,
                "functions": self.lambdas.names(),
                "async_invocations": self.lambdas.async_results[-50:],
                "events_delivered": self.events_delivered,
                "events_failed": self.events_failed,
                "firehose_objects": self.firehose.objects_written,
                "firehose_records": self.firehose.records_delivered,
                "firehose_records_failed": self.firehose.records_failed,
                "iam": self.iam.snapshot(),
                "engines": {
                    k: self.engine_errors.get(k, "ok" if getattr(self, k) else "off") for k in ("athena", "sagemaker")
                },
            }
        else:
            raise AwsError("NotFound", f"no local API {path}", 404)
        if path == "/_local/status":
            body["faults"] = self.faults.snapshot()
        return self._respond(start_response, 200, json.dumps(body).encode(), "application/json")

    def _lambda_invoke(self, environ: dict[str, Any], name: str, start_response: StartResponse) -> list[bytes]:
        assert self.lambdas is not None
        body = self._body(environ)
        try:
            event = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError as err:
            raise AwsError("InvalidRequestContentException", f"Could not parse request body into json: {err}") from err
        invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        qualifier = parse_qs(environ.get("QUERY_STRING", "")).get("Qualifier", ["$LATEST"])[0]
        if qualifier not in ("$LATEST", "latest"):
            raise AwsError("ResourceNotFoundException", f"Function not found: {name}:{qualifier}", 404)
        if invocation_type == "DryRun":
            self.lambdas.pool(name)
            return self._respond(start_response, 204, b"", "application/json")
        if invocation_type == "Event":
            request_id = self.lambdas.invoke_async(name, event)
            return self._respond(start_response, 202, b"", "application/json", {"x-amzn-RequestId": request_id})
        if invocation_type != "RequestResponse":
            raise AwsError("InvalidParameterValueException", f"InvocationType {invocation_type} is not valid")
        result = self.lambdas.invoke(name, event)
        extra = {"X-Amz-Executed-Version": "$LATEST"}
        if result.error_type:
            extra["X-Amz-Function-Error"] = result.error_type
        return self._respond(start_response, 200, result.payload.encode(), "application/json", extra)

    def _firehose_put(self, environ: dict[str, Any], target: str, start_response: StartResponse) -> list[bytes]:
        assert self.firehose is not None
        params = json.loads(self._body(environ) or b"{}")
        stream = params.get("DeliveryStreamName", "")
        region = self._region(environ)
        if target.endswith("PutRecordBatch"):
            answer = self.firehose.put(region, stream, params.get("Records") or [])
        else:
            batch = self.firehose.put(region, stream, [params.get("Record") or {}])
            first = batch["RequestResponses"][0]
            if "ErrorCode" in first:  # a single record refused is the call failing
                raise AwsError(first["ErrorCode"], first.get("ErrorMessage", ""), 503)
            answer = {"RecordId": first["RecordId"], "Encrypted": False}
        return self._respond(start_response, 200, json.dumps(answer).encode(), "application/x-amz-json-1.1")

    @staticmethod
    def _engine_handles(engine: Any, target: str, default: frozenset[str] | None) -> bool:
        """Whether an operation goes to the engine: its `operations` set when it has one, else `default`
        (None: every operation). The rest (e.g. Athena work groups) is moto's."""
        operation = target.split(".", 1)[1]
        handled = getattr(engine, "operations", None) if engine is not None else None
        if handled is None:
            handled = default
        return handled is None or operation in handled

    def _engine(self, engine: Any, service: str) -> Any:
        if engine is None:
            reason = self.engine_errors.get(service.lower(), "the gateway was started without engines")
            raise AwsError("ServiceUnavailableException", f"local {service} engine unavailable: {reason}", 503)
        return engine

    def _json_engine(
        self, engine: Any, service: str, environ: dict[str, Any], target: str, start_response: StartResponse
    ) -> list[bytes]:
        engine = self._engine(engine, service)
        operation = target.split(".", 1)[1]
        raw = self._body(environ)
        try:
            params = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as err:
            raise AwsError("SerializationException", f"request body is not JSON: {err}") from err
        result = engine.dispatch(operation, params)
        if service == "Athena" and operation == "StartQueryExecution" and isinstance(result, dict):
            self._query_workgroups[str(result.get("QueryExecutionId"))] = str(params.get("WorkGroup") or "primary")
        body = json.dumps(result if result is not None else {}, default=_json_default).encode()
        return self._respond(start_response, 200, body, "application/x-amz-json-1.1")

    def _invoke_endpoint(self, environ: dict[str, Any], name: str, start_response: StartResponse) -> list[bytes]:
        engine = self._engine(self.sagemaker, "SageMaker")
        status, headers, body = engine.invoke_endpoint(
            name,
            self._body(environ),
            environ.get("CONTENT_TYPE", "application/json"),
            environ.get("HTTP_ACCEPT", "application/json"),
        )
        content_type = headers.pop("Content-Type", headers.pop("content-type", "application/json"))
        return self._respond(start_response, status, body, content_type, headers)

    # IAM ---------------------------------------------------------------------------------------------------------

    def _authorize(self, environ: dict[str, Any], path: str, method: str, target: str) -> None:
        """Evaluate a request signed with a role's credentials against that role's policies (`local.iam`).

        Requests with a key the authorizer did not issue (tests, the simulator, a person's CLI) are an
        administrator's and pass unchecked.
        """
        match = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
        identity = self.iam.identity(match.group("key")) if match else None
        if identity is None:
            return
        region, service = self._signed_service(environ)
        body = b""
        if service != "s3" and not _INVOKE.match(path) and environ.get("CONTENT_LENGTH"):
            # JSON and query-protocol calls name their resources in the body: read it, and hand the route a copy
            # (S3 and Invoke name theirs in the path, and an S3 body may be large or chunked: left unread)
            body = self._body(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        account = self.iam.catalog.account if self.iam.catalog else "123456789012"
        try:
            call = self._iam_call(environ, path, method, target, service, region, account, body)
            checks = iam_requests.checks(call)
            if call.service == "athena" and call.operation == "StartQueryExecution":
                checks += self._athena_query_checks(call)
        except iam_requests.UnmappedCall as err:
            raise AwsError(
                "AccessDeniedException",
                f"User: {identity.arn} is not authorized: the local runtime has no IAM mapping for {err} "
                "(local.iam.requests), so it refuses the call rather than pass it unchecked",
            ) from err
        self.iam.authorize(identity, checks, "AccessDenied" if service == "s3" else "AccessDeniedException")
        passed = iam_requests.PASSED_ROLE.get(call.operation) if service == "sagemaker" else None
        if passed and call.params.get(passed):
            self._require_assumable(str(call.params[passed]), account)
        if service == "s3" and call.operation == "GetObject" and not self._s3_object_exists(call):
            # "If the object you request doesn't exist, the error that Amazon S3 returns depends on whether you also
            # have the s3:ListBucket permission": 404 NoSuchKey with it, 403 AccessDenied without (GetObject, Amazon
            # S3 API Reference, https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
            bucket, key = str(call.params["Bucket"]), str(call.params["Key"])
            listing = iam_requests.Check("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": key})
            self.iam.authorize(identity, [listing], "AccessDenied")

    def _iam_call(
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
        invoke = _INVOKE.match(path)
        if invoke:
            params = {"FunctionName": unquote(invoke.group("name"))}
            return iam_requests.Call("lambda", "Invoke", params, region, account)
        runtime = _RUNTIME.match(path)
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
                params["_WorkGroup"] = self._query_workgroups.get(str(params["QueryExecutionId"]), "primary")
            return iam_requests.Call(service, operation, params, region, account)
        form = parse_qs(body.decode(errors="replace"))
        if "Action" in form:
            params = {k: v[0] for k, v in form.items()}
            return iam_requests.Call(service, form["Action"][0], params, region, account)
        raise iam_requests.UnmappedCall(f"{service} {method} {path}")

    @staticmethod
    def _s3_object_exists(call: iam_requests.Call) -> bool:
        """Whether moto holds the key (True when the bucket is missing: S3 answers NoSuchBucket either way)."""
        from moto.s3.models import s3_backends

        try:
            bucket = s3_backends[call.account]["aws"].get_bucket(str(call.params["Bucket"]))
        except Exception:
            return True
        return str(call.params["Key"]) in bucket.keys

    @staticmethod
    def _athena_query_checks(call: iam_requests.Call) -> list[iam_requests.Check]:
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

    def _require_assumable(self, role: str, account: str) -> None:
        """SageMaker refuses a role it cannot assume at once (ValidationException, the message SageMaker gives)."""
        if not self.iam.assumable(role, "sagemaker.amazonaws.com", {"aws:SourceAccount": account}):
            raise AwsError(
                "ValidationException",
                f"Could not assume role {role}. Please ensure that the role exists and allows principal "
                "'sagemaker.amazonaws.com' to assume the role.",
            )

    def _state_machine_credentials(self, state_machine_arn: str) -> dict[str, str] | None:
        """What a state machine's Lambda tasks sign with: its role's credentials (None if unknown)."""
        catalog = self.iam.catalog
        role = catalog.state_machine_roles.get(state_machine_arn) if catalog else None
        return self.iam.credentials_for(role, "StepFunctions") if role else None

    def _authorize_delivery(self, region: str, stream: str, key: str) -> None:
        """Firehose writes with the S3 destination's role: it must allow s3:PutObject on the object."""
        catalog = self.iam.catalog
        role = catalog.delivery_roles.get(stream) if catalog else None
        if role is None:
            return
        from local.iam.authorizer import Identity

        account = role.split(":")[4]
        if not self.iam.assumable(role, "firehose.amazonaws.com", {"sts:ExternalId": account}):
            raise AwsError(
                "AccessDenied", f"Firehose is unable to assume role {role}: its trust policy does not allow it"
            )
        put = iam_requests.Check("s3:PutObject", key)
        self.iam.authorize(Identity(role, "FirehoseDelivery"), [put], "AccessDenied")

    def _authorize_event_target(self, target: dict[str, Any]) -> None:
        """EventBridge invokes a Lambda target as `events.amazonaws.com`: the function's resource policy
        (`AWS::Lambda::Permission`, SourceArn = the rule) must allow it ("Using resource-based policies for Amazon
        EventBridge", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html)."""
        arn = str(target["Arn"])
        context = {"aws:SourceArn": str(target.get("_RuleArn", "")), "aws:SourceAccount": arn.split(":")[4]}
        self.iam.authorize_service("events.amazonaws.com", iam_requests.Check("lambda:InvokeFunction", arn, context))

    # EventBridge -> Lambda, OnFailure / DLQ -------------------------------------------------------------------

    def _deliver_event(self, target: dict[str, Any], event: dict[str, Any]) -> None:
        """A matched event for a Lambda target: hand it to Lambda's async queue; retry while the function is missing."""
        payload: Any = event
        if "Input" in target:
            payload = json.loads(target["Input"])
        elif "InputPath" in target:
            payload = _json_path(event, target["InputPath"])
        retry_policy = target.get("RetryPolicy") or {}
        attempts = 1 + min(int(retry_policy.get("MaximumRetryAttempts", 185)), len(EVENT_DELIVERY_DELAYS))
        for delay in self.faults.event_deliveries():  # one delivery unless duplicates / delays are injected
            if delay <= 0:
                self._attempt_delivery(target, payload, attempt=1, attempts=attempts)
                continue
            timer = threading.Timer(delay, self._attempt_delivery, (target, payload, 1, attempts))
            timer.daemon = True
            timer.start()

    def _attempt_delivery(self, target: dict[str, Any], payload: Any, attempt: int, attempts: int) -> None:
        assert self.lambdas is not None
        try:
            self._authorize_event_target(target)
            self.lambdas.invoke_async(target["Arn"], payload)
            self.events_delivered += 1
            return
        except AwsError as err:
            reason = err.message
        if attempt < attempts:
            timer = threading.Timer(
                EVENT_DELIVERY_DELAYS[attempt - 1], self._attempt_delivery, (target, payload, attempt + 1, attempts)
            )
            timer.daemon = True
            timer.start()
            return
        self.events_failed += 1
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        print(f"local events: {target['Arn']} unreachable after {attempt} attempts: {reason}", file=sys.stderr)
        if dlq:
            try:  # EventBridge sends to the dead-letter queue as itself: the queue's policy must allow it
                rule = str(target.get("_RuleArn", ""))
                context = {"aws:SourceArn": rule, "aws:SourceAccount": dlq.split(":")[4]}
                self.iam.authorize_service("events.amazonaws.com", iam_requests.Check("sqs:SendMessage", dlq, context))
            except AwsError as err:
                print(
                    f"local events: the event is lost, the dead-letter queue refused it: {err.message}", file=sys.stderr
                )
                return
            self._send_to_queue(dlq, json.dumps(payload))

    def _send_failed_invocation(self, queue_arn: str, body: str) -> None:
        """Lambda sends an OnFailure destination record with the function's execution role (sqs:SendMessage)."""
        function = str(json.loads(body).get("requestContext", {}).get("functionArn", "")).removesuffix(":$LATEST")
        catalog = self.iam.catalog
        role = catalog.function_roles.get(function) if catalog else None
        if role:
            from local.iam.authorizer import Identity

            name = function.rsplit(":", 1)[-1]
            self.iam.authorize(Identity(role, name), [iam_requests.Check("sqs:SendMessage", queue_arn)])
        self._send_to_queue(queue_arn, body)

    def _send_to_queue(self, queue_arn: str, body: str) -> None:
        """Send to an SQS queue (OnFailure destination, dead-letter queue) in moto's backend, in-process."""
        from moto.sqs.models import sqs_backends

        parts = queue_arn.split(":")
        region, account, name = parts[3], parts[4], parts[5]
        sqs_backends[account][region].send_message(queue_name=name, message_body=body)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until buffered Firehose records are delivered and queued async Lambda invocations are done."""
        assert self.firehose is not None and self.lambdas is not None
        self.firehose.flush_all()
        time.sleep(0.05)
        return self.lambdas.wait_idle(timeout)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _json_path(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.lstrip("$").strip(".").split("."):
        if part:
            value = value[part]
    return value


_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
