"""Cycle time: from the retraining threshold being crossed to the new model serving, through the real local runtime.

For each threshold N (500, 5,000, 50,000) a fresh runtime is started with `python -m local up --detach` (synthesized
with N as `retrain_threshold` and the speed settings below), bootstrapped (`{"bootstrap": true}`), given N logged
decisions through the decisions Firehose stream and then N rewards through the rewards stream (PutRecordBatch, 500 a
call). Firehose (1 s buffer) → S3 → EventBridge → trigger → Step Functions (join, train, evaluate, deploy, finalize)
then runs by itself (after `WaitForRewards`: the window's reward wait, 1 s, plus the local Firehose delivery lag,
2.5 s, so that every decision of the window has landed with its reward); the benchmark only watches:

- `threshold_to_serving_s[N]`: execution start (the trigger starting it once the counter crossed N) → the endpoint
  InService on the new endpoint config AND a decision answered with the new `model_id` (whichever is later);
- the same from the moment the reward object that crossed the threshold landed in S3 (its Object Created), and from
  the last PutRecordBatch call returning;
- per-phase durations from the execution history (rewards due, join, train, evaluate, deploy, finalize).

`python -m bench loop` runs all three; `python -m bench.loop 500` runs the named thresholds only.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import write_result
from local.driver import FAST_SETTINGS, DetachedRuntime, execution_history, wait_execution
from local.driver import timestamp as _ts

THRESHOLDS = (500, 5000, 50000)
SPEED_SETTINGS: dict[str, Any] = {
    **FAST_SETTINGS,
    "min_training_rows": 50,
    "canary_wait_seconds": 1,
    "termination_wait_seconds": 0,
    "promotion_margin": 1.0,  # the gate always promotes: this measures the loop, not the estimator
}
PHASES: dict[str, tuple[str, ...]] = {
    "rewards_due": ("RewardsDue?", "WaitForRewards"),  # the window's reward wait plus the Firehose delivery lag
    "join": ("StartJoin", "WaitForJoin", "CheckJoin", "JoinDone?", "EnoughRows?"),
    "train": ("StartTraining", "WaitForTraining", "CheckTraining", "TrainingDone?", "IsBootstrap?"),
    "evaluate": ("StartEvaluation", "WaitForEvaluation", "CheckEvaluation", "EvaluationDone?", "Promote?"),
    "deploy": ("StartDeployment", "WaitForDeployment", "CheckDeployment", "DeploymentDone?"),
    "finalize": ("Finalize", "Succeed"),
}


def phase_durations(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds per phase (first state entered to last state exited) and per state (summed over visits)."""
    per_state: dict[str, float] = {}
    entered: dict[str, float] = {}
    spans: dict[str, list[float]] = {}
    for event in events:
        when = _ts(event["timestamp"])
        if "stateEnteredEventDetails" in event:
            name = event["stateEnteredEventDetails"]["name"]
            entered[name] = when
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            if name in entered:
                per_state[name] = per_state.get(name, 0.0) + when - entered.pop(name)
            for phase, states in PHASES.items():
                if name in states:
                    span = spans.setdefault(phase, [when, when])
                    span[1] = when
        else:
            continue
        if "stateEnteredEventDetails" in event:
            for phase, states in PHASES.items():
                if event["stateEnteredEventDetails"]["name"] in states:
                    span = spans.setdefault(phase, [when, when])
                    span[0] = min(span[0], when)
    phases = {phase: round(span[1] - span[0], 3) for phase, span in spans.items()}
    return {"phases": phases, "states": {k: round(v, 3) for k, v in per_state.items()}}


class Watcher(threading.Thread):
    """Polls the endpoint (DescribeEndpoint, InvokeEndpoint) and records when the new model first serves."""

    def __init__(self, runtime: Any, endpoint: str, old_config: str, old_model: str, requests: list[Any]) -> None:
        super().__init__(name="serving-watcher", daemon=True)
        from simulator import SageMakerDecisionClient

        self.sagemaker = runtime.client("sagemaker")
        self.decider = SageMakerDecisionClient(endpoint, runtime=runtime.client("sagemaker-runtime"))
        self.endpoint = endpoint
        self.old_config = old_config
        self.old_model = old_model
        self.requests = requests
        self.config_in_service_at: float | None = None
        self.new_config: str | None = None
        self.new_model_at: float | None = None
        self.new_model: str | None = None
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and (self.config_in_service_at is None or self.new_model_at is None):
            now = time.time()
            if self.config_in_service_at is None:
                try:
                    described = self.sagemaker.describe_endpoint(EndpointName=self.endpoint)
                    if (
                        described["EndpointStatus"] == "InService"
                        and described["EndpointConfigName"] != self.old_config
                    ):
                        self.config_in_service_at, self.new_config = now, described["EndpointConfigName"]
                except Exception:
                    self.errors += 1
            if self.new_model_at is None:
                try:
                    answers = self.decider.decide(self.requests)
                    models = {a["model_id"] for a in answers} - {self.old_model}
                    if models:
                        self.new_model_at, self.new_model = time.time(), sorted(models)[0]
                except Exception:
                    self.errors += 1
            self.stop.wait(0.2)


def logged_records(count: int, seed: int, experiment_id: str) -> tuple[list[bytes], list[bytes], list[Any]]:
    """`count` uniform-random logged decisions of the synthetic scenario (event times in the last few seconds, so
    the run's window `(watermark, crossing]` holds them) and one in-time reward each, as JSON lines; plus
    a few requests for probing the endpoint."""
    import numpy as np

    from simulator import build_scenario
    from simulator.rewards import RewardRecord, iso_time
    from simulator.scenarios import take
    from simulator.warmstart import decision_record

    rng = np.random.default_rng(seed)
    interactions = list(take(build_scenario("synthetic", seed=seed).interactions(count + 5), count + 5))
    probes = [i.request() for i in interactions[count:]]
    start = time.time() - 2.0
    step = 1.5 / max(1, count)
    decisions: list[bytes] = []
    rewards: list[bytes] = []
    for n, interaction in enumerate(interactions[:count]):
        index = int(rng.integers(len(interaction.candidates)))
        event_id = f"bench-{seed}-{n:07d}"
        at = start + n * step
        record = decision_record(interaction, index, event_id, iso_time(at), experiment_id)
        decisions.append(json.dumps(record, separators=(",", ":")).encode())
        reward = interaction.reward(interaction.candidates[index].id)
        rewards.append(RewardRecord(event_id, reward, iso_time(at + 0.2)).to_json())
    return decisions, rewards, probes


def _count_lines(s3: Any, bucket: str, prefix: str) -> int:
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            total += s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().count(b"\n")
    return total


def _crossing_object(s3: Any, bucket: str, threshold: int) -> dict[str, Any] | None:
    """The reward object whose records took the running count to the threshold (objects in LastModified order)."""
    objects: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="rewards/"):
        objects.extend(page.get("Contents", []))
    objects.sort(key=lambda o: (o["LastModified"], o["Key"]))
    running = 0
    for obj in objects:
        running += s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().count(b"\n")
        if running >= threshold:
            return {"key": obj["Key"], "last_modified": obj["LastModified"].timestamp(), "objects_before": running}
    return None


def measure_threshold(threshold: int, work: Path, timeout: float = 300.0) -> dict[str, Any]:
    """One fresh runtime, bootstrap, N decisions, N rewards; the cycle from the threshold to the new model serving."""
    from boto3.dynamodb.types import TypeDeserializer

    from simulator import FirehoseRewardSink

    load = os.getloadavg()
    settings = {**SPEED_SETTINGS, "retrain_threshold": threshold}
    runtime = DetachedRuntime(work / f"state-{threshold}", settings).start(timeout=300)
    try:
        sfn, s3 = runtime.client("stepfunctions"), runtime.client("s3")
        outputs = runtime.outputs
        machine, bucket, endpoint = outputs["StateMachineArn"], outputs["BucketName"], outputs["EndpointName"]
        boot_started = time.monotonic()
        boot = sfn.start_execution(
            stateMachineArn=machine, name="bootstrap-bench", input=json.dumps({"bootstrap": True})
        )
        described = wait_execution(sfn, boot["executionArn"], timeout)
        if described["status"] != "SUCCEEDED":
            raise RuntimeError(f"bootstrap ended {described['status']}")
        bootstrap_s = time.monotonic() - boot_started
        old = runtime.client("sagemaker").describe_endpoint(EndpointName=endpoint)
        experiment_id = endpoint.rsplit("-", 1)[0]
        item = runtime.client("dynamodb").get_item(
            TableName=outputs["ExperimentsTableName"], Key={"experiment_id": {"S": experiment_id}}
        )["Item"]
        old_model = TypeDeserializer().deserialize(item["serving_model_id"])

        prepared = time.monotonic()
        decisions, rewards, probes = logged_records(threshold, seed=threshold, experiment_id=experiment_id)
        generate_s = time.monotonic() - prepared
        firehose = runtime.client("firehose")
        sent = time.monotonic()
        FirehoseRewardSink(outputs["DecisionsStreamName"], firehose).send_records(decisions)
        deadline = time.monotonic() + 60
        while _count_lines(s3, bucket, "decisions/") < threshold and time.monotonic() < deadline:
            time.sleep(0.5)
        decisions_s = time.monotonic() - sent

        watcher = Watcher(runtime, endpoint, old["EndpointConfigName"], old_model, probes[:2])
        watcher.start()
        rewards_started = time.time()
        FirehoseRewardSink(outputs["RewardsStreamName"], firehose).send_records(rewards)
        rewards_sent = time.time()

        run: dict[str, Any] | None = None
        deadline = time.monotonic() + 60
        while run is None and time.monotonic() < deadline:
            found = [
                e for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["name"] != "bootstrap-bench"
            ]
            run = found[0] if found else None
            time.sleep(0.2)
        if run is None:
            watcher.stop.set()
            raise RuntimeError(f"no execution started after {threshold} rewards")
        described = wait_execution(sfn, run["executionArn"], timeout)
        deadline = time.monotonic() + 30
        while (watcher.config_in_service_at is None or watcher.new_model_at is None) and time.monotonic() < deadline:
            time.sleep(0.2)
        watcher.stop.set()
        watcher.join(timeout=5)

        started_at = _ts(described["startDate"])
        stopped_at = _ts(described["stopDate"]) if described.get("stopDate") else None
        crossing = _crossing_object(s3, bucket, threshold)
        serving_at = (
            max(watcher.config_in_service_at, watcher.new_model_at)
            if watcher.config_in_service_at is not None and watcher.new_model_at is not None
            else None
        )
        timings = phase_durations(execution_history(sfn, run["executionArn"]))
        run_input = json.loads(described.get("input") or "{}")
        joined = (
            runtime.client("dynamodb")
            .get_item(TableName=outputs["JoinsTableName"], Key={"run_id": {"S": run["name"]}})
            .get("Item", {})
        )
        rows_joined = int(joined["rows"]["N"]) if "rows" in joined and "N" in joined["rows"] else None

        def since(origin: float | None) -> float | None:
            return round(serving_at - origin, 2) if serving_at is not None and origin is not None else None

        return {
            "threshold": threshold,
            "status": described["status"],
            "execution": run["name"],
            "reward_count_at_start": run_input.get("reward_count"),
            "rows_joined": rows_joined,
            "threshold_to_serving_s": since(started_at),
            "crossing_object_to_serving_s": since(crossing["last_modified"] if crossing else None),
            "last_reward_sent_to_serving_s": since(rewards_sent),
            "rewards_put_seconds": round(rewards_sent - rewards_started, 2),
            "crossing_object_to_execution_start_s": round(started_at - crossing["last_modified"], 2)
            if crossing
            else None,
            "execution_seconds": round(stopped_at - started_at, 2) if stopped_at else None,
            "endpoint_in_service_on_new_config_s": round(watcher.config_in_service_at - started_at, 2)
            if watcher.config_in_service_at is not None
            else None,
            "first_decision_with_new_model_s": round(watcher.new_model_at - started_at, 2)
            if watcher.new_model_at is not None
            else None,
            "new_model_id": watcher.new_model,
            "new_endpoint_config": watcher.new_config,
            "phases_s": timings["phases"],
            "states_s": timings["states"],
            "setup": {
                "up_seconds": round(runtime.up_seconds, 1),
                "bootstrap_seconds": round(bootstrap_s, 1),
                "generate_seconds": round(generate_s, 1),
                "decisions_landed_seconds": round(decisions_s, 1),
                "watcher_errors": watcher.errors,
            },
            "load_average_at_start": [round(x, 2) for x in load],
        }
    finally:
        runtime.stop()


def measure(thresholds: tuple[int, ...] = THRESHOLDS, work: Path | None = None) -> dict[str, Any]:
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="bench-loop-")) if work is None else work
    runs: dict[str, Any] = {}
    try:
        for threshold in thresholds:
            try:
                runs[str(threshold)] = measure_threshold(threshold, work)
            except Exception as err:  # one size failing still leaves the others' figures
                runs[str(threshold)] = {"threshold": threshold, "error": f"{type(err).__name__}: {err}"}
    finally:
        if own:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    return {
        "threshold_to_serving_s": {k: v.get("threshold_to_serving_s") for k, v in runs.items()},
        "runs": runs,
        "settings": SPEED_SETTINGS,
        "measured_from": "Step Functions execution startDate (the trigger starting the run once the reward counter "
        "crossed the threshold) to the later of: endpoint InService on the new endpoint config, first InvokeEndpoint "
        "answer carrying the new model_id (both polled every ~0.2 s)",
        "target_s_at_5000": 15,
        "cpus": os.cpu_count(),
    }


def main(thresholds: tuple[int, ...] = THRESHOLDS) -> dict[str, Any]:
    result = measure(thresholds)
    write_result("loop", result)
    return result


if __name__ == "__main__":
    chosen = tuple(int(a) for a in sys.argv[1:]) or THRESHOLDS
    print(json.dumps(main(chosen), indent=2, sort_keys=True))
