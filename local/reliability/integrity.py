"""Data-integrity faults (issue 14): a client or operator who crashes, repeats, forges or half-sends, and what the
pipeline makes of it. Each scenario returns its observations; `checks.kind_rows` turns them into the per-kind table.

- `scenario_integrity`: one threshold crossing whose decisions and rewards carry, cohort by cohort, a decision line
  delivered twice, a client reusing an `event_id`, a back-dated forged duplicate reward (arriving after the genuine
  one), a reward dated before its decision, rewards outside `reward_range`, and reward records sent without a
  newline between two producers' records. The run's joined rows are compared with what each cohort must give.
- `scenario_stop_mid_deployment`: StopExecution while the blue/green update runs; the registry must end up naming the
  model the endpoint really serves, the lock released.
- `scenario_gzip_bomb`: a small gzip object that inflates to hundreds of MB under `rewards/`: the trigger survives
  and the next object is counted.
- `scenario_bad_requests`: requests whose record would exceed Firehose's 1,000 KiB (413), and features finite in
  float64 but not in float32 (400): never served, never logged.
- `scenario_worker_crash` / `scenario_half_sent`: a real `serve` with two workers logging to the runtime's decisions
  stream: one worker SIGKILLed under load; requests whose headers or body never finish.
- `scenario_container_crash`: the endpoint's serving process SIGKILLed under load; the replacement instance
  starts on a fresh disk, so what the dead one still held (buffer and spool) is lost in the default `spool` mode.
- `scenario_acknowledged_container_crash`: the same after the endpoint is updated to a model whose container answers
  only once Firehose holds the record (`decision_acknowledgement: firehose`): nothing answered may be lost.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.environment import DECISIONS_ACKNOWLEDGEMENT
from local.driver import REPO, free_port, wait_exit
from local.driver import DetachedRuntime as Runtime
from local.reliability.checks import iso
from local.reliability.load import Load
from local.reliability.scenarios import THRESHOLD, Session, _joined, _logged, counted_objects, trigger_invocations

COHORT = 10
"""Decisions per integrity cohort."""
COHORTS = (
    "duplicate_decision_delivery",
    "reused_event_id",
    "forged_backdated_reward",
    "reward_before_decision",
    "reward_out_of_range",
    "records_without_newline",
    "newline_victims",
)
EPOCH = "1970-01-01T00:00:00.000Z"
OUT_OF_RANGE = (1e6, -3.0)


@dataclass
class Expected:
    """What the join must give one decision: its action (the first decision's) and its reward (None: the default,
    no reward joined)."""

    action: str
    reward: float | None


@dataclass
class CohortPlan:
    """The lines one integrity crossing sends, in order, and what each cohort's decisions must join to."""

    decisions: list[bytes] = field(default_factory=list)
    repeated_decisions: list[bytes] = field(default_factory=list)
    genuine_rewards: list[bytes] = field(default_factory=list)
    adversarial_rewards: list[bytes] = field(default_factory=list)
    cohorts: dict[str, list[str]] = field(default_factory=dict)
    expected: dict[str, Expected] = field(default_factory=dict)
    injected: Counter[str] = field(default_factory=Counter)


def _line(value: dict[str, Any], newline: bool = True) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + (b"\n" if newline else b"")


def plan_integrity(
    decisions: list[bytes], known: list[tuple[str, float, float]], rewards: list[bytes], tag: str
) -> CohortPlan:
    """Split a crossing's logged decisions into the cohorts (COHORT each, in COHORTS order; the rest normal)."""
    plan = CohortPlan(decisions=list(decisions))
    records = [json.loads(d) for d in decisions]
    names = list(COHORTS)
    for n, (event_id, at, reward) in enumerate(known):
        cohort = names[n // COHORT] if n // COHORT < len(names) else "normal"
        plan.cohorts.setdefault(cohort, []).append(event_id)
        record = records[n]
        expected = Expected(action=str(record["action"]), reward=reward)
        genuine = rewards[n]
        if cohort == "duplicate_decision_delivery":  # Firehose's at-least-once: the same line again
            plan.repeated_decisions.append(decisions[n])
            plan.injected[cohort] += 1
        elif cohort == "reused_event_id":  # another decision under the same id, after the first
            other = json.loads(decisions[n])
            index = (int(other["action_index"]) + 1) % len(json.loads(other["actions"]))
            other["action_index"] = index
            other["action"] = json.loads(other["actions"])[index]["id"]
            other["event_time"] = iso(at + 0.05)
            plan.repeated_decisions.append(_line(other))
            plan.injected[cohort] += 1
        if cohort == "forged_backdated_reward":  # the genuine reward first, then a forgery dated before it
            plan.genuine_rewards.append(genuine)
            forged = 1.0 - reward if reward != 0.5 else 0.0
            plan.adversarial_rewards.append(
                _line({"event_id": event_id, "reward": forged, "reward_time": iso(at + 0.1)})
            )
            plan.injected[cohort] += 1
        elif cohort == "reward_before_decision":  # the only reward, dated 1970
            plan.adversarial_rewards.append(_line({"event_id": event_id, "reward": reward, "reward_time": EPOCH}))
            expected.reward = None
            plan.injected[cohort] += 1
        elif cohort == "reward_out_of_range":  # the only reward, outside [0, 1]
            bad = OUT_OF_RANGE[n % len(OUT_OF_RANGE)]
            plan.adversarial_rewards.append(_line({"event_id": event_id, "reward": bad, "reward_time": iso(at + 0.2)}))
            expected.reward = None
            plan.injected[cohort] += 1
        elif cohort in ("records_without_newline", "newline_victims"):
            pass  # sent interleaved below
        else:
            plan.genuine_rewards.append(genuine)
        plan.expected[event_id] = expected
    # Two producers on one stream: one ends its records with no newline, the other's records follow each of them.
    for careless, careful in zip(
        plan.cohorts.get("records_without_newline", []), plan.cohorts.get("newline_victims", []), strict=True
    ):
        plan.adversarial_rewards.append(rewards[known_index(known, careless)].rstrip(b"\n"))
        plan.adversarial_rewards.append(rewards[known_index(known, careful)])
        plan.injected["records_without_newline"] += 1
    return plan


def known_index(known: list[tuple[str, float, float]], event_id: str) -> int:
    return next(n for n, (e, _, _) in enumerate(known) if e == event_id)


def cohort_report(plan: CohortPlan, joined: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per cohort: decisions, joined (distinct), lost (not joined), duplicated (extra rows), corrupted (a row whose
    action or reward is not what the cohort must give: a forged, time-travelling or out-of-range reward joined, a
    second decision's action, or a genuine reward missing)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in joined:
        rows.setdefault(str(row.get("event_id")), []).append(row)
    report: dict[str, dict[str, Any]] = {}
    for cohort, ids in plan.cohorts.items():
        found = [e for e in ids if e in rows]
        corrupted = []
        for event_id in found:
            row, expected = rows[event_id][0], plan.expected[event_id]
            got = row.get("reward") if row.get("reward_time") is not None else None
            wrong_reward = (got is None) != (expected.reward is None) or (
                got is not None and expected.reward is not None and abs(float(got) - expected.reward) > 1e-9
            )
            if wrong_reward or str(row.get("action")) != expected.action:
                corrupted.append(
                    {
                        "event_id": event_id,
                        "action": row.get("action"),
                        "reward": row.get("reward"),
                        "reward_time": row.get("reward_time"),
                        "expected": expected.__dict__,
                    }
                )
        report[cohort] = {
            "decisions": len(ids),
            "joined": len(found),
            "lost": len(ids) - len(found),
            "duplicated": sum(len(rows[e]) - 1 for e in found),
            "corrupted": len(corrupted),
            "corrupted_sample": corrupted[:3],
            "injected": plan.injected.get(cohort, 0),
        }
    return report


def scenario_integrity(session: Session) -> dict[str, Any]:
    """One crossing carrying every integrity cohort; the run's joined rows against what each cohort must give."""
    rt = session.runtime
    decisions, rewards, known = _logged(rt, THRESHOLD + 20, session.next_seed(), "integrity")
    plan = plan_integrity(decisions, known, rewards, "integrity")
    before = rt.status()["firehose_records"]
    rt.put_lines("DecisionsStreamName", plan.decisions)
    rt.wait_delivered(before, len(plan.decisions))
    before = rt.status()["firehose_records"]
    rt.put_lines("DecisionsStreamName", plan.repeated_decisions)
    rt.wait_delivered(before, len(plan.repeated_decisions))
    # The genuine rewards first, in their own objects (short of the threshold), then the adversarial ones: "first"
    # by arrival is then the genuine reward whatever a line's `reward_time` claims.
    room = max(COHORT, THRESHOLD - rt.counter() - 1)
    first, rest = plan.genuine_rewards[:room], plan.genuine_rewards[room:]
    before = rt.status()["firehose_records"]
    rt.put_lines("RewardsStreamName", first)
    rt.wait_delivered(before, len(first))
    time.sleep(1.2)  # past the Firehose buffer: the next lines land in a later object
    rt.put_lines("RewardsStreamName", rest + plan.adversarial_rewards)
    execution = rt.new_execution(session.known_executions, timeout=60)
    if execution is None:
        return {"error": "no execution started", "injected": dict(plan.injected)}
    session.known_executions.add(execution["name"])
    described = rt.wait_execution(execution["executionArn"])
    run_id = execution["name"]
    joined = _joined(rt, run_id)
    join = rt.item("JoinsTableName", {"run_id": run_id})
    return {
        "run_id": run_id,
        "status": described["status"],
        "cohorts": cohort_report(plan, joined),
        "join": {
            k: (int(v) if isinstance(v, (int, float)) or str(v).isdigit() else str(v)[:200])
            for k, v in join.items()
            if k not in ("run_id",)
        },
        "quarantine_objects": len(rt.s3_lines(f"quarantine/{run_id}/")),
    }


def scenario_stop_mid_deployment(session: Session, timeout: float = 120.0) -> dict[str, Any]:
    """A crossing whose execution is stopped by hand once its deployment has started; then the registry must name the
    model the endpoint really serves (after the update ends), and the lock must be free."""
    from local.driver import entered_states
    from local.reliability.scenarios import _cross

    rt = session.runtime
    crossed = _cross(rt, session, "stopped")
    execution = crossed["execution"]
    if execution is None:
        return {"error": "no execution started"}
    arn = execution["executionArn"]
    deadline = time.monotonic() + timeout
    stopped = False
    while time.monotonic() < deadline:
        states = entered_states(rt.history(arn))
        if "WaitForDeployment" in states or "CheckDeployment" in states:
            rt.client("stepfunctions").stop_execution(executionArn=arn, error="Operator", cause="stopped by hand")
            stopped = True
            break
        if rt.client("stepfunctions").describe_execution(executionArn=arn)["status"] != "RUNNING":
            break
        time.sleep(0.2)
    described = rt.wait_execution(arn, 30)
    # SageMaker finishes (or rolls back) the update whatever Step Functions does; then the reconciler has had its go.
    while time.monotonic() < deadline and rt.endpoint()["EndpointStatus"] in ("Updating", "Creating", "SystemUpdating"):
        time.sleep(0.5)
    serving = _answering_models(rt)
    registry: str | None = None
    while time.monotonic() < deadline:
        registry = rt.experiment().get("serving_model_id")
        if serving == {registry} and not rt.lock():
            break
        time.sleep(1.0)
    model = rt.item("ModelsTableName", {"model_id": execution["name"]})
    return {
        "run_id": execution["name"],
        "stopped_mid_deployment": stopped,
        "status": described["status"],
        "endpoint_status": rt.endpoint()["EndpointStatus"],
        "models_answering": sorted(serving),
        "registry_serving_model": registry,
        "candidate_state": model.get("state"),
        "registry_agrees": serving == {registry},
        "lock_released": not rt.lock(),
        "decisions_logged": len(crossed["decisions"]),
    }


def _answering_models(rt: Runtime) -> set[str]:
    from simulator import SageMakerDecisionClient, build_scenario
    from simulator.scenarios import take

    requests = [i.request() for i in take(build_scenario("synthetic", seed=7).interactions(10), 10)]
    client = SageMakerDecisionClient(rt.outputs["EndpointName"], runtime=rt.client("sagemaker-runtime"))
    return {str(d["model_id"]) for d in client.decide(requests)}


def gzip_bomb(inflated_mb: int = 300) -> bytes:
    """A gzip member that is ~inflated_mb/1000 MB on the wire and `inflated_mb` MB inflated (newline-free zeros)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    parts = [packer.compress(chunk) for _ in range(inflated_mb)]
    return b"".join(parts) + packer.flush()


def scenario_gzip_bomb(session: Session, timeout: float = 90.0) -> dict[str, Any]:
    """A small good object, a gzip bomb under `rewards/`, then another good object: the trigger must not crash on the
    bomb (it records it counted in part) and records each good object's lines exactly. The first object makes sure
    the counter already holds rewards when the bomb (0 records) is counted, the state in which an ADD of 0 failed.
    Read from the trigger's per-object records: the shared counter also moves when a run finishes meanwhile."""
    rt = session.runtime
    s3, bucket = rt.client("s3"), rt.outputs["BucketName"]
    seen_before = {r["request_id"] for r in trigger_invocations(rt)}
    counter_before = rt.counter()
    bomb = gzip_bomb()
    prefix = time.strftime("rewards/%Y/%m/%d/%H/", time.gmtime())
    tag = os.getpid()
    before_key, bomb_key, good_key = f"{prefix}before-bomb-{tag}", f"{prefix}bomb-{tag}.gz", f"{prefix}after-bomb-{tag}"

    def good_lines(name: str) -> list[bytes]:
        return [_line({"event_id": f"{name}-{n}", "reward": 1.0, "reward_time": iso(time.time())}) for n in range(5)]

    before, good = good_lines("before-bomb"), good_lines("after-bomb")
    s3.put_object(Bucket=bucket, Key=before_key, Body=b"".join(before))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and before_key not in counted_objects(rt):
        time.sleep(0.5)
    s3.put_object(Bucket=bucket, Key=bomb_key, Body=bomb, ContentEncoding="gzip")
    time.sleep(1.0)
    s3.put_object(Bucket=bucket, Key=good_key, Body=b"".join(good))
    deadline = time.monotonic() + timeout
    counted = counted_objects(rt)
    while time.monotonic() < deadline and not (bomb_key in counted and good_key in counted):
        time.sleep(0.5)
        counted = counted_objects(rt)
    invocations = [r for r in trigger_invocations(rt) if r["request_id"] not in seen_before]
    failed = [r for r in invocations if r.get("error") or r.get("attempt_errors")]
    return {
        "bomb_bytes": len(bomb),
        "inflated_bytes": 300 << 20,
        "before_record": counted.get(before_key),
        "bomb_record": counted.get(bomb_key),
        "good_record": counted.get(good_key),
        "good_lines": len(good),
        "before_lines": len(before),
        "counter_delta": rt.counter() - counter_before,  # for the record: a run finishing meanwhile lowers it
        "trigger_errors": sum(1 for r in invocations if r.get("error")),
        "trigger_retries": sum(int(r.get("attempts", 1)) - 1 for r in invocations),
        "trigger_failures": failed,  # each failed attempt's error type and message (the engine's async results)
        "dead_letters": dead_letters_naming(rt, (before_key, bomb_key, good_key)),
    }


def dead_letters_naming(rt: Runtime, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The trigger's OnFailure records (Lambda's destination record) for these objects: condition and error."""
    sqs, url = rt.client("sqs"), rt.outputs["DeadLetterQueueUrl"]
    found: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages"):
        for message in messages:
            text = message.get("Body", "")
            if any(key in text for key in keys):
                record = json.loads(text)
                found.append(
                    {
                        "condition": (record.get("requestContext") or {}).get("condition"),
                        "invocations": (record.get("requestContext") or {}).get("approximateInvokeCount"),
                        "error": record.get("responsePayload"),
                    }
                )
    return found


# Requests a client can get wrong -------------------------------------------------------------------------------


def oversized_record_request() -> dict[str, Any]:
    """A request within every limit of `serve` (body under 1 MiB, 400 of 1,024 context features, string values of
    at most 1,024 characters) whose decision record is over Firehose's 1,000 KiB record: values made of double
    quotes (`\\"`, 2 bytes, in the request; `\\\\\\"`, 4 bytes, once the context is JSON text inside the
    record), ~820 KB in, ~1.6 MB out."""
    return {"context": {f"q{n:03d}": '"' * 1024 for n in range(400)}, "actions": ["a", "b"]}


def overflowing_requests() -> list[tuple[str, dict[str, Any]]]:
    """Features finite in float64 but not in float32 (what VW holds), in the context and in an action's features."""
    return [
        ("context.x", {"context": {"x": 1e308}, "actions": ["a", "b"]}),
        ("context.x", {"context": {"x": 3.5e38}, "actions": ["a", "b"]}),
        ("context.x", {"context": {"x": -3.5e38}, "actions": ["a", "b"]}),
        ("actions[0].features.price", {"context": {"x": 1.0}, "actions": [{"id": "a", "features": {"price": 1e300}}]}),
    ]


def _invoke_raw(rt: Runtime, body: bytes) -> tuple[int, dict[str, Any] | None, str]:
    """InvokeEndpoint without retries: (status, the decision when 200, the error text otherwise)."""
    from botocore.exceptions import ClientError

    client = rt.new_client("sagemaker-runtime", attempts=1)
    try:
        answer = client.invoke_endpoint(
            EndpointName=rt.outputs["EndpointName"],
            Body=body,
            ContentType="application/json",
            Accept="application/json",
        )
    except ClientError as err:
        status = int(err.response.get("OriginalStatusCode") or err.response["ResponseMetadata"]["HTTPStatusCode"])
        return status, None, str(err.response.get("OriginalMessage") or err.response.get("Error", {}).get("Message"))
    decision = json.loads(answer["Body"].read())
    return 200, decision, ""


def scenario_bad_requests(session: Session) -> dict[str, Any]:
    """Oversized-record and float32-overflowing requests: each must be refused (413 / 400 naming the field)."""
    rt = session.runtime
    oversized = []
    for _ in range(3):
        status, decision, message = _invoke_raw(rt, json.dumps(oversized_record_request()).encode())
        oversized.append({"status": status, "event_id": (decision or {}).get("event_id"), "message": message[:200]})
    overflow = []
    for fieldname, request in overflowing_requests():
        status, decision, message = _invoke_raw(rt, json.dumps(request).encode())
        overflow.append(
            {
                "field": fieldname,
                "status": status,
                "event_id": (decision or {}).get("event_id"),
                "probabilities": (decision or {}).get("probabilities"),
                "message": message[:200],
                "names_field": fieldname.split(".")[-1] in message,
            }
        )
    return {"oversized_record": oversized, "float32_overflow": overflow}


# A real `serve` with two workers, logging to the runtime's decisions stream --------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1
    return int(fields[11]) + int(fields[12])  # utime + stime


class StandaloneServe:
    """`python -m container serve` on the serving model, with the endpoint's environment and `workers` workers."""

    def __init__(self, rt: Runtime, work: Path, workers: int = 2) -> None:
        self.rt = rt
        self.root = Path(work)
        self.workers = workers
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> StandaloneServe:
        rt = self.rt
        sagemaker = rt.client("sagemaker")
        config = sagemaker.describe_endpoint_config(EndpointConfigName=rt.endpoint()["EndpointConfigName"])
        model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        container = model["PrimaryContainer"]
        model_dir = self.root / "ml" / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        (self.root / "ml" / "output").mkdir(parents=True, exist_ok=True)
        if container.get("ModelDataUrl"):  # the bootstrap's uniform policy has none
            bucket, key = container["ModelDataUrl"].removeprefix("s3://").split("/", 1)
            archive = self.root / "model.tar.gz"
            rt.client("s3").download_file(bucket, key, str(archive))
            with tarfile.open(archive) as tar:
                tar.extractall(model_dir, filter="data")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
        env.update(rt.environment())
        env.update({k: str(v) for k, v in (container.get("Environment") or {}).items()})
        env.update(
            {
                "SM_ML_ROOT": str(self.root / "ml"),
                "SAGEMAKER_BIND_TO_PORT": str(self.port),
                "SERVE_WORKERS": str(self.workers),
                "PYTHONPATH": str(REPO),
                "PYTHONUNBUFFERED": "1",
            }
        )
        log = open(self.root / "serve.log", "ab")  # noqa: SIM115 - the process owns it
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "container", "serve"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/ping")
                forked = len(self.worker_pids()) >= self.workers if self.workers > 1 else True
                if connection.getresponse().status == 200 and forked:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"standalone serve did not answer /ping: {self.log_tail()}")

    def worker_pids(self) -> list[int]:
        return _children(self.process.pid) if self.process is not None else []

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 45.0) -> int | None:
        """SIGTERM (the workers flush their decision logs), then wait; the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def log_tail(self, chars: int = 1500) -> str:
        path = self.root / "serve.log"
        return path.read_text(errors="replace")[-chars:] if path.is_file() else ""


class DirectLoad(threading.Thread):
    """Threads POSTing batches to one `serve` directly (no router): the event ids answered 200, errors by kind,
    and the answers per second-of-load (to see whether serving went on after a fault)."""

    def __init__(self, port: int, threads: int = 3, batch: int = 5, seed: int = 1, pause: float = 0.0) -> None:
        super().__init__(name="direct-load", daemon=True)
        from simulator import build_scenario
        from simulator.scenarios import take

        self.port = port
        self.threads = threads
        pool = [i.request() for i in take(build_scenario("synthetic", seed=seed).interactions(200), 200)]
        self.bodies = [json.dumps({"instances": pool[n : n + batch]}).encode() for n in range(0, 200 - batch, batch)]
        self.batch = batch
        self.reconnect_every = 20
        self.pause = pause
        self.served: list[str] = []
        self.answered_at: list[float] = []
        self.errors: Counter[str] = Counter()
        self.stop_event = threading.Event()
        self._lock = threading.Lock()

    def _worker(self, index: int) -> None:
        connection: http.client.HTTPConnection | None = None
        n = index
        while not self.stop_event.is_set():
            body = self.bodies[n % len(self.bodies)]
            n += self.threads
            if n % (self.threads * self.reconnect_every) < self.threads and connection is not None:
                connection.close()  # a new connection may land on another worker
                connection = None
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
                answer = connection.getresponse()
                payload = answer.read()
            except (OSError, http.client.HTTPException) as err:
                with self._lock:
                    self.errors[type(err).__name__] += 1
                connection = None
                time.sleep(0.05)
                continue
            if answer.status != 200:
                with self._lock:
                    self.errors[str(answer.status)] += 1
                continue
            predictions = json.loads(payload)["predictions"]
            with self._lock:
                self.served.extend(p["event_id"] for p in predictions)
                self.answered_at.append(time.monotonic())
            if self.pause:
                self.stop_event.wait(self.pause)

    def run(self) -> None:
        workers = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def answered_since(self, moment: float) -> int:
        with self._lock:
            return sum(1 for t in self.answered_at if t >= moment)

    def finish(self) -> dict[str, Any]:
        self.stop_event.set()
        self.join(timeout=30)
        return {"decisions": len(self.served), "errors": dict(self.errors)}


def scenario_worker_crash(session: Session, work: Path) -> dict[str, Any]:
    """SIGKILL one of two `serve` workers under load: decisions answered must all land; serving must go on."""
    serve = StandaloneServe(session.runtime, work / "worker-crash", workers=2).start()
    load = DirectLoad(serve.port, threads=3, seed=session.next_seed())
    try:
        load.start()
        time.sleep(3.0)
        workers = serve.worker_pids()
        victim = max(workers, key=_cpu_ticks)  # one that has been serving (keep-alive pins a connection to one)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        time.sleep(5.0)
        after_kill = load.answered_since(killed_at + 1.0)
        workers_after = serve.worker_pids()
        alive = serve.alive()
        figures = load.finish()
    finally:
        load.stop_event.set()
        code = serve.stop()
    return {
        "killed_worker": victim,
        "workers_before": workers,
        "workers_after": workers_after,
        "replaced": alive and len(workers_after) >= 2 and victim not in workers_after,
        "supervisor_alive_after_kill": alive,
        "answers_from_1s_after_kill": after_kill,
        "exit_code": code,
        "load": figures,
        "served": list(load.served),
        "serve_log": serve.log_tail(600),
    }


HALF_SENT = (
    b"POST /invocations HTTP/1.1\r\nHost: serve\r\nContent-Type: application/json\r\n",  # headers never end
    b"POST /invocations HTTP/1.1\r\nHost: serve\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
    b'{"context": {"x": 1',  # the body never ends
)


def scenario_half_sent(session: Session, work: Path, connections: int = 20) -> dict[str, Any]:
    """Connections whose request never finishes, held against a `serve` under a light load: each must be closed
    by the server within its idle timeout, and the load must go on being served meanwhile."""
    from container.serving.server import IDLE_TIMEOUT_SECONDS

    serve = StandaloneServe(session.runtime, work / "half-sent", workers=1).start()
    load = DirectLoad(serve.port, threads=1, seed=session.next_seed(), pause=0.1)  # ~50 decisions/s
    sockets: list[socket.socket] = []
    closed_after: list[float | None] = []
    try:
        load.start()
        opened = time.monotonic()
        for n in range(connections):
            s = socket.create_connection(("127.0.0.1", serve.port), timeout=5)
            s.sendall(HALF_SENT[n % len(HALF_SENT)])
            s.setblocking(False)
            sockets.append(s)
        closed_after = [None] * len(sockets)
        deadline = opened + IDLE_TIMEOUT_SECONDS + 15
        while time.monotonic() < deadline and any(c is None for c in closed_after):
            for n, s in enumerate(sockets):
                if closed_after[n] is not None:
                    continue
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data or b"408" in data[:20] or b"400" in data[:20]:
                    closed_after[n] = round(time.monotonic() - opened, 1)
            time.sleep(0.5)
        answered_while_held = load.answered_since(opened)
        figures = load.finish()
    finally:
        load.stop_event.set()
        for s in sockets:
            s.close()
        serve.stop()
    waited = [c for c in closed_after if c is not None]
    return {
        "connections": len(sockets),
        "closed": len(waited),
        "closed_after_s_max": max(waited) if waited else None,
        "idle_timeout_s": IDLE_TIMEOUT_SECONDS,
        "answered_while_held": answered_while_held,
        "load": figures,
        "served": list(load.served),
    }


def scenario_container_crash(session: Session) -> dict[str, Any]:
    """SIGKILL the endpoint's serving process under load: the endpoint must replace it and serve again; decisions
    answered before the crash must all land."""
    return _kill_under_load(session)


def scenario_acknowledged_container_crash(session: Session, timeout: float = 120.0) -> dict[str, Any]:
    """Update the endpoint (CreateModel, CreateEndpointConfig, UpdateEndpoint: what deploy does) to the serving
    model with `DECISIONS_ACKNOWLEDGEMENT=firehose`, then SIGKILL its serving process under load."""
    model = switch_acknowledgement(session.runtime, "firehose", timeout)
    observed = _kill_under_load(session)
    observed["acknowledging_model"] = model
    return observed


def switch_acknowledgement(rt: Runtime, mode: str, timeout: float) -> str:
    """A blue/green update of the endpoint to its current model with `DECISIONS_ACKNOWLEDGEMENT=mode`; returns the new
    model's name once its instances alone run."""
    sagemaker = rt.client("sagemaker")
    endpoint = rt.endpoint()
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variant = dict(config["ProductionVariants"][0])
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    container = dict(model["PrimaryContainer"])
    container["Environment"] = {**container.get("Environment", {}), DECISIONS_ACKNOWLEDGEMENT: mode}
    name = f"{variant['ModelName'][:40]}-ack-{mode}"[:63]
    sagemaker.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=model["ExecutionRoleArn"])
    variant["ModelName"] = name
    keep = ("VariantName", "ModelName", "InitialInstanceCount", "InstanceType", "InitialVariantWeight")
    sagemaker.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[{k: variant[k] for k in keep if k in variant}]
    )
    sagemaker.update_endpoint(EndpointName=endpoint["EndpointName"], EndpointConfigName=name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        if rt.endpoint()["EndpointStatus"] != "InService":
            continue
        if {p["model_name"] for p in rt.processes() if p["running"]} == {name}:
            return name
    raise TimeoutError(f"the endpoint did not serve {name} alone within {timeout:.0f} s: {rt.endpoint()}")


def _kill_under_load(session: Session) -> dict[str, Any]:
    rt = session.runtime
    load = Load(rt, seed=session.next_seed())
    load.start()
    time.sleep(3.0)
    blue = [p for p in rt.processes() if p["running"]]
    victim = blue[0]["pid"] if blue else None
    if victim is not None:
        os.kill(victim, signal.SIGKILL)
    time.sleep(12.0)
    figures = load.finish()
    session_served = list(load.served)
    probe = Load(rt, seed=session.next_seed())
    probe.start()
    time.sleep(3.0)
    probe_figures = probe.finish()
    processes = rt.processes()
    return {
        "killed_pid": victim,
        "load": figures,
        "probe_after_12s": probe_figures,
        "recovered": probe_figures["decisions"] > 0 and not probe_figures["errors"],
        "running_after": [p["pid"] for p in processes if p["running"]],
        "endpoint_status": rt.endpoint()["EndpointStatus"],
        "served": session_served + list(probe.served),
        "wait_exit": wait_exit(victim, 1) if victim else None,
    }
