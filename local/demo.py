"""`python -m local demo`: the whole loop on one machine, with a report.

1. `up`: synthesize the stack with the demo's settings (small threshold, short reward wait, 1 s polls, a few seconds
   of canary), start the gateway, provision the template.
2. Bootstrap: optionally warm-start data from the simulator (uniformly random logged decisions and their rewards,
   through Firehose), then a `{"bootstrap": true}` execution creates the endpoint with the first policy.
3. The simulator plays the scenario against the endpoint (InvokeEndpoint through the gateway) and sends rewards to
   the rewards stream; every `retrain_threshold` rewards the trigger starts a retraining run.
4. When the simulator is done, wait for the runs in flight, then print a table per run and write the reward curve
   PNG, the simulator summary and each execution's history as text under `--out`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from local.driver import list_executions, wait_execution
from local.history import render_history
from local.runtime import DEMO_SETTINGS, LocalRuntime

REPO_ROOT = Path(__file__).resolve().parent.parent


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scenario",
        default="synthetic",
        help="simulator scenario: synthetic (built in, no file), shuttle, cbify, reviews",
    )
    p.add_argument("--data", help="classification file for shuttle/cbify (default ../shared/data/shuttle.trn)")
    p.add_argument("--interactions", type=int, default=6000, help="simulated interactions")
    p.add_argument("--batch-size", type=int, default=50, help="decisions per InvokeEndpoint call")
    p.add_argument("--rate", type=float, default=40.0, help="interactions per second (spreads the run over time)")
    p.add_argument("--threshold", type=int, default=DEMO_SETTINGS["retrain_threshold"], help="rewards per run")
    p.add_argument("--warm-start", type=int, default=0, help="logged uniform-random decisions before bootstrap")
    p.add_argument("--settings", help="JSON object merged over the demo settings")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--out", default=str(REPO_ROOT / "local" / ".state" / "demo"), help="report, plots, histories")
    p.add_argument("--wait", type=float, default=240, help="seconds to wait for runs in flight after the simulator")


def _log(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _endpoint_status(runtime: LocalRuntime, name: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        return runtime.client("sagemaker").describe_endpoint(EndpointName=name)["EndpointStatus"]
    except ClientError:
        return None


def _section(output: Any, key: str) -> dict[str, Any]:
    """`output[key]` when the execution's output has that object, else an empty one."""
    value = output.get(key) if isinstance(output, dict) else None
    return value if isinstance(value, dict) else {}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _scan(runtime: LocalRuntime, table: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    ddb = runtime.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        items.extend({k: _plain(deserializer.deserialize(v)) for k, v in item.items()} for item in page["Items"])
    return items


def _interval(scores: dict[str, Any], policy: str, estimator: str) -> str:
    value = (((scores.get("policies") or {}).get(policy) or {}).get(estimator)) or {}
    if "value" not in value:
        return "-"
    return f"{value['value']:.3f} [{value.get('ci_low', float('nan')):.3f}, {value.get('ci_high', float('nan')):.3f}]"


def run_report(
    runtime: LocalRuntime, model_first_seen: dict[str, float], estimator: str
) -> tuple[list[dict[str, Any]], str]:
    """One row per execution: window, rows, candidate and serving values, promotion, deployment, cycle time."""
    outputs = runtime.outputs()
    sfn = runtime.client("stepfunctions")
    joins = {j["run_id"]: j for j in _scan(runtime, outputs["JoinsTableName"])}
    models = _scan(runtime, outputs["ModelsTableName"])
    by_run: dict[str, dict[str, Any]] = {}
    for model in models:
        if model.get("run_id"):
            by_run[model["run_id"]] = model
    rows: list[dict[str, Any]] = []
    for execution in list_executions(sfn, outputs["StateMachineArn"]):
        name = execution["name"]
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        run_input = json.loads(described.get("input") or "{}")
        run_output = json.loads(described.get("output") or "{}") if described.get("output") else {}
        deployment = _section(run_output, "deployment")
        result = _section(run_output, "result")
        join = joins.get(name, {})
        model = by_run.get(name, {})
        scores = json.loads(model["scores"]) if isinstance(model.get("scores"), str) else (model.get("scores") or {})
        window = run_input.get("window") or {}
        model_id = model.get("model_id")
        started = execution["startDate"].timestamp()
        serving_after = None
        if model_id and model_id in model_first_seen:
            serving_after = model_first_seen[model_id] - started
        rows.append(
            {
                "run": name,
                "status": described["status"],
                "kind": "bootstrap"
                if run_input.get("bootstrap")
                else ("rollback" if "rollback_to" in run_input else "retrain"),
                "window_start": join.get("window_start") or window.get("start"),
                "window_end": join.get("window_end") or window.get("end"),
                "reward_count": run_input.get("reward_count"),
                "rows_joined": int(join["rows"]) if join.get("rows") is not None else None,
                "model_id": model_id,
                "candidate": _interval(scores, "candidate", estimator),
                "serving": _interval(scores, "serving", estimator),
                "promoted": scores.get("promote") if scores else None,
                "outcome": result.get("outcome") or ("failed" if described["status"] == "FAILED" else None),
                # a rejected candidate rolled out beside the serving model reads as what it is
                "deployment": "challenger"
                if deployment.get("status") == "deployed" and deployment.get("challenger_share") is not None
                else deployment.get("status"),
                "deployment_reason": deployment.get("reason"),
                "model_state": model.get("state"),
                "seconds_to_serving": round(serving_after, 1) if serving_after is not None else None,
                "execution_seconds": round(
                    (execution.get("stopDate") or dt.datetime.now(dt.UTC)).timestamp() - started, 1
                ),
            }
        )
    header = (
        f"{'run':34} {'status':9} {'kind':9} {'window (UTC)':27} {'rows':>5} "
        f"{'candidate ' + estimator:25} {'serving ' + estimator:25} {'promoted':8} {'outcome':17} {'deployment':11} "
        f"{'to serving':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        window = "-"
        if r["window_start"] or r["window_end"]:
            window = f"{str(r['window_start'] or '')[11:19]}..{str(r['window_end'] or '')[11:19]}"
        lines.append(
            f"{r['run'][:34]:34} {r['status'][:9]:9} {r['kind']:9} {window:27} {r['rows_joined'] or '-':>5} "
            f"{r['candidate']:25} {r['serving']:25} {r['promoted'] if r['promoted'] is not None else '-'!s:8} "
            f"{r['outcome'] or '-'!s:17} {r['deployment'] or '-'!s:11} "
            f"{(str(r['seconds_to_serving']) + 's') if r['seconds_to_serving'] is not None else '-':>10}"
        )
    return rows, "\n".join(lines)


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    overrides = dict(DEMO_SETTINGS)
    overrides["retrain_threshold"] = args.threshold
    if args.settings:
        overrides.update(json.loads(args.settings))
    started = time.monotonic()
    _log(f"synthesizing the stack and starting the local runtime (settings {json.dumps(overrides)})")
    runtime = LocalRuntime(settings_overrides=overrides, port=args.port, state_dir=Path(args.state_dir))
    runtime.start()
    try:
        return _demo(runtime, args, out, started, overrides)
    finally:
        _log("stopping the local runtime")
        runtime.close()


def _demo(runtime: LocalRuntime, args: argparse.Namespace, out: Path, started: float, overrides: dict[str, Any]) -> int:
    from simulator import FirehoseRewardSink, SdkDecisionClient, build_scenario, run_simulation, summarise
    from simulator.plots import plot_run
    from simulator.progress import Progress
    from simulator.results import write_result

    outputs = runtime.outputs()
    _log(
        f"runtime up at {runtime.url} in {runtime.timings['up_seconds']:.1f}s "
        f"(synth {runtime.timings['synth_seconds']:.1f}s); export AWS_ENDPOINT_URL={runtime.url} to inspect"
    )
    sfn = runtime.client("stepfunctions")
    machine = outputs["StateMachineArn"]
    scenario_kwargs: dict[str, Any] = {"seed": args.seed}
    if args.data:
        scenario_kwargs["data"] = args.data
    elif args.scenario == "shuttle":
        scenario_kwargs["data"] = REPO_ROOT.parent / "shared" / "data" / "shuttle.trn"
    scenario = build_scenario(args.scenario, **scenario_kwargs)

    if args.warm_start:
        from simulator.warmstart import logged_data, write_to_streams

        data = logged_data(
            build_scenario(args.scenario, **{**scenario_kwargs, "seed": args.seed + 1}),
            args.warm_start,
            seed=args.seed,
            experiment_id=outputs["EndpointName"].rsplit("-", 1)[0],
        )
        counts = write_to_streams(
            data, outputs["DecisionsStreamName"], outputs["RewardsStreamName"], runtime.client("firehose")
        )
        _log(f"warm start: {counts['decisions']} logged decisions and {counts['rewards']} rewards sent")
        runtime.gateway.wait_idle(30)
        # At or above the threshold the trigger starts the first run itself: it trains on the logged data,
        # evaluates against the logging policy and creates the endpoint. Below it, the bootstrap trains on them.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and counts["rewards"] >= overrides["retrain_threshold"]:
            warm_runs = list_executions(sfn, machine)
            if warm_runs:
                described = wait_execution(sfn, warm_runs[0]["executionArn"], 300)
                _log(f"first run {warm_runs[0]['name']} (warm start) {described['status']}")
                break
            time.sleep(0.5)

    if _endpoint_status(runtime, outputs["EndpointName"]) != "InService":
        _log("bootstrap: creating the endpoint with the first policy")
        boot = sfn.start_execution(
            stateMachineArn=machine, name=f"bootstrap-{int(time.time())}", input=json.dumps({"bootstrap": True})
        )
        described = wait_execution(sfn, boot["executionArn"], 300)
        if described["status"] != "SUCCEEDED":
            print(render_history(sfn, boot["executionArn"]), file=sys.stderr)
            _log(f"bootstrap ended {described['status']}; stopping")
            return 1
        _log(f"bootstrap SUCCEEDED in {(described['stopDate'] - described['startDate']).total_seconds():.1f}s")

    model_first_seen: dict[str, float] = {}

    def on_batch(rounds: Any) -> None:
        now = time.time()
        for r in rounds:
            model_first_seen.setdefault(r.model_id, now)

    # the SageMaker Python SDK's predictor, as an application on the SDK calls the endpoint
    decisions = SdkDecisionClient(outputs["EndpointName"], runtime=runtime.client("sagemaker-runtime"))
    sink = FirehoseRewardSink(outputs["RewardsStreamName"], runtime.client("firehose"))
    _log(
        f"simulator: {args.interactions} interactions of '{args.scenario}' at {args.rate}/s, "
        f"a retraining run every {overrides['retrain_threshold']} rewards"
    )
    result = run_simulation(
        scenario,
        args.interactions,
        decisions,
        sink,
        batch_size=args.batch_size,
        seed=args.seed,
        rate=args.rate,
        progress=Progress(args.interactions, stream=sys.stdout, every_seconds=5),
        on_batch=on_batch,
    )
    runtime.gateway.wait_idle(30)

    _log("simulator done; waiting for runs in flight")
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        running = [e for e in list_executions(sfn, machine) if e["status"] == "RUNNING"]
        if not running:
            break
        time.sleep(1)

    summary = summarise(result)
    write_result(result, out)
    pictures = plot_run(result.rounds, summary, out)
    histories = out / "executions"
    histories.mkdir(exist_ok=True)
    for execution in list_executions(sfn, machine):
        (histories / f"{execution['name']}.txt").write_text(
            render_history(sfn, execution["executionArn"], width=220) + "\n"
        )

    estimator = overrides.get("promotion_estimator", "dr")
    rows, table = run_report(runtime, model_first_seen, estimator)
    (out / "runs.json").write_text(json.dumps(rows, indent=2, default=str))
    (out / "runs.txt").write_text(table + "\n")
    print()
    print(table)
    print()

    rewards = [r.reward for r in result.rounds]
    batch = max(1, min(500, len(rewards) // 5))
    first, last = sum(rewards[:batch]) / batch, sum(rewards[-batch:]) / batch
    best_constant = summary["baselines"].get("best_constant")
    retrains = [r for r in rows if r["kind"] == "retrain"]
    succeeded = [r for r in retrains if r["status"] == "SUCCEEDED"]
    print(
        f"runs: {len(retrains)} retraining ({len(succeeded)} SUCCEEDED), "
        f"{sum(1 for r in retrains if r['promoted'])} promoted, "
        f"{sum(1 for r in retrains if r['deployment'] == 'deployed')} deployed, "
        f"{sum(1 for r in retrains if r['deployment'] == 'challenger')} deployed as challengers, "
        f"{sum(1 for r in retrains if r['deployment'] == 'rolled_back')} rolled back"
    )
    cycle = [r["seconds_to_serving"] for r in retrains if r["seconds_to_serving"] is not None]
    if cycle:
        print(f"threshold to new model serving: median {sorted(cycle)[len(cycle) // 2]:.1f}s, max {max(cycle):.1f}s")
    print(
        f"mean reward: first {batch} interactions {first:.3f}, last {batch} {last:.3f}; "
        f"best constant action {best_constant:.3f}, uniform {summary['baselines'].get('uniform', float('nan')):.3f}, "
        f"oracle {summary['baselines'].get('oracle', float('nan')):.3f}"
    )
    learned = last > first and best_constant is not None and last > best_constant
    print(f"learning: {'yes' if learned else 'NO'} (last batch above the first and above the best constant action)")
    print(f"outputs: {', '.join(str(p) for p in pictures)}, {out / 'runs.txt'}, {histories}/")
    print(f"total {time.monotonic() - started:.0f}s")
    return 0 if succeeded and all(r["status"] == "SUCCEEDED" for r in retrains) else 2
