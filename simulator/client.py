"""Decision clients: how an application asks the endpoint for actions.

What a SageMaker user's application does: the SageMaker Python SDK's `Predictor` with its JSON serializer and
deserializer (`SdkDecisionClient`, the simulator's default), or boto3's `sagemaker-runtime` `invoke_endpoint` with a
JSON body (`SageMakerDecisionClient`, `--client boto3`), which the SDK calls underneath. boto3 reads `AWS_ENDPOINT_URL`
/ `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` itself, so both talk to AWS and to the local gateway unchanged.
`HttpDecisionClient` POSTs straight to a `serve` process (benchmarks).
Several requests go as one `{"instances": [...]}` call, answered as `{"predictions": [...]}`.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from simulator.errors import DecisionError

MAX_BATCH = 1000  # the serve container's limit for `instances`
DEFAULT_ATTEMPTS = 4
CONTENT_TYPE = "application/json"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
RESPONSE_FIELDS = ("event_id", "action", "action_prob", "model_id")


class DecisionClient(Protocol):
    """Anything that turns request bodies into decisions, one answer per request, in order."""

    def decide(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def encode(requests: Sequence[dict[str, Any]]) -> bytes:
    """One request as itself, several as a batch."""
    if not requests:
        raise ValueError("no requests")
    if len(requests) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} requests per call")
    body: Any = requests[0] if len(requests) == 1 else {"instances": list(requests)}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def decode(payload: bytes | str, expected: int) -> list[dict[str, Any]]:
    """The answers of one call, checked for the contract's fields so a wrong endpoint fails loudly."""
    try:
        value = json.loads(payload)
    except ValueError:
        raise DecisionError(f"the endpoint answered non-JSON: {str(payload)[:200]!r}") from None
    return check(value, expected)


def check(value: Any, expected: int) -> list[dict[str, Any]]:
    """The decisions in a parsed answer (one, or `{"predictions": [...]}` for a batch), each with the contract's
    fields."""
    answers = value.get("predictions") if isinstance(value, dict) and expected > 1 else [value]
    if not isinstance(answers, list) or len(answers) != expected:
        raise DecisionError(f"expected {expected} decisions, got {str(value)[:200]!r}")
    for answer in answers:
        missing = [f for f in RESPONSE_FIELDS if not isinstance(answer, dict) or f not in answer]
        if missing:
            raise DecisionError(f"decision without {', '.join(missing)}: {str(answer)[:200]!r}")
    return answers


def with_retries(
    call: Callable[[], list[dict[str, Any]]],
    retryable: Callable[[Exception], bool],
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Run `call` up to `attempts` times with jittered exponential backoff while the failure is transient."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:
            if attempt >= attempts or not retryable(error):
                if isinstance(error, DecisionError):
                    raise
                raise DecisionError(f"decision request failed after {attempt} attempt(s): {error}") from error
            sleep(base_delay * 2 ** (attempt - 1) * (0.5 + random.random()))
    raise DecisionError("no attempt was made")  # only reachable with attempts < 1


class _HttpStatusError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300].decode('utf-8', 'replace')}")
        self.status = status


class SageMakerDecisionClient:
    """boto3 `sagemaker-runtime` InvokeEndpoint; botocore's standard retry mode handles throttling, we add the rest."""

    def __init__(self, endpoint_name: str, runtime: Any | None = None, attempts: int = DEFAULT_ATTEMPTS) -> None:
        if runtime is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"max_attempts": attempts, "mode": "standard"}, tcp_keepalive=True)
            runtime = boto3.client("sagemaker-runtime", config=config)
        self.runtime = runtime
        self.endpoint_name = endpoint_name
        self.attempts = attempts

    def _retryable(self, error: Exception) -> bool:
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

        if isinstance(error, (ConnectionError, HTTPClientError)):
            return True
        if isinstance(error, ClientError):
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            code = error.response.get("Error", {}).get("Code", "")
            # ModelError carries the container's own status: a 400 (bad request) is final, a 5xx is not
            original = error.response.get("OriginalStatusCode", status)
            return status in RETRYABLE_STATUS or original in RETRYABLE_STATUS or code in ("ThrottlingException",)
        return False

    def decide(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        body = encode(requests)

        def call() -> list[dict[str, Any]]:
            answer = self.runtime.invoke_endpoint(
                EndpointName=self.endpoint_name, Body=body, ContentType=CONTENT_TYPE, Accept=CONTENT_TYPE
            )
            return decode(answer["Body"].read(), len(requests))

        return with_retries(call, self._retryable, self.attempts)

    def close(self) -> None:
        self.runtime.close()


class HttpDecisionClient:
    """POST straight to a `serve` process's `/invocations` over one keep-alive connection (no AWS in the path)."""

    def __init__(self, url: str, attempts: int = DEFAULT_ATTEMPTS, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.scheme, self.host, self.port = parsed.scheme, parsed.hostname, parsed.port
        self.path = parsed.path if parsed.path not in ("", "/") else "/invocations"
        self.attempts = attempts
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            factory = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self._connection = factory(self.host, self.port, timeout=self.timeout)
        return self._connection

    @staticmethod
    def _retryable(error: Exception) -> bool:
        if isinstance(error, _HttpStatusError):
            return error.status in RETRYABLE_STATUS
        return isinstance(error, (OSError, http.client.HTTPException))

    def decide(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        body = encode(requests)

        def call() -> list[dict[str, Any]]:
            connection = self._connect()
            try:
                connection.request("POST", self.path, body, {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE})
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                self.close()  # a broken keep-alive connection is reopened on the next attempt
                raise
            if response.status != 200:
                raise _HttpStatusError(response.status, payload)
            return decode(payload, len(requests))

        return with_retries(call, self._retryable, self.attempts)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class SdkDecisionClient:
    """The SageMaker Python SDK's `Predictor` with its JSON serializer and deserializer: what an application built on
    the SDK calls. Under it is the same `sagemaker-runtime` client (and retry rules) as `SageMakerDecisionClient`, so
    `AWS_ENDPOINT_URL` points it at the local gateway as well as boto3."""

    def __init__(self, endpoint_name: str, runtime: Any | None = None, attempts: int = DEFAULT_ATTEMPTS) -> None:
        self._boto = SageMakerDecisionClient(endpoint_name, runtime=runtime, attempts=attempts)
        self.endpoint_name = endpoint_name
        self.attempts = attempts
        self.predictor = sdk_predictor(endpoint_name, self._boto.runtime)

    def decide(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        if not requests:
            raise ValueError("no requests")
        if len(requests) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} requests per call")
        data: Any = requests[0] if len(requests) == 1 else {"instances": list(requests)}
        return with_retries(
            lambda: check(self.predictor.predict(data), len(requests)), self._boto._retryable, self.attempts
        )

    def close(self) -> None:
        self._boto.close()


def sdk_predictor(endpoint_name: str, runtime: Any) -> Any:
    """`sagemaker.predictor.Predictor` (SDK v2) on `runtime`, JSON in and out.

    The v2 SDK announces on import that v3 exists; that notice is switched off with its own documented variable,
    and its config loader's INFO lines (no defaults file found) are not shown."""
    import logging
    import os

    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
    try:
        import boto3
        from sagemaker.deserializers import JSONDeserializer
        from sagemaker.predictor import Predictor
        from sagemaker.serializers import JSONSerializer
        from sagemaker.session import Session
    except ImportError:
        raise DecisionError(
            "the SageMaker Python SDK is not installed (pip install -r requirements-dev.txt); --client boto3 needs none"
        ) from None
    region = runtime.meta.region_name
    session = Session(boto_session=boto3.Session(region_name=region), sagemaker_runtime_client=runtime)
    return Predictor(
        endpoint_name, sagemaker_session=session, serializer=JSONSerializer(), deserializer=JSONDeserializer()
    )
