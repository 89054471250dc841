"""A Lambda execution environment: one process that imports one handler and answers invocations over a pipe.

Started by `local.lambdas.FunctionPool` as `python -u lambda_worker.py CODE_DIR MODULE.FUNCTION FUNCTION_NAME` with the
function's environment, cwd = CODE_DIR (Lambda's `/var/task`). Protocol: one JSON object per line on stdin
(`request_id`, `event`, `deadline` as epoch seconds, `invoked_function_arn`), one JSON object per line on the original
stdout (`ok` plus `result`, or `errorType`/`errorMessage`/`stackTrace`). The handler's own prints go to stderr, which
the pool writes to the function's log file, like Lambda sends them to CloudWatch Logs.

A request may carry `fault` (fault injection, `local.faults`): `{"kind": "error"}` raises `InjectedFault` where the
handler would run, `{"kind": "timeout", "hang_seconds": s}` sleeps instead of answering until the pool cuts it off.

Runs as a script, not as part of the `local` package, so only the Lambda asset is importable (as in Lambda).
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class InjectedFault(RuntimeError):
    """The error a fault-injection rule makes an invocation raise (`local.faults`)."""


def _inject(fault: dict[str, Any] | None) -> None:
    """Apply a fault the pool attached to the request: raise, or hang until the pool times the invocation out."""
    if not fault:
        return
    if fault.get("kind") == "timeout":
        time.sleep(float(fault.get("hang_seconds", 3600)))
    raise InjectedFault(f"injected {fault.get('kind', 'error')} fault (local fault injection)")


class LambdaContext:
    """The subset of Lambda's context object handlers and Powertools use."""

    def __init__(self, request_id: str, function_arn: str, deadline: float) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(err: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": error_type or type(err).__name__,
        "errorMessage": str(err),
        "stackTrace": traceback.format_exception(type(err), err, err.__traceback__)[-6:],
    }


class _LogStream:
    """The function's log (stderr), remembering the CloudWatch embedded-metric-format lines written to it."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.metrics: list[str] = []
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            if line.startswith('{"_aws"'):
                self.metrics.append(line)
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


_cloudwatch: Any = None


def _publish_metrics(lines: list[str]) -> None:
    """What CloudWatch does with EMF log lines: PutMetricData (to the gateway, never to AWS)."""
    global _cloudwatch
    if not lines or not os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("LOCAL_EMF_TO_CLOUDWATCH") == "0":
        return
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        try:
            doc = json.loads(line)
            meta = doc["_aws"]
            when = meta.get("Timestamp", time.time() * 1000) / 1000
            for directive in meta.get("CloudWatchMetrics", []):
                dimension_sets = directive.get("Dimensions") or [[]]
                for metric in directive.get("Metrics", []):
                    value = doc.get(metric["Name"])
                    values = value if isinstance(value, list) else [value]
                    for dims in dimension_sets:
                        datum: dict[str, Any] = {
                            "MetricName": metric["Name"],
                            "Dimensions": [{"Name": d, "Value": str(doc[d])} for d in dims if d in doc],
                            "Timestamp": when,
                            "Values": [float(v) for v in values if isinstance(v, (int, float))],
                        }
                        if metric.get("Unit"):
                            datum["Unit"] = metric["Unit"]
                        if datum["Values"]:
                            by_namespace.setdefault(directive["Namespace"], []).append(datum)
        except (ValueError, KeyError, TypeError) as err:
            print(f"local lambda: unreadable metric line ({err}): {line[:200]}", file=sys.stderr)
    try:
        if _cloudwatch is None:
            import boto3

            # CloudWatch Logs extracts the metrics, not the function's role: the runtime's own (administrator) key.
            _cloudwatch = boto3.client(
                "cloudwatch", aws_access_key_id="local", aws_secret_access_key="local", aws_session_token=None
            )
        for namespace, data in by_namespace.items():
            for start in range(0, len(data), 500):
                _cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 500])
    except Exception as err:  # metrics are best effort, as in Lambda: the invocation's answer stands
        print(f"local lambda: publishing {len(lines)} metric lines failed: {err}", file=sys.stderr)


def main() -> int:
    code_dir, handler_path = sys.argv[1], sys.argv[2]
    # Only the asset is importable, as in Lambda (the script's own directory is not).
    sys.path[0] = code_dir
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    log = _LogStream(sys.stderr)
    sys.stdout = log

    module_name, _, function_name = handler_path.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        init_error = None
    except Exception as err:  # an import error is the answer to every invocation (Runtime.ImportModuleError)
        handler = None
        init_error = _error(err, "Runtime.ImportModuleError")
        traceback.print_exc()

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if init_error is not None:
            answer = init_error
        else:
            context = LambdaContext(request["request_id"], request.get("invoked_function_arn", ""), request["deadline"])
            print(f"START RequestId: {context.aws_request_id}", file=sys.stderr, flush=True)
            try:
                _inject(request.get("fault"))
                result = handler(request["event"], context)
                answer = {"ok": True, "result": json.loads(json.dumps(result, default=_json_default))}
            except Exception as err:
                traceback.print_exc()
                answer = _error(err)
            print(f"END RequestId: {context.aws_request_id}", file=sys.stderr, flush=True)
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()
        metrics, log.metrics = log.metrics, []
        _publish_metrics(metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
