"""Faults, bad input and load lose nothing: fault injection through the real local runtime, and what must hold.

One runtime (`python -m local up --detach` on a free port, a temporary state dir) is driven through the AWS APIs
and the gateway's fault switches (`POST /_local/faults`, `local.faults`), in this order:

1. bootstrap (`{"bootstrap": true}`);
2. `events`: reward objects written to S3 in concurrent bursts while EventBridge delivers every event three times,
   each delivery delayed at random (out of order), and the trigger's first invocations fail (Lambda retries them);
   more rewards arrive while the run is in flight. Holds: one execution per threshold crossing, never two in
   flight, every object counted once (the runs' `reward_count`s plus the counter equal the records written);
3. `failures`: one threshold crossing per fault (training job fails; evaluation Lambda times out; in the full
   benchmark also evaluation job times out and deploy Lambda fails). Holds: execution FAILED, no deployment (the
   endpoint config and the serving model unchanged, no endpoint config created), the failure and its reason in the
   execution and the registry, the lock released;
4. `recovery`: the next crossing, with bad rewards mixed in (not JSON, no event id, non-numeric, NaN, infinite,
   unknown event id, duplicates, far too late), runs normally and promotes; while it deploys blue/green, a load
   runs against the endpoint with Firehose throttling, partial failures and lost responses on the decisions
   stream, and the blue fleet is drained and SIGTERMed by the deployment mid-load;
5. `rollback`: a trained candidate of a real run is made unhealthy (`unhealthy_models`: its `vw.model` is corrupted
   when the green fleet starts), under load: rolled back, the serving model and traffic unchanged, the rollback
   recorded; this run's join holds exactly the decisions served by the earlier load plus the logged ones (served
   == joined); in the full benchmark also a candidate raising errors during the canary and a green process
   SIGTERMed mid-canary;
6. every decision served (answered 200) is found in S3 under `decisions/` (dedup by `event_id`).

`python -m bench reliability` runs everything and writes `bench/results/reliability.json`; `tests/reliability/`
runs the same scenarios (a shorter list of failures) and asserts what must hold.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import free_port as _free_port
from bench.common import timestamp as _ts
from bench.common import write_result

REPO = Path(__file__).resolve().parents[1]
THRESHOLD = 200
SETTINGS: dict[str, Any] = {
    "retrain_threshold": THRESHOLD,
    "reward_wait_seconds": 1,
    "min_training_rows": 30,
    "poll_seconds": 1,
    "canary_wait_seconds": 3,
    "termination_wait_seconds": 1,
    "promotion_margin": 1.0,  # the gate always promotes: these runs are about faults, not the estimator
}
SERVING_FAULTS: dict[str, Any] = {
    "firehose_throttle_rate": 0.2,
    "firehose_partial_failure_rate": 0.1,
    "firehose_lost_response_rate": 0.1,
    "firehose_streams": ["*decisions*"],
    "seed": 11,
}
TRIGGER_FAULTS: dict[str, Any] = {
    "event_duplicates": 2,
    "event_delay_seconds": 1.5,
    "lambda_failures": [{"function": "*rigger*", "kind": "error", "times": 3}],
    "seed": 5,
}
RUN_ID_JOB = "*T??????"
"""Training-job (= model id = run id) names of triggered runs end in the window end `YYYYMMDDTHHMMSS`."""
FAILURES: dict[str, dict[str, Any]] = {
    "training_job_fails": {"failing_jobs": [RUN_ID_JOB]},
    "evaluation_lambda_times_out": {
        "lambda_failures": [
            {"function": "*valuate*", "action": "status", "kind": "timeout", "times": 1, "timeout_seconds": 1}
        ]
    },
    "evaluation_job_times_out": {"job_timeouts": {"*-eval": 2}},
    "deploy_lambda_fails": {"lambda_failures": [{"function": "*eploy*", "action": "start", "kind": "error"}]},
}
JOIN_COUNTS = ("rows", "malformed_rewards", "unmatched_rewards", "late_rewards")
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


# Pure pieces (tests/bench/test_bench_reliability.py) ---------------------------------------------------------


def event_ids(lines: Iterable[bytes | str]) -> tuple[list[str], int]:
    """The `event_id` of each JSON line (duplicates kept, in order) and the number of lines that had none."""
    ids: list[str] = []
    unreadable = 0
    for raw in lines:
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError:
            unreadable += 1
            continue
        if isinstance(value, dict) and isinstance(value.get("event_id"), str):
            ids.append(value["event_id"])
        else:
            unreadable += 1
    return ids, unreadable


def landing_report(served: Iterable[str], landed: Sequence[str]) -> dict[str, int]:
    """Served decisions against the `event_id`s of the decision lines in S3 (with their duplicates)."""
    served_set = set(served)
    copies = Counter(landed)
    found = served_set & set(copies)
    return {
        "records_served": len(served_set),
        "records_landed": len(found),
        "records_lost": len(served_set - found),
        "duplicate_lines": sum(n - 1 for event, n in copies.items() if event in served_set and n > 1),
        "landed_not_served": len(set(copies) - served_set),
    }


def overlapping(intervals: Sequence[tuple[float, float | None]]) -> int:
    """Pairs of executions whose [start, stop] overlap (a stop of None means still running)."""
    pairs = 0
    ordered = sorted(intervals, key=lambda i: i[0])
    for n, (_, stop) in enumerate(ordered):
        end = math.inf if stop is None else stop
        for other_start, _ in ordered[n + 1 :]:
            if other_start < end:
                pairs += 1
    return pairs


def iso(at: float) -> str:
    """The contract's timestamp (ISO-8601 UTC, milliseconds, `Z`)."""
    millis = round(at * 1000)
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


def bad_reward_lines(known: Sequence[tuple[str, float, float]], now: float, tag: str) -> dict[str, list[bytes]]:
    """Bad reward lines by kind. `known`: (event_id, event_time, reward) of decisions that also get a good reward,
    except the last `late` ones, which get only a reward far later than the wait (so their first reward is late).

    Kinds and how the join treats them (docs/reliability.md): `not_json`, `missing_event_id`, `non_numeric`,
    `nan`, `infinite` are malformed (counted, never joined); `unknown_event_id` is unmatched (counted);
    `duplicate` is a second, later reward for a decision (the first by `reward_time` is joined); `late` is
    counted as late and the decision gets the default reward."""
    t = iso(now)
    first, second = known[0][0], known[1][0]
    late = known[-3:]
    return {
        "not_json": [b"this is not json\n", b'{"event_id": "' + first.encode() + b'", "reward": 1\n'],
        "missing_event_id": [json.dumps({"reward": 1.0, "reward_time": t}).encode() + b"\n"],
        "non_numeric": [json.dumps({"event_id": second, "reward": "lots", "reward_time": t}).encode() + b"\n"],
        "nan": [b'{"event_id": "' + second.encode() + b'", "reward": NaN, "reward_time": "' + t.encode() + b'"}\n'],
        "infinite": [
            b'{"event_id": "' + second.encode() + b'", "reward": 1e400, "reward_time": "' + t.encode() + b'"}\n',
            b'{"event_id": "' + second.encode() + b'", "reward": -Infinity, "reward_time": "' + t.encode() + b'"}\n',
        ],
        "unknown_event_id": [
            json.dumps({"event_id": f"{tag}-unknown-{n}", "reward": 1.0, "reward_time": t}).encode() + b"\n"
            for n in range(3)
        ],
        "duplicate": [
            json.dumps({"event_id": event, "reward": 1.0 - reward, "reward_time": iso(at + 0.9)}).encode() + b"\n"
            for event, at, reward in known[2:5]
        ],
        "late": [
            json.dumps({"event_id": event, "reward": 1.0, "reward_time": iso(at + 3600)}).encode() + b"\n"
            for event, at, _ in late
        ],
    }


def garbage_reward_lines(tag: str, count: int, now: float) -> list[bytes]:
    """`count` lines sent to the rewards stream that are not reward records (docs/pipeline.md, "What the trigger
    counts"): none may count toward the threshold, so however many there are, no run starts on them."""
    t = iso(now)
    shapes = [
        lambda n: f"garbage {tag} {n}".encode(),
        lambda n: json.dumps({"note": f"{tag}-{n}"}).encode(),
        lambda n: json.dumps([tag, n]).encode(),
        lambda n: json.dumps({"event_id": n, "reward": 1.0, "reward_time": t}).encode(),
        lambda n: json.dumps({"event_id": f"{tag}-{n}", "reward": True, "reward_time": t}).encode(),
        lambda n: json.dumps({"event_id": f"{tag}-{n}", "reward": "high", "reward_time": t}).encode(),
        lambda n: json.dumps({"event_id": f"{tag}-{n}", "reward": 1.0}).encode(),
        lambda n: json.dumps({"event_id": f"{tag}-{n}", "reward": 1.0, "reward_time": "soon"}).encode(),
    ]
    return [shapes[n % len(shapes)](n) + b"\n" for n in range(count)]


def garbage_lines_malformed_for_the_join(count: int) -> int:
    """How many of `garbage_reward_lines(..., count, ...)` the join's count query reports as malformed rewards: all but
    the fourth shape, whose numeric `event_id` the string column reads as text (an unmatched reward to the join; the
    trigger, stricter, counts none of the lines)."""
    return sum(1 for n in range(count) if n % 8 != 3)


def expected_join_counts(bad: dict[str, list[bytes]]) -> dict[str, int]:
    """What the join's count query must report for `bad_reward_lines` (malformed, unmatched, late)."""
    malformed = sum(len(bad[k]) for k in ("not_json", "missing_event_id", "non_numeric", "nan", "infinite"))
    return {"malformed_rewards": malformed, "unmatched_rewards": len(bad["unknown_event_id"]), "late_rewards": 3}


def summarize(observations: dict[str, Any], injected: dict[str, int]) -> dict[str, Any]:
    """The benchmark's headline figures from the scenarios' observations."""
    serving = observations.get("serving") or {}
    runs = observations.get("failures") or {}
    rollbacks = observations.get("rollbacks") or {}
    events = observations.get("events") or {}
    garbage = observations.get("garbage_rewards") or {}
    return {
        "faults_injected": dict(sorted(injected.items())),
        "records_served": serving.get("records_served", 0),
        "records_landed": serving.get("records_landed", 0),
        "records_lost": serving.get("records_lost", 0),
        # runs started for no crossing, plus pairs of runs ever in flight together, over the whole session
        "duplicate_executions": events.get("duplicate_executions", 0)
        + (observations.get("executions") or {}).get("overlapping", 0),
        # lines that are not reward records must neither move the counter nor start a run
        "runs_started_by_garbage_rewards": garbage.get("runs_started", 0),
        "garbage_rewards_counted": garbage.get("counter_after", 0) - garbage.get("counter_before", 0),
        "runs_failed_cleanly": sum(1 for r in runs.values() if r.get("failed_cleanly")),
        "runs_failed": len(runs),
        "rollbacks": sum(1 for r in rollbacks.values() if r.get("rolled_back_cleanly")),
        "rollbacks_attempted": len(rollbacks),
        "decisions_per_s_under_faults": serving.get("decisions_per_s"),
    }


# The runtime -----------------------------------------------------------------------------------------------


class Runtime:
    """A runtime started with `python -m local up --detach` on a free port; stopped with `python -m local down`."""

    def __init__(self, state_dir: Path, settings: dict[str, Any] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.settings = dict(settings or SETTINGS)
        self.port = _free_port()
        self.url = ""
        self.outputs: dict[str, str] = {}
        self._clients: dict[str, Any] = {}

    def start(self, timeout: float = 300.0) -> Runtime:
        argv = [sys.executable, "-m", "local", "up", "--detach", "--port", str(self.port)]
        argv += ["--state-dir", str(self.state_dir), "--settings", json.dumps(self.settings), "--timeout", "240"]
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            log = self.state_dir / "gateway.log"
            tail = log.read_text()[-3000:] if log.is_file() else ""
            raise RuntimeError(f"local up failed ({proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-2000:]}{tail}")
        info = json.loads((self.state_dir / "endpoint.json").read_text())
        self.url, self.outputs = info["url"], info["outputs"]
        return self

    def stop(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "local", "down", "--state-dir", str(self.state_dir)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def client(self, service: str) -> Any:
        """A shared boto3 client (thread-safe for calls); `new_client` for one per thread."""
        if service not in self._clients:
            self._clients[service] = self.new_client(service)
        return self._clients[service]

    def new_client(self, service: str, attempts: int = 3) -> Any:
        import boto3
        from botocore.config import Config

        from local.aws import local_environment

        env = local_environment(self.url)
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            config=Config(
                retries={"max_attempts": attempts, "mode": "standard"},
                connect_timeout=5,
                read_timeout=120,
                max_pool_connections=20,
            ),
        )

    @property
    def experiment_id(self) -> str:
        return self.outputs["EndpointName"].removesuffix("-policy")

    def _local(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def set_faults(self, config: dict[str, Any]) -> dict[str, Any]:
        """Replace the runtime's fault configuration (`{}` switches every fault off)."""
        return self._local("/_local/faults", config)

    def faults(self) -> dict[str, Any]:
        return self._local("/_local/faults")

    def status(self) -> dict[str, Any]:
        return self._local("/_local/status")

    def processes(self) -> list[dict[str, Any]]:
        return self._local(f"/_local/endpoints/{self.outputs['EndpointName']}")["variants"]

    def item(self, table_output: str, key: dict[str, str]) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeDeserializer

        raw = self.client("dynamodb").get_item(
            TableName=self.outputs[table_output], Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True
        )
        return {k: TypeDeserializer().deserialize(v) for k, v in raw.get("Item", {}).items()}

    def counter(self) -> int:
        return int(self.item("StateTableName", {"pk": f"{self.experiment_id}#counter"}).get("count", 0))

    def lock(self) -> dict[str, Any]:
        return self.item("StateTableName", {"pk": f"{self.experiment_id}#lock"})

    def experiment(self) -> dict[str, Any]:
        return self.item("ExperimentsTableName", {"experiment_id": self.experiment_id})

    def endpoint(self) -> dict[str, Any]:
        return self.client("sagemaker").describe_endpoint(EndpointName=self.outputs["EndpointName"])

    def endpoint_configs(self) -> int:
        return len(self.client("sagemaker").list_endpoint_configs(MaxResults=100)["EndpointConfigs"])

    def executions(self) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"stateMachineArn": self.outputs["StateMachineArn"], "maxResults": 100}
        while True:
            page = sfn.list_executions(**kwargs)
            found.extend(page["executions"])
            if not page.get("nextToken"):
                return found
            kwargs["nextToken"] = page["nextToken"]

    def wait_execution(self, arn: str, timeout: float = 240.0) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described = sfn.describe_execution(executionArn=arn)
            if described["status"] in TERMINAL or time.monotonic() > deadline:
                return described
            time.sleep(0.3)

    def new_execution(self, known: set[str], timeout: float = 60.0) -> dict[str, Any] | None:
        """The first execution whose name is not in `known` (polled)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fresh = [e for e in self.executions() if e["name"] not in known]
            if fresh:
                return sorted(fresh, key=lambda e: _ts(e["startDate"]))[0]
            time.sleep(0.3)
        return None

    def put_lines(self, stream_output: str, lines: Sequence[bytes]) -> None:
        """PutRecordBatch (500 a call), resending refused records (the producer's side of at-least-once)."""
        firehose = self.client("firehose")
        for start in range(0, len(lines), 500):
            pending = list(lines[start : start + 500])
            for _ in range(10):
                answer = firehose.put_record_batch(
                    DeliveryStreamName=self.outputs[stream_output], Records=[{"Data": line} for line in pending]
                )
                if not answer.get("FailedPutCount"):
                    break
                pending = [p for p, r in zip(pending, answer["RequestResponses"], strict=True) if r.get("ErrorCode")]
                time.sleep(0.2)

    def wait_delivered(self, before: int, count: int, timeout: float = 30.0) -> bool:
        """Until Firehose delivered `count` more records than `before` (the gateway's counter)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status()["firehose_records"] >= before + count:
                return True
            time.sleep(0.2)
        return False

    def s3_lines(self, prefix: str) -> list[bytes]:
        s3, bucket = self.client("s3"), self.outputs["BucketName"]
        lines: list[bytes] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                if body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                lines.extend(line for line in body.splitlines() if line.strip())
        return lines


# Load ------------------------------------------------------------------------------------------------------


class Load(threading.Thread):
    """Threads invoking the endpoint through the gateway (batches of `batch` requests, no client retries): what was
    served (answered 200, by event_id and model_id) and every error by HTTP status and code."""

    def __init__(self, runtime: Runtime, threads: int = 3, batch: int = 5, seed: int = 1) -> None:
        super().__init__(name="load", daemon=True)
        from simulator import build_scenario
        from simulator.scenarios import take

        self.runtime = runtime
        self.threads = threads
        self.batch = batch
        pool = [i.request() for i in take(build_scenario("synthetic", seed=seed).interactions(200), 200)]
        self.bodies = [pool[n : n + batch] for n in range(0, len(pool) - batch, batch)]
        self.served: list[str] = []
        self.models: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.server_errors = 0
        self.stop_event = threading.Event()
        self.started_at = 0.0
        self.stopped_at = 0.0
        self._lock = threading.Lock()

    def _worker(self, index: int) -> None:
        from botocore.exceptions import ClientError

        from simulator.client import decode, encode

        client = self.runtime.new_client("sagemaker-runtime", attempts=1)
        n = index
        while not self.stop_event.is_set():
            requests = self.bodies[n % len(self.bodies)]
            n += self.threads
            try:
                answer = client.invoke_endpoint(
                    EndpointName=self.runtime.outputs["EndpointName"],
                    Body=encode(requests),
                    ContentType="application/json",
                    Accept="application/json",
                )
                decisions = decode(answer["Body"].read(), len(requests))
            except ClientError as err:
                status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                with self._lock:
                    self.errors[f"{status} {err.response.get('Error', {}).get('Code', '')}"] += 1
                    self.server_errors += status >= 500
                time.sleep(0.05)
                continue
            except Exception as err:  # connection trouble: counted, never a served decision
                with self._lock:
                    self.errors[type(err).__name__] += 1
                time.sleep(0.05)
                continue
            with self._lock:
                self.served.extend(d["event_id"] for d in decisions)
                self.models.update(d["model_id"] for d in decisions)

    def run(self) -> None:
        self.started_at = time.monotonic()
        workers = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self.stopped_at = time.monotonic()

    def finish(self) -> dict[str, Any]:
        self.stop_event.set()
        self.join(timeout=60)
        seconds = max(1e-9, self.stopped_at - self.started_at)
        return {
            "decisions": len(self.served),
            "seconds": round(seconds, 2),
            "decisions_per_s": round(len(self.served) / seconds, 1),
            "models": dict(self.models),
            "errors": dict(self.errors),
            "server_errors": self.server_errors,
        }


# Scenarios -------------------------------------------------------------------------------------------------


@dataclass
class Session:
    """What the scenarios share: the runtime, every decision event id served by a load, the known executions."""

    runtime: Runtime
    served: list[str] = field(default_factory=list)
    known_executions: set[str] = field(default_factory=set)
    observations: dict[str, Any] = field(default_factory=dict)
    seed: int = 100

    def next_seed(self) -> int:
        self.seed += 1
        return self.seed


def bootstrap(session: Session) -> dict[str, Any]:
    rt = session.runtime
    started = time.monotonic()
    boot = rt.client("stepfunctions").start_execution(
        stateMachineArn=rt.outputs["StateMachineArn"], name="bootstrap-1", input=json.dumps({"bootstrap": True})
    )
    described = rt.wait_execution(boot["executionArn"], 240)
    session.known_executions.add("bootstrap-1")
    return {"status": described["status"], "seconds": round(time.monotonic() - started, 1)}


def _reward_object(rt: Runtime, tag: str, lines: int) -> bytes:
    now = time.time()
    key = time.strftime("rewards/%Y/%m/%d/%H/", time.gmtime(now)) + f"{tag}-{uuid.uuid4().hex}"
    body = b"".join(
        json.dumps({"event_id": f"{tag}-{uuid.uuid4().hex}", "reward": 1.0, "reward_time": iso(now)}).encode() + b"\n"
        for _ in range(lines)
    )
    rt.client("s3").put_object(Bucket=rt.outputs["BucketName"], Key=key, Body=body)
    return body


def _burst(rt: Runtime, tag: str, objects: int, lines: int) -> int:
    with concurrent.futures.ThreadPoolExecutor(max_workers=objects) as pool:
        list(pool.map(lambda n: _reward_object(rt, f"{tag}{n}", lines), range(objects)))
    return objects * lines


def _wait_counter(rt: Runtime, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    value = rt.counter()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.3)
        value = rt.counter()
    return value


def scenario_events(session: Session) -> dict[str, Any]:
    """Duplicated, delayed (out-of-order) and concurrent trigger invocations; rewards during a run."""
    rt = session.runtime
    counter_before = rt.counter()
    rt.set_faults(TRIGGER_FAULTS)
    written = _burst(rt, "burst-a", objects=12, lines=20)  # 240 records: one crossing
    first = rt.new_execution(session.known_executions, timeout=60)
    if first is None:
        rt.set_faults({})
        return {"error": "no execution after the first burst"}
    session.known_executions.add(first["name"])
    written += _burst(rt, "burst-b", objects=6, lines=20)  # during the run: counts toward the next
    in_flight_at_b = rt.client("stepfunctions").describe_execution(executionArn=first["executionArn"])["status"]
    first_done = rt.wait_execution(first["executionArn"])
    reward_1 = int(json.loads(first_done["input"])["reward_count"])
    after_first = _wait_counter(rt, counter_before + written - reward_1, timeout=30)
    extra = [e for e in rt.executions() if e["name"] not in session.known_executions]
    written += _burst(rt, "burst-c", objects=1, lines=100)  # the next object starts the next run
    second = rt.new_execution(session.known_executions, timeout=60)
    reward_2 = 0
    second_done: dict[str, Any] = {}
    if second is not None:
        session.known_executions.add(second["name"])
        second_done = rt.wait_execution(second["executionArn"])
        reward_2 = int(json.loads(second_done["input"])["reward_count"])
    counter_after = _wait_counter(rt, counter_before + written - reward_1 - reward_2, timeout=30)
    time.sleep(2.0)  # late duplicate deliveries (up to event_delay_seconds + retries) must not start another run
    triggered = [e for e in rt.executions() if e["name"] != "bootstrap-1"]
    late = [e for e in triggered if e["name"] not in session.known_executions]
    session.known_executions.update(e["name"] for e in late)
    injected = rt.set_faults({})["injected"]
    intervals = [(_ts(e["startDate"]), _ts(e["stopDate"]) if e.get("stopDate") else None) for e in triggered]
    return {
        "records_written": written,
        "reward_counts": [reward_1, reward_2],
        "counter_before": counter_before,
        "counter_after_first_run": after_first,
        "counter_after": rt.counter(),
        "counter_expected": counter_before + written - reward_1 - reward_2,
        "counted_records_lost_or_doubled": counter_before + written - reward_1 - reward_2 - counter_after,
        "first_run_status_while_second_burst": in_flight_at_b,
        "executions_started": 1 + (second is not None) + len(extra) + len(late),
        "expected_executions": 2,
        "duplicate_executions": len(extra) + len(late),
        "overlapping_executions": overlapping(intervals),
        "run_outcomes": [first_done["status"], second_done.get("status")],
        "lock_after": rt.lock(),
        "trigger_faults": {k: v for k, v in injected.items() if k.startswith(("event", "lambda"))},
    }


def scenario_garbage_rewards(session: Session, timeout: float = 30.0) -> dict[str, Any]:
    """Twice the threshold of lines that are not reward records, sent to the rewards stream: the trigger counts
    each object (its idempotency table gains a record per object) but adds nothing, and no run starts."""
    rt = session.runtime
    table = rt.outputs["IdempotencyTableName"]
    dynamodb = rt.client("dynamodb")
    objects_before = dynamodb.scan(TableName=table, Select="COUNT")["Count"]
    counter_before = rt.counter()
    lines = garbage_reward_lines("garbage", 2 * THRESHOLD, time.time())
    delivered_before = rt.status()["firehose_records"]
    rt.put_lines("RewardsStreamName", lines)
    delivered = rt.wait_delivered(delivered_before, len(lines), timeout)
    deadline = time.monotonic() + timeout
    objects_after = objects_before
    while objects_after == objects_before and time.monotonic() < deadline:
        time.sleep(0.5)
        objects_after = dynamodb.scan(TableName=table, Select="COUNT")["Count"]
    time.sleep(2.0)  # a run started on the count would appear within the trigger's own latency
    started = [e for e in rt.executions() if e["name"] not in session.known_executions]
    session.known_executions.update(e["name"] for e in started)
    return {
        "garbage_lines_sent": len(lines),
        "malformed_for_the_join": garbage_lines_malformed_for_the_join(len(lines)),
        "delivered": delivered,
        "objects_counted": objects_after - objects_before,
        "counter_before": counter_before,
        "counter_after": rt.counter(),
        "runs_started": len(started),
    }


def _logged(rt: Runtime, count: int, seed: int, tag: str) -> tuple[list[bytes], list[bytes], list[tuple]]:
    """`count` logged decisions (event times in the last ~2 s) and an in-time reward for each."""
    import numpy as np

    from simulator import build_scenario
    from simulator.scenarios import take
    from simulator.warmstart import decision_record

    rng = np.random.default_rng(seed)
    start = time.time() - 2.0
    decisions, rewards, known = [], [], []
    for n, interaction in enumerate(take(build_scenario("synthetic", seed=seed).interactions(count), count)):
        index = int(rng.integers(len(interaction.candidates)))
        event_id, at = f"{tag}-{n:05d}", start + n * (1.5 / count)
        record = decision_record(interaction, index, event_id, iso(at), rt.experiment_id)
        decisions.append((json.dumps(record, separators=(",", ":")) + "\n").encode())
        reward = float(interaction.reward(interaction.candidates[index].id))
        rewards.append(json.dumps({"event_id": event_id, "reward": reward, "reward_time": iso(at + 0.2)}).encode())
        known.append((event_id, at, reward))
    return decisions, [r + b"\n" for r in rewards], known


def _cross(rt: Runtime, session: Session, tag: str, extra_rewards: Sequence[bytes] = ()) -> dict[str, Any]:
    """Log THRESHOLD + 20 decisions, then their rewards (+ extra lines): one threshold crossing; the execution."""
    decisions, rewards, known = _logged(rt, THRESHOLD + 20, session.next_seed(), tag)
    before = rt.status()["firehose_records"]
    rt.put_lines("DecisionsStreamName", decisions)
    rt.wait_delivered(before, len(decisions))
    rt.put_lines("RewardsStreamName", rewards + list(extra_rewards))
    execution = rt.new_execution(session.known_executions, timeout=60)
    if execution is not None:
        session.known_executions.add(execution["name"])
    return {"execution": execution, "known": known, "decisions": decisions, "rewards": rewards}


def scenario_failure(session: Session, kind: str) -> dict[str, Any]:
    """One threshold crossing with `kind`'s fault switched on: a clean failure and no deployment."""
    rt = session.runtime
    before = {"serving": rt.experiment().get("serving_model_id"), "config": rt.endpoint()["EndpointConfigName"]}
    configs_before = rt.endpoint_configs()
    counter_before = rt.counter()
    rt.set_faults(FAILURES[kind])
    try:
        crossed = _cross(rt, session, f"fail-{kind}")
        execution = crossed["execution"]
        if execution is None:
            return {"error": "no execution started"}
        described = rt.wait_execution(execution["executionArn"])
    finally:
        injected = rt.set_faults({})["injected"]
    run_id = execution["name"]
    output = json.loads(described.get("output") or "{}") if described.get("output") else {}
    experiment = rt.experiment()
    model = rt.item("ModelsTableName", {"model_id": run_id})
    reward_count = int(json.loads(described["input"])["reward_count"])
    written = len(crossed["rewards"])
    after = {"serving": experiment.get("serving_model_id"), "config": rt.endpoint()["EndpointConfigName"]}
    result = {
        "run_id": run_id,
        "status": described["status"],
        "error": described.get("error"),
        "cause": (described.get("cause") or "")[:300],
        "last_outcome": experiment.get("last_outcome"),
        "last_error": (experiment.get("last_error") or "")[:300],
        "model_state": model.get("state"),
        "lock_released": not rt.lock(),
        "counter_consistent": _wait_counter(rt, counter_before + written - reward_count, 10)
        == counter_before + written - reward_count,
        "deployed": before != after or rt.endpoint_configs() != configs_before,
        "output": {k: v for k, v in output.items() if k in ("failure",)},
        "injected": injected,
    }
    result["failed_cleanly"] = (
        result["status"] == "FAILED"
        and result["last_outcome"] == "failed"
        and bool(result["last_error"])
        and result["lock_released"]
        and not result["deployed"]
        and result["counter_consistent"]
    )
    return result


def _joined(rt: Runtime, run_id: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in rt.s3_lines(f"joined/{run_id}/")]


def scenario_recovery(session: Session) -> dict[str, Any]:
    """The next crossing after failures, with bad rewards mixed in; serving faults and a load while it deploys."""
    rt = session.runtime
    serving_before = rt.experiment().get("serving_model_id")
    decisions, rewards, known = _logged(rt, THRESHOLD + 20, session.next_seed(), "recover")
    bad = bad_reward_lines(known, time.time(), "recover")
    late_ids = {event for event, _, _ in known[-3:]}
    good = [r for r, (event, _, _) in zip(rewards, known, strict=True) if event not in late_ids]
    before = rt.status()["firehose_records"]
    rt.put_lines("DecisionsStreamName", decisions)
    rt.wait_delivered(before, len(decisions))
    rt.put_lines("RewardsStreamName", good + [line for lines in bad.values() for line in lines])
    execution = rt.new_execution(session.known_executions, timeout=60)
    if execution is None:
        return {"error": "no execution started"}
    session.known_executions.add(execution["name"])
    rt.set_faults(SERVING_FAULTS)
    load = Load(rt, seed=session.next_seed())
    load.start()
    blue = {p["pid"] for p in rt.processes() if p["fleet"] == "blue"}
    described = rt.wait_execution(execution["executionArn"])
    time.sleep(2.0)  # load on the new fleet after the switch
    figures = load.finish()
    session.served.extend(load.served)
    injected = rt.faults()["injected"]
    run_id = execution["name"]
    join = rt.item("JoinsTableName", {"run_id": run_id})
    experiment = rt.experiment()
    processes = rt.processes()
    joined = _joined(rt, run_id)
    by_id = {row["event_id"]: row for row in joined}
    duplicates_ok = all(by_id.get(event, {}).get("reward") == reward for event, _, reward in known[2:5])
    late_default = all(by_id.get(event, {}).get("reward_time") is None for event in late_ids)
    return {
        "run_id": run_id,
        "status": described["status"],
        "outcome": experiment.get("last_outcome"),
        "serving_before": serving_before,
        "serving_after": experiment.get("serving_model_id"),
        "join": {k: int(join[k]) for k in JOIN_COUNTS if k in join},
        "join_expected": expected_join_counts(bad),
        "bad_reward_lines": {k: len(v) for k, v in bad.items()},
        "joined_rows_read": len(joined),
        "joined_distinct_event_ids": len(by_id),
        "first_reward_wins_for_duplicates": duplicates_ok,
        "late_rewards_defaulted": late_default,
        "blue_pids_before": sorted(blue),
        "blue_stopped": not (blue & {p["pid"] for p in processes if p["running"]}),
        "load": figures,
        "injected_so_far": injected,
    }


def scenario_rollback(session: Session, kind: str = "unhealthy") -> dict[str, Any]:
    """A real run's trained candidate made unhealthy / erroring / SIGTERMed mid-canary, under load: rolled back."""
    rt = session.runtime
    experiment = rt.experiment()
    serving = experiment.get("serving_model_id")
    endpoint = rt.endpoint()
    config = endpoint["EndpointConfigName"]
    weights = [(v["VariantName"], v.get("CurrentWeight")) for v in endpoint.get("ProductionVariants", [])]
    served_before = list(session.served)
    # A run joins `reward_wait_seconds + DELIVERY_LAG_SECONDS` after its window's end (390 s in production, 3.5 s
    # here), by when a decision has normally landed. Under Firehose faults the loggers' retries land the last ones
    # later than that, so wait until every decision served has landed: served == joined is then exact.
    pending = landing(session, timeout=60.0)
    faults = {"unhealthy": {"unhealthy_models": [RUN_ID_JOB]}, "erroring": {"erroring_models": [RUN_ID_JOB]}}
    rt.set_faults({**SERVING_FAULTS, **faults.get(kind, {})})
    crossed = _cross(rt, session, f"rollback-{kind}")
    execution = crossed["execution"]
    if execution is None:
        rt.set_faults({})
        return {"error": "no execution started"}
    load = Load(rt, seed=session.next_seed())
    load.start()
    signalled = None
    if kind == "sigterm":  # SIGTERM the green process while it takes canary traffic
        deadline = time.monotonic() + 120
        while signalled is None and time.monotonic() < deadline:
            green = [p for p in rt.processes() if p["fleet"] == "green" and p["running"] and p["invocations"] > 0]
            if green:
                signalled = green[0]["pid"]
                os.kill(signalled, 15)
            time.sleep(0.1)
    described = rt.wait_execution(execution["executionArn"])
    figures = load.finish()
    session.served.extend(load.served)
    rt.set_faults({})
    run_id = execution["name"]
    after = rt.experiment()
    endpoint_after = rt.endpoint()
    weights_after = [(v["VariantName"], v.get("CurrentWeight")) for v in endpoint_after.get("ProductionVariants", [])]
    output = json.loads(described.get("output") or "{}")
    model = rt.item("ModelsTableName", {"model_id": run_id})
    joined_rows = {row["event_id"]: row for row in _joined(rt, run_id)}
    joined = set(joined_rows)
    logged = {event for event, _, _ in crossed["known"]}
    window_served = set(served_before) - session.observations.get("joined_before", set())
    result = {
        "kind": kind,
        "lost_before_crossing": pending["records_lost"],
        "run_id": run_id,
        "status": described["status"],
        "outcome": (output.get("result") or {}).get("outcome"),
        "deployment_status": (output.get("deployment") or {}).get("status"),
        "deployment_reason": ((output.get("deployment") or {}).get("reason") or "")[:300],
        "model_state": model.get("state"),
        "serving_unchanged": after.get("serving_model_id") == serving,
        "config_unchanged": endpoint_after["EndpointConfigName"] == config,
        "traffic_unchanged": weights_after == weights,
        "failure_reason": (endpoint_after.get("FailureReason") or "")[:300],
        "last_outcome": after.get("last_outcome"),
        "load": figures,
        "answers_from_other_models": sum(n for m, n in figures["models"].items() if m != serving),
        "signalled_pid": signalled,
        "joined_rows": len(joined),
        "window_decisions_expected": len(window_served | logged),
        "served_missing_from_join": len(window_served - joined),
        "joined_not_served_or_logged": len(joined - window_served - logged),
        "joined_not_served_or_logged_sample": [
            {k: joined_rows[e].get(k) for k in ("event_id", "event_time", "model_id", "reward_time")}
            for e in sorted(joined - window_served - logged)[:10]
        ],
    }
    session.observations.setdefault("joined_before", set()).update(joined)
    result["rolled_back_cleanly"] = (
        result["status"] == "SUCCEEDED"
        and result["outcome"] == "rolled_back"
        and result["model_state"] == "rolled_back"
        and result["serving_unchanged"]
        and result["config_unchanged"]
        and result["traffic_unchanged"]
        and bool(result["failure_reason"])
        and figures["server_errors"] == 0
    )
    return result


def landing(session: Session, timeout: float = 30.0) -> dict[str, Any]:
    """Every decision served by the loads, found in S3 (dedup by event_id)."""
    rt = session.runtime
    deadline = time.monotonic() + timeout
    while True:
        landed, unreadable = event_ids(rt.s3_lines("decisions/"))
        report = landing_report(session.served, landed)
        if report["records_lost"] == 0 or time.monotonic() > deadline:
            report["unreadable_lines"] = unreadable
            return report
        time.sleep(1.0)


def run_all(work: Path, failures: Sequence[str], rollbacks: Sequence[str]) -> dict[str, Any]:
    """Every scenario on one runtime; the observations by scenario."""
    rt = Runtime(work / "state").start()
    session = Session(rt)
    observations: dict[str, Any] = {}
    try:
        observations["bootstrap"] = bootstrap(session)
        observations["events"] = scenario_events(session)
        observations["garbage_rewards"] = scenario_garbage_rewards(session)
        observations["failures"] = {kind: scenario_failure(session, kind) for kind in failures}
        observations["recovery"] = scenario_recovery(session)
        session.observations["joined_before"] = set()
        observations["rollbacks"] = {kind: scenario_rollback(session, kind) for kind in rollbacks}
        observations["landing"] = landing(session)
        observations["executions"] = execution_report(rt, session)
        observations["injected"] = rt.faults()["injected"]
    finally:
        rt.stop()
    return observations


def execution_report(rt: Runtime, session: Session) -> dict[str, Any]:
    """Every execution of the session: how many, and how many pairs were ever in flight at the same time."""
    executions = rt.executions()
    intervals = [(_ts(e["startDate"]), _ts(e["stopDate"]) if e.get("stopDate") else None) for e in executions]
    return {
        "total": len(executions),
        "overlapping": overlapping(intervals),
        "unexplained": sorted(e["name"] for e in executions if e["name"] not in session.known_executions),
    }


def serving_figures(observations: dict[str, Any]) -> dict[str, Any]:
    """Served / landed / lost across every load, and decisions per second while faults were injected."""
    loads = [observations.get("recovery", {}).get("load")] + [
        r.get("load") for r in (observations.get("rollbacks") or {}).values()
    ]
    loads = [x for x in loads if x]
    decisions = sum(x["decisions"] for x in loads)
    seconds = sum(x["seconds"] for x in loads)
    landing_seen = observations.get("landing") or {}
    return {
        **landing_seen,
        "decisions_per_s": round(decisions / seconds, 1) if seconds else None,
        "server_errors": sum(x["server_errors"] for x in loads),
    }


def main(
    failures: Sequence[str] = tuple(FAILURES),
    rollbacks: Sequence[str] = ("unhealthy", "erroring", "sigterm"),
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-reliability-"))
    started = time.monotonic()
    load_average = os.getloadavg()
    try:
        observations = run_all(work, failures, rollbacks)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    observations["serving"] = serving_figures(observations)
    result = {
        **summarize(observations, observations.get("injected", {})),
        "scenarios": {k: v for k, v in observations.items() if k not in ("injected",)},
        "settings": SETTINGS,
        "serving_faults": SERVING_FAULTS,
        "trigger_faults": TRIGGER_FAULTS,
        "seconds": round(time.monotonic() - started, 1),
        "load_average_at_start": [round(x, 2) for x in load_average],
        "cpus": os.cpu_count(),
    }
    write_result("reliability", result)
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, sort_keys=True, default=str))
