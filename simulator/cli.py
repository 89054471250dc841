"""`python -m simulator run|warmstart|plot|download-shuttle`: the simulator's command line.

Names default to the stack's conventions for `--experiment-id` (endpoint `<id>-policy`, streams `<id>-decisions`
and `<id>-rewards`), so against the local runtime or a deployed stack only the scenario needs choosing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from simulator.channel import RewardFaults
from simulator.client import DecisionClient, HttpDecisionClient, SageMakerDecisionClient, SdkDecisionClient
from simulator.datasets import download_shuttle
from simulator.errors import SimulatorError
from simulator.plots import plot_run
from simulator.progress import Progress
from simulator.results import read_rounds, read_summary, write_result
from simulator.rewards import FirehoseRewardSink, JsonLinesRewardSink, RewardSink
from simulator.runner import SimulationInterrupted, run_simulation
from simulator.scenarios import DEFAULT_SHUTTLE_PATH, SCENARIOS, Scenario, build_scenario
from simulator.warmstart import logged_data, write_to_bucket, write_to_streams

DEFAULT_EXPERIMENT_ID = "bandit-demo"


def _scenario_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", choices=SCENARIOS, default="synthetic", help="environment to play")
    parser.add_argument("--data", type=Path, help=f"classification file (shuttle default: {DEFAULT_SHUTTLE_PATH})")
    parser.add_argument("--download", action="store_true", help="fetch UCI Statlog Shuttle to --data when missing")
    parser.add_argument("--context-format", choices=("context", "observation"), default="context")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--experiment-id", default=DEFAULT_EXPERIMENT_ID)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="play a scenario against the endpoint and send rewards")
    _scenario_options(run)
    run.add_argument("--interactions", type=int, default=10_000)
    run.add_argument("--endpoint-name", help="SageMaker endpoint (default <experiment-id>-policy)")
    run.add_argument("--invoke-url", help="POST straight to a serve process, e.g. http://127.0.0.1:8080/invocations")
    run.add_argument(
        "--client",
        choices=("sdk", "boto3"),
        default="sdk",
        help="sdk: the SageMaker Python SDK's Predictor (default); boto3: sagemaker-runtime invoke_endpoint",
    )
    run.add_argument("--rewards-stream", help="Firehose stream for rewards (default <experiment-id>-rewards)")
    run.add_argument("--rewards-file", type=Path, help="write rewards as JSON lines here instead of Firehose")
    run.add_argument("--batch-size", type=int, default=100, help="decisions per call ({instances: [...]}), 1-1000")
    run.add_argument("--delay", type=float, default=0.0, help="mean reward delay in rounds (exponential)")
    run.add_argument("--loss", type=float, default=0.0, help="share of rewards never sent")
    run.add_argument("--duplicates", type=float, default=0.0, help="share of rewards sent twice")
    run.add_argument("--drift-at", type=int, help="round from which the best action changes")
    run.add_argument("--add-action-at", type=int, help="reviews: round the third model joins (default: half-way)")
    run.add_argument("--rate", type=float, help="at most this many rounds per second")
    run.add_argument("--out", type=Path, default=Path("simulation"), help="directory for summary and plots")
    run.add_argument("--no-plots", action="store_true")
    run.add_argument("--quiet", action="store_true", help="no progress lines")

    warm = commands.add_parser("warmstart", help="write uniformly random logged decisions and their rewards")
    _scenario_options(warm)
    warm.add_argument("--count", type=int, default=100, help="logged decisions (reference protocol: 100)")
    warm.add_argument("--bucket", help="write into s3://BUCKET/decisions|rewards/YYYY/MM/DD/HH/")
    warm.add_argument("--decisions-stream", help="or send through Firehose (default <experiment-id>-decisions)")
    warm.add_argument("--rewards-stream", help="Firehose rewards stream (default <experiment-id>-rewards)")
    warm.add_argument("--age-seconds", type=float, default=0.0, help="date the records this long ago")

    plot = commands.add_parser("plot", help="redraw the PNGs of a run directory")
    plot.add_argument("summary_dir", type=Path)

    fetch = commands.add_parser("download-shuttle", help="fetch UCI Statlog Shuttle (needs internet)")
    fetch.add_argument("path", type=Path, nargs="?", default=DEFAULT_SHUTTLE_PATH)
    return parser


def _scenario(args: argparse.Namespace, drift_at: int | None = None, add_at: int | None = None) -> Scenario:
    data = args.data
    if args.download and args.scenario in ("shuttle", "cbify"):
        data = data or DEFAULT_SHUTTLE_PATH
        if not Path(data).exists():
            download_shuttle(data)
    return build_scenario(args.scenario, args.seed, data, drift_at, add_at, args.context_format)


def _client(args: argparse.Namespace) -> DecisionClient:
    if args.invoke_url:
        return HttpDecisionClient(args.invoke_url)
    endpoint = args.endpoint_name or f"{args.experiment_id}-policy"
    return SdkDecisionClient(endpoint) if args.client == "sdk" else SageMakerDecisionClient(endpoint)


def _sink(args: argparse.Namespace) -> RewardSink:
    if args.rewards_file:
        return JsonLinesRewardSink(args.rewards_file)
    return FirehoseRewardSink(args.rewards_stream or f"{args.experiment_id}-rewards")


def _run(args: argparse.Namespace) -> int:
    scenario = _scenario(args, args.drift_at, args.add_action_at)
    faults = RewardFaults(args.delay, args.loss, args.duplicates)
    client = _client(args)
    failure: SimulationInterrupted | None = None
    try:
        result = run_simulation(
            scenario,
            args.interactions,
            client,
            _sink(args),
            batch_size=args.batch_size,
            faults=faults,
            seed=args.seed,
            rate=args.rate,
            progress=None if args.quiet else Progress(args.interactions),
        )
    except SimulationInterrupted as error:  # keep what was played: its summary and plots still tell the story
        failure, result = error, error.result
    finally:
        client.close()
    summary_path = write_result(result, args.out)
    if not args.no_plots:
        plot_run(result.rounds, result.summary(), args.out)
    summary = result.summary()
    brief = {k: summary[k] for k in ("interactions", "mean_reward", "last_1000_mean_reward", "rewards")}
    print(json.dumps({"summary": str(summary_path), **brief, "baselines": summary["baselines"]}, indent=2))
    if failure is not None:
        raise failure
    return 0


def _warmstart(args: argparse.Namespace) -> int:
    scenario = _scenario(args)
    data = logged_data(scenario, args.count, args.seed, args.experiment_id, time.time() - args.age_seconds)
    if args.bucket:
        keys = write_to_bucket(data, args.bucket)
        print(json.dumps({"bucket": args.bucket, "keys": keys, "decisions": len(data.decisions)}))
    else:
        decisions = args.decisions_stream or f"{args.experiment_id}-decisions"
        rewards = args.rewards_stream or f"{args.experiment_id}-rewards"
        print(json.dumps({"streams": [decisions, rewards], **write_to_streams(data, decisions, rewards)}))
    return 0


def _plot(args: argparse.Namespace) -> int:
    paths = plot_run(read_rounds(args.summary_dir), read_summary(args.summary_dir), args.summary_dir)
    print("\n".join(str(p) for p in paths))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"run": _run, "warmstart": _warmstart, "plot": _plot}
    try:
        if args.command == "download-shuttle":
            print(download_shuttle(args.path))
            return 0
        return handlers[args.command](args)
    except (SimulatorError, ValueError, OSError) as error:
        print(f"simulator: error: {error}", file=sys.stderr)
        return 1
