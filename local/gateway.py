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
other credentials are an administrator's (`local.gateway_auth`). S3's AccessDenied is rendered as S3's XML error. Events
for Lambda targets are delivered by `local.event_targets`.

Errors raised as `local.errors.AwsError` are rendered the way AWS's JSON protocols render them (status, body
`{"__type", "message"}`, header `x-amzn-ErrorType`), so boto3 raises `ClientError` with the same code.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
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
from local.event_targets import EventTargets
from local.faults import FaultConfigError, Faults
from local.firehose import DELIVERY_MARGIN_SECONDS, FirehoseBuffer
from local.gateway_auth import INVOKE, RUNTIME, RequestAuthorizer, request_body, signed_service
from local.iam import stepfunctions as iam_stepfunctions
from local.iam.authorizer import Authorizer
from local.lambdas import LambdaRuntime

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / "local" / ".state"


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
        self.faults = faults or Faults()
        self._dynamodb_lock = threading.Lock()
        self.iam = Authorizer(enforce=enforce_iam)
        """The template's IAM (`local.iam`): loaded by provisioning; requests signed with a role's key are checked."""
        self.auth = RequestAuthorizer(self.iam)
        self.targets = EventTargets(self.auth, self.faults)

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
            on_failure=self.targets.send_failed_invocation,
            faults=self.faults,
        )
        self.targets.lambdas = self.lambdas
        self.firehose = FirehoseBuffer(interval=self._firehose_seconds, faults=self.faults)
        events.install(self.targets.deliver)
        iam_stepfunctions.install(self.auth.state_machine_credentials)
        self.firehose.authorize_delivery = self.auth.authorize_delivery
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
        events.uninstall(self.targets.deliver)
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
            self.auth.authorize(environ, path, method, target)
            match = INVOKE.match(path)
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
            match = RUNTIME.match(path)
            if match and method == "POST" and signed_service(environ)[1] in ("sagemaker", ""):
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

    def _region(self, environ: dict[str, Any]) -> str:
        return signed_service(environ)[0] or local_environment(self.url)["AWS_DEFAULT_REGION"]

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
                    self.faults.configure(json.loads(request_body(environ) or b"{}"))
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
                "events_delivered": self.targets.delivered,
                "events_failed": self.targets.failed,
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
        body = request_body(environ)
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
        params = json.loads(request_body(environ) or b"{}")
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
        raw = request_body(environ)
        try:
            params = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as err:
            raise AwsError("SerializationException", f"request body is not JSON: {err}") from err
        result = engine.dispatch(operation, params)
        if service == "Athena" and operation == "StartQueryExecution" and isinstance(result, dict):
            self.auth.query_workgroups[str(result.get("QueryExecutionId"))] = str(params.get("WorkGroup") or "primary")
        body = json.dumps(result if result is not None else {}, default=_json_default).encode()
        return self._respond(start_response, 200, body, "application/x-amz-json-1.1")

    def _invoke_endpoint(self, environ: dict[str, Any], name: str, start_response: StartResponse) -> list[bytes]:
        engine = self._engine(self.sagemaker, "SageMaker")
        status, headers, body = engine.invoke_endpoint(
            name,
            request_body(environ),
            environ.get("CONTENT_TYPE", "application/json"),
            environ.get("HTTP_ACCEPT", "application/json"),
        )
        content_type = headers.pop("Content-Type", headers.pop("content-type", "application/json"))
        return self._respond(start_response, status, body, content_type, headers)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until buffered Firehose records are delivered and queued async Lambda invocations are done."""
        assert self.firehose is not None and self.lambdas is not None
        self.firehose.flush_all()
        time.sleep(0.05)
        return self.lambdas.wait_idle(timeout)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
