"""Kept libraries against the hand-written parts of `serve`, side by side in one run (`serve_compare.json`).

Three variants of `python -m container serve` (through `bench._serve_variant`), all with every decision logged to
Firehose (moto's server in its own process, `nice 10`, as in `bench/serve.py`), the same model, the same worker
count (one per CPU), the same load:

- `handwritten+lean`: the hand-written server (`bench/_handwritten_server.py`: asyncio, httptools, uvloop) and the
  hand-written `PutRecordBatch` client (`bench/_lean_firehose.py`): what `serve` ran before;
- `handwritten+boto3`: the same server, boto3's Firehose client;
- `uvicorn+boto3`: what `serve` runs now (`container/serving/server.py`: uvicorn with httptools and uvloop, the same
  `DecisionApp` through a minimal ASGI app) and boto3's Firehose client.

The three run for the whole benchmark (idle ones cost nothing) and are measured in turns, a few seconds each, so
each sees the same drift in the machine's load (the machine is shared: other sessions' jobs come and go within
seconds): after a 2 s warm-up each, `LATENCY_CYCLES` turns of the latency at ~1,000 req/s offered (`wrk`, 12 paced
connections; p99 = the median of the turns), then `CYCLES` turns of closed-loop throughput (`wrk`, 16 connections,
64 contexts), in the order A B C, C B A, ... Before every turn moto has delivered what came before (`_wait_idle`),
so a turn pays for its own logging. `decisions_per_s` is all requests of a variant over all its turns' seconds;
`cpu_us_per_decision` is the serve processes' CPU per request in those turns (less sensitive to other load).
Per-cycle ratios give the spread.

The decisions (`docs/benchmarks.md`, over the runs): the Firehose client (`handwritten+lean` / `handwritten+boto3`
decisions/s; the hand-written client would have stayed at >= 1.3) and the server (`handwritten+boto3` /
`uvicorn+boto3`, decisions/s or the inverse p99 ratio; the hand-written server would have stayed at >= 1.5).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.common import write_result  # noqa: E402
from bench.serve import (  # noqa: E402
    TRAIN_ROWS,
    _cpu_seconds,
    _shuttle_rows,
    _train,
    _wait_idle,
    _wait_ready,
    _wrk,
    _wrk_paced,
    start_moto,
)
from local.driver import free_port as _free_port  # noqa: E402

VARIANTS = (("handwritten", "lean"), ("handwritten", "boto3"), ("uvicorn", "boto3"))
CYCLES = int(os.environ.get("BENCH_COMPARE_CYCLES", "8"))
LATENCY_CYCLES = 4
THROUGHPUT_SECONDS = 3
LATENCY_SECONDS = 4
CLIENT_THRESHOLD = 1.3
SERVER_THRESHOLD = 1.5


def _name(variant: tuple[str, str]) -> str:
    return "+".join(variant)


class Variant:
    """One `serve` variant running for the whole benchmark, with what was measured against it."""

    def __init__(self, variant: tuple[str, str], env: dict[str, str]) -> None:
        self.name = _name(variant)
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench._serve_variant", *variant],
            cwd=REPO_ROOT,
            env={**env, "SAGEMAKER_BIND_TO_PORT": str(self.port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}/invocations"
        self.bursts: list[dict[str, Any]] = []
        self.latency: list[dict[str, Any]] = []
        self.answered = 0
        self.output = ""

    def burst(self, bodies: list[str], work: Path) -> dict[str, Any]:
        cpu_before = _cpu_seconds(self.process.pid)
        load = os.getloadavg()[0]
        result = _wrk(self.url, bodies, THROUGHPUT_SECONDS, work)
        result["cpu_s"] = _cpu_seconds(self.process.pid) - cpu_before
        result["load_average"] = round(load, 2)
        self.answered += result["requests"] - result["non_2xx"]
        self.bursts.append(result)
        return result

    def paced(self, body: str, work: Path) -> dict[str, Any]:
        result = _wrk_paced(self.url, body, LATENCY_SECONDS, work)
        self.answered += result["statuses"][200]
        self.latency.append(result)
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.output, _ = self.process.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.output, _ = self.process.communicate()

    def summary(self) -> dict[str, Any]:
        stopped = re.findall(r"served=(\d+) delivered=(\d+) retried=(\d+) spilled=(\d+)", self.output)
        requests = sum(b["requests"] for b in self.bursts)
        seconds = THROUGHPUT_SECONDS * len(self.bursts)
        p99s = [r["p99"] for r in self.latency]
        return {
            "decisions_per_s": round(requests / seconds, 1),
            "decisions_per_s_bursts": [b["per_s"] for b in self.bursts],
            "cpu_us_per_decision": round(sum(b["cpu_s"] for b in self.bursts) / max(requests, 1) * 1e6, 1),
            "p99_ms_median": statistics.median(p99s),
            "latency_ms_bursts": [{k: r[k] for k in ("p50", "p90", "p99", "slowest")} for r in self.latency],
            "non_2xx": sum(b["non_2xx"] for b in self.bursts) + sum(r["statuses"]["other"] for r in self.latency),
            "workers": len(stopped),
            "answered_200": self.answered,
            "served": sum(int(s[0]) for s in stopped),
            "delivered": sum(int(s[1]) for s in stopped),
            "spilled": sum(int(s[3]) for s in stopped),
        }


def _cycle_ratios(lean: dict, boto: dict, uvi: dict) -> dict[str, float]:
    return {
        "client_lean_over_boto3_decisions_per_s": round(lean["per_s"] / boto["per_s"], 3),
        "server_handwritten_over_uvicorn_decisions_per_s": round(boto["per_s"] / uvi["per_s"], 3),
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": round(statistics.median(values), 3), "max": max(values)}


def main() -> dict[str, Any]:
    import boto3

    load = {"start": round(os.getloadavg()[0], 2)}
    rows = _shuttle_rows()
    work = Path(tempfile.mkdtemp(prefix="bench-serve-compare-"))
    _train(work, rows)
    moto, endpoint = start_moto()
    variants: list[Variant] = []
    cycles: list[dict[str, Any]] = []
    try:
        fake = {"region_name": "us-east-1", "aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
        boto3.client("s3", endpoint_url=endpoint, **fake).create_bucket(Bucket="bench-lake")
        boto3.client("firehose", endpoint_url=endpoint, **fake).create_delivery_stream(
            DeliveryStreamName="bench-decisions",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::bench-lake",
                "Prefix": "decisions/",
            },
        )
        env = {
            **os.environ,
            "SM_ML_ROOT": str(work),
            "DECISIONS_STREAM": "bench-decisions",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "EXPERIMENT_ID": "bench",
            "PYTHONPATH": str(REPO_ROOT),
        }
        bodies = [json.dumps({"observation": row[:-1]}) for row in rows[TRAIN_ROWS : TRAIN_ROWS + 64]]
        variants = [Variant(v, env) for v in VARIANTS]
        for variant in variants:
            _wait_ready(variant.port, variant.process)
            _wrk(variant.url, bodies, 2, work)  # warm-up (not counted)
        for index in range(LATENCY_CYCLES):  # steady state first: nothing else buffered
            for variant in variants if index % 2 == 0 else variants[::-1]:
                _wait_idle(moto.pid)
                variant.paced(bodies[0], work)
        load["before_throughput"] = round(os.getloadavg()[0], 2)
        for index in range(CYCLES):  # A B C, C B A, ...: each variant sees the same drift in the machine's load
            order = variants if index % 2 == 0 else variants[::-1]
            bursts = {}
            for variant in order:
                _wait_idle(moto.pid)  # the previous burst's records delivered: each burst pays for its own logging
                bursts[variant.name] = variant.burst(bodies, work)
            ratios = _cycle_ratios(*(bursts[_name(v)] for v in VARIANTS))
            cycles.append({"order": [v.name for v in order], **ratios})
            print(f"cycle {index + 1}: {[round(b['per_s']) for b in bursts.values()]} {ratios}", flush=True)
    finally:
        for variant in variants:
            variant.stop()
        moto_cpu = _cpu_seconds(moto.pid)
        moto.terminate()
        moto.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    load["end"] = round(os.getloadavg()[0], 2)

    summaries = {v.name: v.summary() for v in variants}
    lean, boto, uvi = (summaries[_name(v)] for v in VARIANTS)
    client_cycles = [c["client_lean_over_boto3_decisions_per_s"] for c in cycles]
    server_cycles = [c["server_handwritten_over_uvicorn_decisions_per_s"] for c in cycles]
    overall = {
        "client_lean_over_boto3_decisions_per_s": round(lean["decisions_per_s"] / boto["decisions_per_s"], 3),
        "client_boto3_over_lean_cpu_us": round(boto["cpu_us_per_decision"] / lean["cpu_us_per_decision"], 3),
        "server_handwritten_over_uvicorn_decisions_per_s": round(boto["decisions_per_s"] / uvi["decisions_per_s"], 3),
        "server_uvicorn_over_handwritten_p99": round(uvi["p99_ms_median"] / boto["p99_ms_median"], 3),
        "server_uvicorn_over_handwritten_cpu_us": round(uvi["cpu_us_per_decision"] / boto["cpu_us_per_decision"], 3),
    }
    data = {
        "variants": summaries,
        "cycles": cycles,
        "ratios": overall,
        "ratio_spread_over_cycles": {
            "client_lean_over_boto3_decisions_per_s": _spread(client_cycles),
            "server_handwritten_over_uvicorn_decisions_per_s": _spread(server_cycles),
        },
        "decisions": {
            "keep_lean_firehose_client (>= 1.3x decisions/s)": overall["client_lean_over_boto3_decisions_per_s"]
            >= CLIENT_THRESHOLD,
            "keep_handwritten_server (>= 1.5x decisions/s or p99)": overall[
                "server_handwritten_over_uvicorn_decisions_per_s"
            ]
            >= SERVER_THRESHOLD
            or overall["server_uvicorn_over_handwritten_p99"] >= SERVER_THRESHOLD,
        },
        "thresholds": {"client": CLIENT_THRESHOLD, "server": SERVER_THRESHOLD},
        "load_tools": {
            "throughput": f"wrk -t1 -c16, closed loop, {CYCLES} bursts of {THROUGHPUT_SECONDS} s per variant",
            "latency": f"wrk -t1 -c12, random 4-16 ms pause per connection (~1,000 req/s), {LATENCY_CYCLES} x "
            f"{LATENCY_SECONDS} s per variant (p99: the median of the bursts)",
        },
        "sink": "firehose (moto server in its own process, nice 10)",
        "load_average": load,
        "moto_cpu_s": round(moto_cpu, 1),
        "cpus": os.cpu_count(),
    }
    write_result("serve_compare", data)
    return data


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
