"""Lambda functions run locally: warm worker processes per function, synchronous and asynchronous invocation.

Each function gets a pool of execution environments (`lambda_worker.py` subprocesses running its handler module with
its environment). An invocation takes an idle worker or starts one (up to `max_concurrency`; beyond that it waits, as
reserved concurrency would throttle), sends the event over the worker's stdin and reads the answer from its stdout.
A worker that crashes or times out is discarded; the next invocation starts a fresh one.

Asynchronous invocations (`InvocationType=Event`, EventBridge targets) go through a queue with Lambda's retry
behaviour: `MaximumRetryAttempts` (default 2) from the function's `EventInvokeConfig`, then its `OnFailure`
destination (an SQS queue) receives Lambda's destination record.

Fault injection (`local.faults.Faults.lambda_failures`, off unless configured): a matching invocation carries a
`fault` to its worker, which raises `InjectedFault` inside the handler call (an ordinary handler error) or hangs,
so the pool cuts it off as `Sandbox.Timedout` after the rule's `timeout_seconds` and discards the worker.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.errors import AwsError
from local.faults import Faults

WORKER_SCRIPT = Path(__file__).resolve().parent / "lambda_worker.py"
MEMORY_POLL_SECONDS = 0.05
"""How often a running invocation's memory is read: a function over its `MemorySize` is killed, as Lambda does."""
ASYNC_RETRY_DELAYS = (1.0, 2.0, 4.0)
"""Seconds before the 1st, 2nd, 3rd retry of an async invocation (AWS waits about 1 and 2 minutes)."""


@dataclass
class FunctionSpec:
    """What Lambda needs to run a function: code, handler, environment, limits."""

    name: str
    arn: str
    handler: str
    code_dir: Path
    environment: dict[str, str] = field(default_factory=dict)
    timeout: float = 3.0
    memory_mb: int = 128
    log_group: str = ""
    max_retry_attempts: int = 2
    on_failure_arn: str | None = None
    max_event_age: float = 21600.0


@dataclass
class InvokeResult:
    """`payload` as JSON text; `error_type` set when the handler failed (Lambda's `X-Amz-Function-Error`)."""

    payload: str
    error_type: str | None = None
    request_id: str = ""
    duration_ms: float = 0.0


def _error_summary(result: InvokeResult) -> tuple[str, str]:
    """A failed invocation's error type and the start of its message (the cause, as the function's log has it)."""
    error = json.loads(result.payload)
    return str(error.get("errorType", "")), str(error.get("errorMessage", ""))[:500]


class OutOfMemory(Exception):
    """The execution environment used more than the function's `MemorySize` (its peak resident set)."""

    def __init__(self, used_bytes: int) -> None:
        super().__init__(used_bytes)
        self.used_bytes = used_bytes


def _memory_bytes(pid: int, field: str) -> int:
    """A process's `VmRSS` (now) or `VmHWM` (peak) from /proc in bytes; 0 where /proc does not have it."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class _Worker:
    """One execution environment: a subprocess with the handler module imported.

    Its memory is bounded as Lambda bounds a sandbox's: over `memory_mb` (resident set, Lambda's "Max Memory Used")
    the process is killed mid-invocation ("Runtime exited with error: signal: killed"). The peak (`VmHWM`) is read
    after each answer too, so an allocation that came and went between two polls is caught as well.
    """

    def __init__(self, spec: FunctionSpec, base_env: dict[str, str], log_file: Path) -> None:
        env = dict(base_env)
        env.update(spec.environment)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group or f"/aws/lambda/{spec.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{uuid.uuid4().hex}",
                "LAMBDA_TASK_ROOT": str(spec.code_dir),
                "_HANDLER": spec.handler,
            }
        )
        self.log = log_file.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-u", str(WORKER_SCRIPT), str(spec.code_dir), spec.handler, spec.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=str(spec.code_dir),
            env=env,
        )
        self._buffer = b""
        self.invocations = 0
        self.memory_limit = spec.memory_mb * 1024 * 1024

    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request; the answer, or raises TimeoutError / EOFError / OutOfMemory (the worker is then
        unusable)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.invocations += 1
        self.process.stdin.write((json.dumps(request) + "\n").encode())
        self.process.stdin.flush()
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], min(remaining, MEMORY_POLL_SECONDS))
            self._check_memory("VmRSS")
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise EOFError(f"exit code {self.process.wait()}")
            self._buffer += chunk
        self._check_memory("VmHWM")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def _check_memory(self, field: str) -> None:
        used = _memory_bytes(self.process.pid, field)
        if used > self.memory_limit:
            raise OutOfMemory(used)

    def stop(self, kill: bool = False) -> None:
        """End the process: EOF on stdin lets an idle worker exit; a hung one (timed out) is killed at once."""
        if self.alive() and kill:
            self.process.kill()
            self.process.wait()
        if self.alive():
            try:
                assert self.process.stdin is not None
                self.process.stdin.close()
                self.process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.log.close()


class FunctionPool:
    """The warm workers of one function."""

    def __init__(
        self,
        spec: FunctionSpec,
        base_env: dict[str, str],
        log_dir: Path,
        max_concurrency: int,
        faults: Faults | None = None,
    ) -> None:
        self.spec = spec
        self.faults = faults or Faults()
        self.base_env = base_env
        self.log_file = log_dir / f"{spec.name}.log"
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self.cold_starts = 0

    def _acquire(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                self._all.discard(worker)
                worker.stop()
            self.cold_starts += 1
        worker = _Worker(self.spec, self.base_env, self.log_file)
        with self._lock:
            self._all.add(worker)
        return worker

    def prewarm(self) -> None:
        """Start one execution environment now (it imports the handler while nothing waits for it)."""
        with self._lock:
            if self._all:
                return
            self.cold_starts += 1
        worker = _Worker(self.spec, self.base_env, self.log_file)
        with self._lock:
            self._all.add(worker)
            self._idle.append(worker)

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self._lock:
            if healthy and worker.alive():
                self._idle.append(worker)
                return
            self._all.discard(worker)
        worker.stop(kill=not healthy)

    def invoke(self, event: Any) -> InvokeResult:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        request = {
            "request_id": request_id,
            "event": event,
            "deadline": time.time() + self.spec.timeout,
            "invoked_function_arn": self.spec.arn,
        }
        timeout = self.spec.timeout
        fault = self.faults.lambda_fault(self.spec.name, event)
        if fault is not None:
            request["fault"] = {"kind": fault.kind, "hang_seconds": fault.timeout_seconds + 300}
            if fault.kind == "timeout":
                timeout = min(timeout, fault.timeout_seconds)
        with self._slots:
            worker = self._acquire()
            healthy = False
            try:
                answer = worker.call(request, timeout)
                healthy = True
            except TimeoutError:
                answer = {
                    "ok": False,
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
                }
            except OutOfMemory as err:
                answer = {
                    "ok": False,
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
                }
                report = (
                    f"REPORT RequestId: {request_id} Memory Size: {self.spec.memory_mb} MB "
                    f"Max Memory Used: {err.used_bytes >> 20} MB (killed: over the function's memory)\n"
                )
                worker.log.write(report.encode())
                worker.log.flush()
            except (EOFError, OSError, ValueError) as err:
                answer = {
                    "ok": False,
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited ({err})",
                }
            finally:
                self._release(worker, healthy)
        duration = (time.monotonic() - started) * 1000
        if answer.get("ok"):
            return InvokeResult(json.dumps(answer.get("result")), None, request_id, duration)
        error = {k: answer[k] for k in ("errorMessage", "errorType", "stackTrace") if k in answer}
        return InvokeResult(json.dumps(error), "Unhandled", request_id, duration)

    def close(self) -> None:
        with self._lock:
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
        for worker in workers:
            worker.stop()


class LambdaRuntime:
    """The functions of the stack by name and ARN; sync and async invocation."""

    def __init__(
        self,
        log_dir: Path,
        base_env: dict[str, str],
        max_concurrency: int = 4,
        async_workers: int = 4,
        on_failure: Any = None,
        faults: Faults | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.base_env = base_env
        self.max_concurrency = max_concurrency
        self.faults = faults or Faults()
        self._pools: dict[str, FunctionPool] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=async_workers, thread_name_prefix="lambda-async")
        self._timers: set[threading.Timer] = set()
        self._closed = False
        self._on_failure = on_failure  # callable(queue_arn, message_body) for OnFailure destinations
        self.async_results: list[dict[str, Any]] = []
        self._attempt_errors: dict[str, list[tuple[str, str]]] = {}
        self._pending = 0
        self._pending_cv = threading.Condition()

    def register(self, spec: FunctionSpec) -> None:
        with self._lock:
            old = self._pools.pop(spec.name, None)
            self._pools[spec.name] = FunctionPool(
                spec, self.base_env, self.log_dir, self.max_concurrency, faults=self.faults
            )
        if old is not None:
            old.close()

    def update_async_config(
        self, name: str, max_retry_attempts: int, on_failure_arn: str | None, max_age: float
    ) -> None:
        spec = self.pool(name).spec
        spec.max_retry_attempts = max_retry_attempts
        spec.on_failure_arn = on_failure_arn
        spec.max_event_age = max_age

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._pools)

    def pool(self, name_or_arn: str) -> FunctionPool:
        name = name_or_arn
        if name.startswith("arn:"):
            # arn:aws:lambda:region:account:function:NAME[:QUALIFIER]
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else name
        elif ":" in name:
            name = name.split(":")[0]
        with self._lock:
            pool = self._pools.get(name)
        if pool is None:
            raise AwsError("ResourceNotFoundException", f"Function not found: {name_or_arn}", 404)
        return pool

    def invoke(self, name_or_arn: str, event: Any) -> InvokeResult:
        return self.pool(name_or_arn).invoke(event)

    def prewarm(self) -> None:
        """One warm execution environment per function, started in parallel (the first run skips cold starts)."""
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.prewarm()

    # Asynchronous invocation -------------------------------------------------------------------------------------

    def invoke_async(self, name_or_arn: str, event: Any) -> str:
        """Queue an event (InvocationType=Event); raises ResourceNotFoundException at once for unknown functions."""
        pool = self.pool(name_or_arn)
        request_id = str(uuid.uuid4())
        with self._pending_cv:
            self._pending += 1
        self._submit(pool, event, request_id, attempt=0, first_seen=time.time())
        return request_id

    def _submit(self, pool: FunctionPool, event: Any, request_id: str, attempt: int, first_seen: float) -> None:
        if self._closed:
            self._done()
            return
        self._executor.submit(self._run_async, pool, event, request_id, attempt, first_seen)

    def _run_async(self, pool: FunctionPool, event: Any, request_id: str, attempt: int, first_seen: float) -> None:
        try:
            result = pool.invoke(event)
        except Exception as err:  # the pool itself failed (cannot start a process): count as a failed attempt
            result = InvokeResult(json.dumps({"errorMessage": str(err), "errorType": type(err).__name__}), "Unhandled")
        spec = pool.spec
        if result.error_type is None:
            self._record(spec.name, request_id, attempt, "Success", result)
            self._done()
            return
        too_old = time.time() - first_seen > spec.max_event_age
        if attempt < spec.max_retry_attempts and not too_old and not self._closed:
            with self._lock:
                self._attempt_errors.setdefault(request_id, []).append(_error_summary(result))
            delay = ASYNC_RETRY_DELAYS[min(attempt, len(ASYNC_RETRY_DELAYS) - 1)]
            timer = threading.Timer(delay, self._retry, (pool, event, request_id, attempt + 1, first_seen))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
            return
        self._record(spec.name, request_id, attempt, "RetriesExhausted", result)
        if spec.on_failure_arn and self._on_failure is not None:
            record = {
                "version": "1.0",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "requestContext": {
                    "requestId": request_id,
                    "functionArn": f"{spec.arn}:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": attempt + 1,
                },
                "requestPayload": event,
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "responsePayload": json.loads(result.payload),
            }
            try:
                self._on_failure(spec.on_failure_arn, json.dumps(record))
            except Exception as err:
                print(f"local lambda: OnFailure destination {spec.on_failure_arn} failed: {err}", file=sys.stderr)
        self._done()

    def _retry(self, pool: FunctionPool, event: Any, request_id: str, attempt: int, first_seen: float) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        self._submit(pool, event, request_id, attempt, first_seen)

    def _record(self, name: str, request_id: str, attempt: int, outcome: str, result: InvokeResult) -> None:
        entry: dict[str, Any] = {
            "function": name,
            "request_id": request_id,
            "attempts": attempt + 1,
            "outcome": outcome,
        }
        if result.error_type:
            entry["error"], entry["error_message"] = _error_summary(result)
        with self._lock:
            earlier = self._attempt_errors.pop(request_id, None)
            if earlier:
                entry["attempt_errors"] = earlier  # each failed attempt before the last: type and message
            self.async_results.append(entry)
            del self.async_results[:-1000]

    def _done(self) -> None:
        with self._pending_cv:
            self._pending -= 1
            self._pending_cv.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until no async invocation is queued, running or waiting for a retry."""
        deadline = time.monotonic() + timeout
        with self._pending_cv:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._pending_cv.wait(remaining)
        return True

    def close(self) -> None:
        self._closed = True
        with self._lock:
            timers = list(self._timers)
            pools = list(self._pools.values())
        for timer in timers:
            timer.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        for pool in pools:
            pool.close()
