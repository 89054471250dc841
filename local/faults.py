"""Fault injection for the local runtime: explicit, off by default, switched on by a test or a benchmark.

One `Faults` object per gateway. It starts empty (no fault is ever injected unless a caller configures one), is
shared by the parts that inject (Firehose buffer, EventBridge delivery, Lambda runtime, SageMaker engine) and counts
every fault it injects. Configure it in process (`Gateway(faults=Faults(...))`, `gateway.faults.configure({...})`)
or over HTTP on a running gateway: `POST /_local/faults` with the JSON config (replaces the whole config; `{}`
switches everything off), `GET /_local/faults` answers the config and the counts (`injected`). The demo never
configures faults. Keys (all optional):

- `firehose_throttle_rate` (0..1): share of `PutRecord(Batch)` calls answered `ThrottlingException` (nothing queued).
- `firehose_partial_failure_rate` (0..1): share of the records of an accepted call answered with an `ErrorCode`
  (`ServiceUnavailableException`) and not queued (`FailedPutCount` > 0).
- `firehose_lost_response_rate` (0..1): share of calls whose records ARE queued but whose answer is a 500
  `InternalFailure`, as when a response is lost: the producer resends, S3 gets duplicates (dedup by `event_id`).
- `firehose_streams`: stream-name patterns (fnmatch) the Firehose faults apply to (default: all).
- `event_duplicates` (int): extra deliveries of every EventBridge event to a Lambda target (at-least-once).
- `event_delay_seconds` (float): each delivery (duplicates included) is delayed by a random 0..x s (out of order).
- `lambda_failures`: list of `{"function": pattern, "action": verb or null, "kind": "error" | "timeout",
  "times": N (0 = every time), "timeout_seconds": s}`: the matching invocation raises `InjectedFault` inside the
  handler's process, or hangs and is cut off as `Sandbox.Timedout` after `timeout_seconds` (default 1; shorter
  than the function's own timeout so tests need not wait a minute).
- `failing_jobs`: training-job name patterns: the job fails in its Training phase with
  `AlgorithmError: injected fault ...`.
- `job_timeouts`: `{pattern: seconds}`: the job hangs and is stopped after `seconds` as if
  `MaxRuntimeInSeconds` were reached (`Stopped`, `MaxRuntimeExceeded`).
- `unhealthy_models`: model patterns (matched against the Model's `MODEL_ID` environment, its name and its
  `ModelDataUrl`): the serving process gets a corrupted `vw.model` (deterministic junk bytes), so the real
  `serve` fails to load it and the variant fails its `/ping` health check.
- `erroring_models`: model patterns as above: the router answers every invocation of such a variant with a
  500-from-the-container `ModelError` (counted as the variant's 5xx), as a candidate raising errors would.
- `seed` (int): the random generator's seed (rates are drawn from it).
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

KNOWN_KEYS = frozenset(
    {
        "firehose_throttle_rate",
        "firehose_partial_failure_rate",
        "firehose_lost_response_rate",
        "firehose_streams",
        "event_duplicates",
        "event_delay_seconds",
        "lambda_failures",
        "failing_jobs",
        "job_timeouts",
        "unhealthy_models",
        "erroring_models",
        "seed",
    }
)
RATE_KEYS = ("firehose_throttle_rate", "firehose_partial_failure_rate", "firehose_lost_response_rate")
CORRUPT_MODEL_BYTES = b"local fault injection: this is not a VW model\n" * 4
"""What an unhealthy model's `vw.model` is replaced with (deterministic, so a failure reproduces)."""


class FaultConfigError(ValueError):
    """A fault configuration key or value the runtime does not understand (the whole config is refused)."""


@dataclass
class LambdaFault:
    """One Lambda failure rule: which invocations it hits and how they fail."""

    function: str
    kind: str = "error"
    action: str | None = None
    times: int = 1
    timeout_seconds: float = 1.0
    hits: int = 0

    def matches(self, function: str, event: Any) -> bool:
        if not fnmatch.fnmatchcase(function, self.function):
            return False
        if self.action is not None and not (isinstance(event, Mapping) and event.get("action") == self.action):
            return False
        return self.times == 0 or self.hits < self.times


def _rate(config: Mapping[str, Any], key: str) -> float:
    value = config.get(key, 0.0)
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise FaultConfigError(f"{key} must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise FaultConfigError(f"{key} must be between 0 and 1, got {rate}")
    return rate


def _patterns(config: Mapping[str, Any], key: str, default: Iterable[str] = ()) -> list[str]:
    value = config.get(key, list(default))
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise FaultConfigError(f"{key} must be a list of name patterns, got {value!r}")
    return list(value)


def _lambda_rules(value: Any) -> list[LambdaFault]:
    if not isinstance(value, list):
        raise FaultConfigError(f"lambda_failures must be a list of rules, got {value!r}")
    rules = []
    for raw in value:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("function"), str):
            raise FaultConfigError(f"a lambda_failures rule needs a 'function' pattern, got {raw!r}")
        unknown = set(raw) - {"function", "action", "kind", "times", "timeout_seconds"}
        if unknown:
            raise FaultConfigError(f"unknown lambda_failures keys: {sorted(unknown)}")
        kind = raw.get("kind", "error")
        if kind not in ("error", "timeout"):
            raise FaultConfigError(f"lambda_failures kind must be 'error' or 'timeout', got {kind!r}")
        rules.append(
            LambdaFault(
                function=raw["function"],
                action=raw.get("action"),
                kind=kind,
                times=int(raw.get("times", 1)),
                timeout_seconds=float(raw.get("timeout_seconds", 1.0)),
            )
        )
    return rules


class Faults:
    """The fault switches of one runtime and the count of each fault injected (thread-safe)."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._config: dict[str, Any] = {}
        self._random = random.Random(0)
        self._lambda_rules: list[LambdaFault] = []
        self.injected: dict[str, int] = {}
        self.configure(config or {})

    # Configuration ------------------------------------------------------------------------------------------

    def configure(self, config: Mapping[str, Any]) -> None:
        """Replace the whole configuration (validated first; `{}` switches every fault off). Counts are kept."""
        if not isinstance(config, Mapping):
            raise FaultConfigError(f"the fault configuration must be a JSON object, got {type(config).__name__}")
        unknown = set(config) - KNOWN_KEYS
        if unknown:
            raise FaultConfigError(f"unknown fault keys: {sorted(unknown)} (known: {sorted(KNOWN_KEYS)})")
        for key in RATE_KEYS:
            _rate(config, key)
        for key in ("firehose_streams", "failing_jobs", "unhealthy_models", "erroring_models"):
            _patterns(config, key)
        rules = _lambda_rules(config.get("lambda_failures", []))
        timeouts = config.get("job_timeouts", {})
        if not isinstance(timeouts, Mapping) or not all(float(v) > 0 for v in timeouts.values()):
            raise FaultConfigError(f"job_timeouts must map job-name patterns to seconds > 0, got {timeouts!r}")
        duplicates = int(config.get("event_duplicates", 0))
        delay = float(config.get("event_delay_seconds", 0.0))
        if duplicates < 0 or delay < 0:
            raise FaultConfigError("event_duplicates and event_delay_seconds must not be negative")
        with self._lock:
            self._config = dict(config)
            self._lambda_rules = rules
            self._random = random.Random(int(config.get("seed", 0)))

    @property
    def active(self) -> bool:
        """Whether any fault is switched on."""
        with self._lock:
            return any(k != "seed" and v for k, v in self._config.items())

    def snapshot(self) -> dict[str, Any]:
        """The configuration and the counts of injected faults (the `GET /_local/faults` answer)."""
        with self._lock:
            return {"config": dict(self._config), "injected": dict(self.injected), "active": self._active_locked()}

    def _active_locked(self) -> bool:
        return any(k != "seed" and v for k, v in self._config.items())

    def count(self, kind: str, n: int = 1) -> None:
        """Record `n` injected faults of `kind`."""
        if n <= 0:
            return
        with self._lock:
            self.injected[kind] = self.injected.get(kind, 0) + n

    def _roll(self, rate: float) -> bool:
        with self._lock:
            return rate > 0 and self._random.random() < rate

    # Firehose ----------------------------------------------------------------------------------------------

    def _stream_targeted(self, stream: str) -> bool:
        patterns = self._config.get("firehose_streams") or ["*"]
        return any(fnmatch.fnmatchcase(stream, p) for p in patterns)

    def firehose_throttled(self, stream: str) -> bool:
        """Whether this `PutRecord(Batch)` call is answered `ThrottlingException` (counted)."""
        if not self._stream_targeted(stream) or not self._roll(float(self._config.get("firehose_throttle_rate", 0))):
            return False
        self.count("firehose_throttle")
        return True

    def firehose_failed_records(self, stream: str, records: int) -> list[bool]:
        """Per record of an accepted call: True when it is refused with an `ErrorCode` (counted)."""
        rate = float(self._config.get("firehose_partial_failure_rate", 0)) if self._stream_targeted(stream) else 0.0
        if rate <= 0:
            return [False] * records
        failed = [self._roll(rate) for _ in range(records)]
        self.count("firehose_partial_failure_records", sum(failed))
        return failed

    def firehose_response_lost(self, stream: str) -> bool:
        """Whether the answer to a call whose records were queued is replaced by a 500 (counted)."""
        rate = float(self._config.get("firehose_lost_response_rate", 0))
        if not self._stream_targeted(stream) or not self._roll(rate):
            return False
        self.count("firehose_lost_response")
        return True

    # EventBridge -------------------------------------------------------------------------------------------

    def event_deliveries(self) -> list[float]:
        """Delays (seconds) of the deliveries of one event: one plus `event_duplicates`, each delayed 0..x s."""
        with self._lock:
            duplicates = int(self._config.get("event_duplicates", 0))
            delay = float(self._config.get("event_delay_seconds", 0.0))
            delays = [self._random.uniform(0, delay) if delay > 0 else 0.0 for _ in range(1 + duplicates)]
        self.count("event_duplicate", duplicates)
        self.count("event_delayed", sum(1 for d in delays if d > 0))
        return delays

    # Lambda ------------------------------------------------------------------------------------------------

    def lambda_fault(self, function: str, event: Any) -> LambdaFault | None:
        """The rule hitting this invocation, if any (its hit is counted and consumes one of its `times`)."""
        with self._lock:
            for rule in self._lambda_rules:
                if rule.matches(function, event):
                    rule.hits += 1
                    hit = rule
                    break
            else:
                return None
        self.count(f"lambda_{hit.kind}")
        return hit

    # SageMaker ---------------------------------------------------------------------------------------------

    def job_fault(self, job_name: str) -> tuple[str, float] | None:
        """('fail', 0) or ('timeout', seconds) for a training job matching `failing_jobs` / `job_timeouts`."""
        with self._lock:
            failing = list(self._config.get("failing_jobs", []))
            timeouts = dict(self._config.get("job_timeouts", {}))
        if any(fnmatch.fnmatchcase(job_name, p) for p in failing):
            self.count("job_failure")
            return ("fail", 0.0)
        for pattern, seconds in timeouts.items():
            if fnmatch.fnmatchcase(job_name, pattern):
                self.count("job_timeout")
                return ("timeout", float(seconds))
        return None

    def model_fault(self, names: Iterable[str]) -> str | None:
        """'unhealthy' or 'erroring' when any of a model's names (id, model name, data URL) matches; not counted
        here (the engine counts what it injects)."""
        names = [n for n in names if n]
        with self._lock:
            unhealthy = list(self._config.get("unhealthy_models", []))
            erroring = list(self._config.get("erroring_models", []))
        if any(fnmatch.fnmatchcase(n, p) for n in names for p in unhealthy):
            return "unhealthy"
        if any(fnmatch.fnmatchcase(n, p) for n in names for p in erroring):
            return "erroring"
        return None
