"""The reliability scenarios: faults injected through a detached local runtime, each with what it observed.

`run_all` runs them on one runtime (docs/reliability.md lists each fault and what must hold); the benchmark
(`python -m bench reliability`) and the test (`tests/local/test_reliability.py`) both run it.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from contract.timefmt import hour_partition, hour_partition_of_epoch, parse_iso
from local.driver import FAST_SETTINGS
from local.driver import DetachedRuntime as Runtime
from local.driver import timestamp as _ts
from local.reliability.checks import (
    bad_reward_lines,
    event_ids,
    expected_join_counts,
    garbage_lines_malformed_for_the_join,
    garbage_reward_lines,
    iso,
    landing_report,
    overlapping,
)
from local.reliability.load import Load

THRESHOLD = 200
SETTINGS: dict[str, Any] = {
    **FAST_SETTINGS,
    "retrain_threshold": THRESHOLD,
    "canary_wait_seconds": 3,
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


def malformed_sent(session: Session, scenario: str, lines: int, sent_from: float) -> None:
    """Note `lines` malformed reward lines sent since `sent_from` (and landed by now) for `quarantine_report`: their
    hour folder, when the sending did not straddle an hour (Firehose files a line under its arrival hour)."""
    first, last = hour_partition_of_epoch(sent_from), hour_partition_of_epoch(time.time())
    batch = {"scenario": scenario, "lines": lines, "folder": first if first == last else None}
    session.observations.setdefault("malformed_sent", []).append(batch)


def trigger_invocations(rt: Runtime) -> list[dict[str, Any]]:
    """The trigger's recent async invocations as the Lambda engine recorded them (outcome, attempts, errors)."""
    return [r for r in rt.status()["async_invocations"] if "rigger" in r["function"]]


def counted_objects(rt: Runtime) -> dict[str, dict[str, Any]]:
    """What the trigger recorded per object it counted (its completed idempotency records, which name the object):
    the object's own count, whatever a run finishing meanwhile does to the shared counter. In-progress records are
    left out: one is deleted again when its invocation fails."""
    dynamodb, table = rt.client("dynamodb"), rt.outputs["IdempotencyTableName"]
    found: dict[str, dict[str, Any]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page.get("Items", []):
            if item.get("status", {}).get("S") != "COMPLETED":
                continue
            data = json.loads(item.get("data", {}).get("S") or "{}")
            if isinstance(data, dict) and data.get("object"):
                found[str(data["object"])] = data
    return found


def scenario_garbage_rewards(session: Session, timeout: float = 60.0) -> dict[str, Any]:
    """Twice the threshold of lines that are not reward records, sent to the rewards stream: the trigger records each
    object it lands in (a completed idempotency record per object) with every line invalid, adds nothing, and no run
    starts. Waits until the trigger has judged every line sent (or `timeout`)."""
    rt = session.runtime
    known = set(counted_objects(rt))
    seen_before = {r["request_id"] for r in trigger_invocations(rt)}
    counter_before = rt.counter()
    lines = garbage_reward_lines("garbage", 2 * THRESHOLD, time.time())
    delivered_before = rt.status()["firehose_records"]
    sent_from = time.time()
    rt.put_lines("RewardsStreamName", lines)
    delivered = rt.wait_delivered(delivered_before, len(lines), timeout)
    malformed_sent(session, "garbage_rewards", garbage_lines_malformed_for_the_join(len(lines)), sent_from)
    deadline = time.monotonic() + timeout
    while True:
        new = {k: v for k, v in counted_objects(rt).items() if k not in known}
        judged = sum(int(r.get("invalid_lines", 0)) + int(r.get("records", 0)) for r in new.values())
        if judged >= len(lines) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(2.0)  # a run started on the count would appear within the trigger's own latency
    started = [e for e in rt.executions() if e["name"] not in session.known_executions]
    session.known_executions.update(e["name"] for e in started)
    invocations = [r for r in trigger_invocations(rt) if r["request_id"] not in seen_before]
    return {
        "garbage_lines_sent": len(lines),
        "malformed_for_the_join": garbage_lines_malformed_for_the_join(len(lines)),
        "delivered": delivered,
        "objects_counted": len(new),
        "invalid_lines_recorded": sum(int(r.get("invalid_lines", 0)) for r in new.values()),
        "records_recorded": sum(int(r.get("records", 0)) for r in new.values()),
        "counter_before": counter_before,
        "counter_after": rt.counter(),
        "runs_started": len(started),
        "trigger_errors": sum(1 for r in invocations if r.get("error")),
        "trigger_failures": [r for r in invocations if r.get("error") or r.get("attempt_errors")],
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
    injected_before = rt.set_faults(FAILURES[kind])["injected"]
    try:
        crossed = _cross(rt, session, f"fail-{kind}")
        execution = crossed["execution"]
        if execution is None:
            return {"error": "no execution started"}
        described = rt.wait_execution(execution["executionArn"])
    finally:
        after = rt.set_faults({})["injected"]
    injected = {k: int(v) - int(injected_before.get(k, 0)) for k, v in after.items() if v != injected_before.get(k, 0)}
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
    sent_from = time.time()
    rt.put_lines("RewardsStreamName", good + [line for lines in bad.values() for line in lines])
    execution = rt.new_execution(session.known_executions, timeout=60)
    malformed_sent(session, "recovery", expected_join_counts(bad)["malformed_rewards"], sent_from)
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
        "served": list(load.served),
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
        "served": list(load.served),
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


def _reward_folder(source: Any) -> str | None:
    """The hour folder (`yyyy/MM/dd/HH`) of a quarantined line's S3 object (`s3://<bucket>/rewards/<folder>/...`)."""
    parts = str(source or "").split("/rewards/", 1)
    return "/".join(parts[1].split("/")[:4]) if len(parts) == 2 else None


def quarantine_report(rt: Runtime, session: Session) -> dict[str, Any]:
    """Malformed reward lines quarantined, per run and hour folder, against those the session sent.

    A run judges the malformed lines of the hour folders it owns (`JoinSpec.owned_hours`: from its window's start
    hour up to, not including, its end hour), once each folder is complete; a failed or stopped run keeps the
    watermark, so its window is joined again by the next run, and only runs that SUCCEEDED consume theirs. So every
    malformed line must be quarantined by exactly one SUCCEEDED run once a SUCCEEDED window has passed its hour,
    and by none before (`pending`: its owner is a later run). A folder may hold more malformed lines than the
    session counted here (a bomb's one line, records sent without a newline), hence `>=` for what was sent.
    """
    runs: dict[str, dict[str, Any]] = {}
    for execution in rt.executions():
        run_id = execution["name"]
        join = rt.item("JoinsTableName", {"run_id": run_id})
        if not join.get("window_start") or not join.get("window_end"):
            continue
        owned = (hour_partition(parse_iso(join["window_start"])), hour_partition(parse_iso(join["window_end"])))
        by_folder: Counter[str] = Counter()
        for line in rt.s3_lines(f"quarantine/{run_id}/"):
            row = json.loads(line)
            if row.get("kind") == "reward" and row.get("reason") == "malformed":
                by_folder[str(_reward_folder(row.get("source")))] += 1
        runs[run_id] = {
            "status": execution["status"],
            "window": [join["window_start"], join["window_end"]],
            "owned": list(owned),
            "malformed_by_folder": dict(by_folder),
            "outside_owned": sum(n for f, n in by_folder.items() if not owned[0] <= f < owned[1]),
        }
    consumed = sorted((r for r in runs.values() if r["status"] == "SUCCEEDED"), key=lambda r: r["window"][1])
    judges: dict[str, list[int]] = {}
    for run in consumed:
        for folder, n in run["malformed_by_folder"].items():
            judges.setdefault(folder, []).append(n)
    sent: Counter[str] = Counter()
    unknown_folder = 0
    for batch in session.observations.get("malformed_sent", []):
        if batch["folder"] is None:
            unknown_folder += batch["lines"]
        else:
            sent[batch["folder"]] += batch["lines"]
    folders = {}
    for folder, lines in sorted(sent.items()):
        owners = [r["window"] for r in consumed if r["owned"][0] <= folder < r["owned"][1]]
        quarantined = sum(judges.get(folder, []))
        folders[folder] = {"sent": lines, "owners": len(owners), "quarantined": quarantined}
    return {
        "runs": runs,
        "consumed_windows_tile": all(a["window"][1] == b["window"][0] for a, b in itertools.pairwise(consumed)),
        "folders": folders,
        "malformed_sent": sum(sent.values()) + unknown_folder,
        "malformed_sent_folder_unknown": unknown_folder,
        "folders_judged_by_two_runs": sorted(f for f, counts in judges.items() if len(counts) > 1),
        "quarantined_outside_owned_hours": sum(r["outside_owned"] for r in consumed),
        "malformed_lost": sum(max(0, f["sent"] - f["quarantined"]) for f in folders.values() if f["owners"]),
        "malformed_pending": sum(f["sent"] for f in folders.values() if not f["owners"]),
        "judged_before_their_owner": sum(f["quarantined"] for f in folders.values() if not f["owners"]),
    }


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
