"""Join throughput: the project's join SQL (`lambdas/pipeline_common/join_sql.py`) run by the local Athena engine
through the gateway, over Firehose-layout objects in moto's S3 read via Glue tables with partition projection.

Figures (`bench/results/join.json`):
- `rows_per_s`: joined rows / the UNLOAD's end-to-end seconds (submit to SUCCEEDED, cold download cache), for
  1,000,000 decisions and ~1,000,000 reward lines (duplicates, unknown event ids, late and malformed lines);
- `files_read_per_run`: successive runs, each adding the same number of new hours and joining only those, with the
  objects each UNLOAD and count query read (the engine's `files_read`): flat as the history grows;
- `baseline`: DuckDB's `read_json` + `count(*)` over the same files on local disk, the floor for reading them.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import write_result
from infra.data_lake import (  # the Glue schema the stack deploys
    DECISION_COLUMNS,
    REWARD_COLUMNS,
    glue_table_input,
)

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "lambdas") not in sys.path:
    sys.path.insert(0, str(REPO / "lambdas"))

from pipeline_common import join_sql  # noqa: E402
from pipeline_common.timefmt import hour_partition, iso  # noqa: E402
from pipeline_common.window import Window  # noqa: E402

REWARD_WAIT_SECONDS = 600
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


@dataclass
class Mix:
    """Shares of the reward stream, relative to the number of decisions."""

    rewarded: float = 0.93  # decisions that get a reward in time
    late: float = 0.02  # decisions whose (only) reward arrives after the wait
    duplicates: float = 0.02  # extra copies of rewards (a retried delivery)
    unknown: float = 0.01  # rewards for event ids no decision has
    malformed: float = 0.01  # lines that are not a reward: not JSON, a non-number reward, missing fields


@dataclass
class Dataset:
    """What `generate` wrote: local files by table and hour, and the counts the join should report."""

    root: Path
    files: dict[str, dict[str, list[Path]]] = field(default_factory=lambda: {"decisions": {}, "rewards": {}})
    decisions: int = 0
    reward_lines: int = 0
    malformed: int = 0
    late: int = 0
    unknown: int = 0
    duplicates: int = 0
    raw_bytes: int = 0
    stored_bytes: int = 0

    def all_files(self, table: str) -> list[Path]:
        return [p for hour in sorted(self.files[table]) for p in self.files[table][hour]]


def _decision_line(event_id: str, when: str, action_index: int, rng: random.Random) -> str:
    x1, x2 = rng.random(), rng.random()
    prob = 0.25
    return (
        f'{{"event_id": "{event_id}", "event_time": "{when}", "experiment_id": "bench", "model_id": "m-0001",'
        f' "context": "{{\\"x1\\": {x1:.4f}, \\"x2\\": {x2:.4f}, \\"segment\\": \\"s{action_index}\\"}}",'
        ' "actions": "[{\\"id\\": \\"a0\\"}, {\\"id\\": \\"a1\\"}, {\\"id\\": \\"a2\\"}, {\\"id\\": \\"a3\\"}]",'
        f' "action": "a{action_index}", "action_index": {action_index}, "action_prob": {prob},'
        ' "probabilities": "[0.25, 0.25, 0.25, 0.25]", "challenger_model_id": null}\n'
    )


def _reward_line(event_id: str, reward: float, when: str) -> str:
    return f'{{"event_id": "{event_id}", "reward": {reward}, "reward_time": "{when}"}}\n'


_MALFORMED = (
    "this is not json\n",
    '{"event_id": "%s", "reward": "not a number", "reward_time": "%s"}\n',
    '{"event_id": "%s", "reward_time": "%s"}\n',
    "[1, 2, 3]\n",
)


def generate(
    root: Path,
    decisions: int,
    hours: int,
    files_per_hour: int = 5,
    start: datetime = START,
    mix: Mix | None = None,
    compress: bool = True,
    seed: int = 7,
) -> Dataset:
    """Write `decisions` decisions spread evenly over `hours` hour folders from `start`, and their rewards.

    Layout as Firehose delivers: `<root>/<table>/YYYY/MM/DD/HH/<stream>-<n>[.gz]`, JSON lines. A reward lands in
    the hour folder of its reward time (in time: within 1-300 s of its decision; late: 900-1800 s after).
    """
    mix = mix or Mix()
    rng = random.Random(seed)
    data = Dataset(root=root)
    per_hour = decisions // hours
    tag = uuid.uuid4().hex[:6]
    reward_hours: dict[str, list[str]] = {}
    for h in range(hours):
        hour_start = start + timedelta(hours=h)
        count = per_hour if h < hours - 1 else decisions - per_hour * (hours - 1)
        lines: list[str] = []
        step = 3600.0 / count
        for i in range(count):
            when = hour_start + timedelta(seconds=(i + 0.5) * step)
            event_id = f"{tag}-{h:04d}-{i:07d}"
            action_index = rng.randrange(4)
            lines.append(_decision_line(event_id, iso(when), action_index, rng))
            draw = rng.random()
            reward = 1.0 if rng.random() < 0.3 + 0.1 * action_index else 0.0
            if draw < mix.rewarded:
                arrive = when + timedelta(seconds=rng.uniform(1, 300))
            elif draw < mix.rewarded + mix.late:
                arrive = when + timedelta(seconds=rng.uniform(REWARD_WAIT_SECONDS + 300, REWARD_WAIT_SECONDS + 1200))
                data.late += 1
            else:
                continue
            line = _reward_line(event_id, reward, iso(arrive))
            reward_hours.setdefault(hour_partition(arrive), []).append(line)
            extra = rng.random()
            if extra < mix.duplicates:
                again = arrive + timedelta(seconds=rng.uniform(1, 60))
                reward_hours.setdefault(hour_partition(again), []).append(
                    _reward_line(event_id, 1.0 - reward, iso(again))
                )
                data.duplicates += 1
            elif extra < mix.duplicates + mix.unknown:
                reward_hours.setdefault(hour_partition(arrive), []).append(
                    _reward_line(f"ghost-{event_id}", 1.0, iso(arrive))
                )
                data.unknown += 1
            elif extra < mix.duplicates + mix.unknown + mix.malformed:
                template = _MALFORMED[rng.randrange(len(_MALFORMED))]
                text = template % (event_id, iso(arrive)) if "%s" in template else template
                reward_hours.setdefault(hour_partition(arrive), []).append(text)
                data.malformed += 1
        data.decisions += count
        _write_hour(data, "decisions", hour_partition(hour_start), lines, files_per_hour, compress, tag)
    for hour, lines in sorted(reward_hours.items()):
        data.reward_lines += len(lines)
        _write_hour(data, "rewards", hour, lines, files_per_hour, compress, tag)
    return data


def _write_hour(data: Dataset, table: str, hour: str, lines: list[str], pieces: int, compress: bool, tag: str) -> None:
    folder = data.root / table / hour
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(lines) // pieces)
    for n in range(pieces):
        chunk = "".join(lines[n * size : (n + 1) * size]).encode()
        if not chunk:
            continue
        name = f"bandit-{table}-{hour.replace('/', '-')}-{tag}-{n}" + (".gz" if compress else "")
        body = gzip.compress(chunk, compresslevel=5) if compress else chunk
        (folder / name).write_bytes(body)
        data.raw_bytes += len(chunk)
        data.stored_bytes += len(body)
        data.files[table].setdefault(hour, []).append(folder / name)


class Lake:
    """A bucket in the gateway's S3 and a Glue database with the two tables, as the stack defines them."""

    def __init__(self, url: str) -> None:
        from local.aws import client

        self.bucket = f"bench-lake-{uuid.uuid4().hex[:8]}"
        self.database = f"bench_{uuid.uuid4().hex[:8]}"
        self.s3 = client("s3", endpoint_url=url)
        self.s3.create_bucket(Bucket=self.bucket)
        glue = client("glue", endpoint_url=url)
        glue.create_database(DatabaseInput={"Name": self.database})
        for table, columns in (("decisions", DECISION_COLUMNS), ("rewards", REWARD_COLUMNS)):
            location = f"s3://{self.bucket}/{table}/"
            glue.create_table(DatabaseName=self.database, TableInput=glue_table_input(table, location, columns))

    def upload(self, data: Dataset) -> int:
        count = 0
        for table in ("decisions", "rewards"):
            for path in data.all_files(table):
                key = path.relative_to(data.root).as_posix()
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes())
                count += 1
        return count

    def spec(self, window: Window, run_id: str) -> join_sql.JoinSpec:
        return join_sql.JoinSpec(
            database=self.database,
            decisions_table="decisions",
            rewards_table="rewards",
            window=window,
            reward_wait_seconds=REWARD_WAIT_SECONDS,
            missing_reward="default",
            default_reward=0.0,
            output_prefix=f"s3://{self.bucket}/joined/{run_id}/",
        )


class Harness:
    """A gateway on a free port with the real Athena engine behind it (state in a temporary directory)."""

    def __init__(self, state_dir: Path) -> None:
        from local.aws import client
        from local.engines.athena import AthenaEngine
        from local.gateway import Gateway

        self.state_dir = state_dir
        self.gateway = Gateway(port=0, state_dir=state_dir / "gateway", engines=False).start()
        self.engine = AthenaEngine(state_dir=state_dir / "athena", endpoint_url=self.gateway.url)
        self.gateway.athena = self.engine
        self.athena = client("athena", endpoint_url=self.gateway.url)

    def close(self) -> None:
        self.engine.close()
        self.gateway.athena = None
        self.gateway.close()

    def drop_cache(self) -> None:
        shutil.rmtree(self.state_dir / "athena" / "cache", ignore_errors=True)

    def start(self, sql: str, lake: Lake) -> str:
        return self.athena.start_query_execution(
            QueryString=sql,
            ResultConfiguration={"OutputLocation": f"s3://{lake.bucket}/athena-results/"},
            WorkGroup="primary",
        )["QueryExecutionId"]

    def finish(self, query_id: str, timeout: float = 600.0) -> dict[str, Any]:
        state = self.engine.wait(query_id, timeout=timeout)
        execution = self.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if state != "SUCCEEDED":
            raise RuntimeError(f"query {query_id} ended {state}: {execution['Status'].get('StateChangeReason')}")
        return execution

    def run(self, sql: str, lake: Lake) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        query_id = self.start(sql, lake)
        execution = self.finish(query_id)
        return execution, time.perf_counter() - started

    def counts(self, query_id: str) -> dict[str, int]:
        rows = self.athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
        header = [c.get("VarCharValue") for c in rows[0]["Data"]]
        values = [int(c.get("VarCharValue", "0")) for c in rows[1]["Data"]]
        return dict(zip(header, values, strict=True))


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process (the gateway, moto's S3 and the engine's DuckDB threads)."""
    times = os.times()
    return times.user + times.system


def _mean_line_bytes(data: Dataset, table: str) -> float:
    """Mean uncompressed line length of a table's first file."""
    first = data.all_files(table)[0]
    body = first.read_bytes()
    lines = (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).splitlines()
    return sum(len(line) + 1 for line in lines) / max(1, len(lines))


def _timings(harness: Harness, execution: dict[str, Any]) -> dict[str, float]:
    """The engine's read/query/upload split (`LocalTimings`, which boto3's parser drops: asked of the engine)."""
    raw = harness.engine.dispatch("GetQueryExecution", {"QueryExecutionId": execution["QueryExecutionId"]})
    return {k: round(float(v), 3) for k, v in raw["QueryExecution"]["Statistics"].get("LocalTimings", {}).items()}


def baseline_count(data: Dataset) -> dict[str, Any]:
    """DuckDB alone: `read_json` + `count(*)` over the same files on local disk (no S3, no join, no output)."""
    import duckdb

    con = duckdb.connect()
    try:
        result: dict[str, Any] = {}
        total = 0.0
        for table, columns in (("decisions", DECISION_COLUMNS), ("rewards", REWARD_COLUMNS)):
            files = [str(p) for p in data.all_files(table)]
            spec = ", ".join(f"'{c}': '{'VARCHAR' if t == 'string' else t.upper()}'" for c, t in columns)
            started = time.perf_counter()
            row = con.execute(
                f"SELECT count(*) FROM read_json({files!r}, format='newline_delimited', columns={{{spec}}},"
                " ignore_errors=true)"
            ).fetchone()
            count = row[0] if row else 0
            seconds = time.perf_counter() - started
            total += seconds
            result[f"{table}_rows"] = int(count)
            result[f"{table}_seconds"] = round(seconds, 3)
        rows = result["decisions_rows"] + result["rewards_rows"]
        result.update(seconds=round(total, 3), input_rows_per_s=round(rows / total))
        return result
    finally:
        con.close()


def throughput(
    harness: Harness, work: Path, decisions: int, hours: int, files_per_hour: int, repeats: int = 3
) -> dict[str, Any]:
    """Generate, upload, then the UNLOAD `repeats` times (cold cache each; the median is the figure) and the count
    query once (warm cache) over the whole window."""
    started = time.perf_counter()
    data = generate(work / "big", decisions, hours, files_per_hour)
    generate_s = time.perf_counter() - started
    lake = Lake(harness.gateway.url)
    started = time.perf_counter()
    objects = lake.upload(data)
    upload_s = time.perf_counter() - started
    window = Window(start=START, end=START + timedelta(hours=hours))
    baseline = baseline_count(data)

    attempts: list[dict[str, Any]] = []
    for attempt in range(repeats):
        harness.drop_cache()
        load = os.getloadavg()[0]
        cpu = _cpu_seconds()
        unload, unload_s = harness.run(join_sql.unload(lake.spec(window, f"big-{attempt}")), lake)
        cpu = _cpu_seconds() - cpu
        joined = int(
            harness.athena.get_query_results(QueryExecutionId=unload["QueryExecutionId"]).get("UpdateCount", 0)
        )
        attempts.append(
            {
                "seconds": round(unload_s, 3),
                "rows_per_s": round(joined / unload_s),
                "cpu_seconds": round(cpu, 3),
                "rows_per_cpu_s": round(joined / cpu) if cpu > 0 else None,
                "split": _timings(harness, unload),
                "load_average_1m_before": round(load, 2),
                "execution": unload,
            }
        )
    attempts.sort(key=lambda a: a["seconds"])
    median = attempts[len(attempts) // 2]
    unload, unload_s = median.pop("execution"), median["seconds"]
    for a in attempts:
        a.pop("execution", None)
    counts_exec, counts_s = harness.run(join_sql.counts_select(lake.spec(window, "big")), lake)
    counts = harness.counts(counts_exec["QueryExecutionId"])
    input_rows = data.decisions + data.reward_lines
    return {
        "rows_per_s": round(joined / unload_s),
        "rows_per_s_best": attempts[0]["rows_per_s"],
        "rows_per_cpu_s": median["rows_per_cpu_s"],
        "rows": {"decisions": data.decisions, "reward_lines": data.reward_lines, "joined": joined},
        "seconds": round(unload_s, 3),
        "input_rows_per_s": round(input_rows / unload_s),
        "split": median["split"],
        "unload_attempts": attempts,
        "data": {
            "decision_line_bytes": round(_mean_line_bytes(data, "decisions")),
            "objects": objects,
            "hours": hours,
            "files_per_hour_per_table": files_per_hour,
            "raw_mb": round(data.raw_bytes / 1e6, 1),
            "gzip_mb": round(data.stored_bytes / 1e6, 1),
            "generated": {
                "late": data.late,
                "duplicates": data.duplicates,
                "unknown": data.unknown,
                "malformed": data.malformed,
            },
            "generate_seconds": round(generate_s, 1),
            "put_seconds": round(upload_s, 1),
        },
        "files_read": len(harness.engine.files_read(unload["QueryExecutionId"])),
        "count_query": {
            "seconds": round(counts_s, 3),
            "cache": "warm",
            "split": _timings(harness, counts_exec),
            **counts,
        },
        "baseline_duckdb_count": baseline,
    }


def history_runs(
    harness: Harness, work: Path, runs: int, hours_per_run: int, decisions_per_hour: int, files_per_hour: int
) -> list[dict[str, Any]]:
    """`runs` successive runs on one lake: each adds `hours_per_run` new hours, then joins only those hours."""
    lake = Lake(harness.gateway.url)
    out: list[dict[str, Any]] = []
    for run in range(runs):
        start = START + timedelta(hours=run * hours_per_run)
        data = generate(
            work / f"history-{run}",
            decisions_per_hour * hours_per_run,
            hours_per_run,
            files_per_hour,
            start=start,
            seed=run,
        )
        lake.upload(data)
        listed = sum(
            1
            for table in ("decisions", "rewards")
            for page in lake.s3.get_paginator("list_objects_v2").paginate(Bucket=lake.bucket, Prefix=f"{table}/")
            for _ in page.get("Contents", [])
        )
        window = Window(start=start, end=start + timedelta(hours=hours_per_run))
        spec = lake.spec(window, f"run-{run}")
        unload_id = harness.start(join_sql.unload(spec), lake)
        counts_id = harness.start(join_sql.counts_select(spec), lake)
        unload = harness.finish(unload_id)
        harness.finish(counts_id)
        files = harness.engine.files_read(unload_id)
        count_files = harness.engine.files_read(counts_id)
        out.append(
            {
                "run": run + 1,
                "objects_in_lake": listed,
                "files_read": len(files),
                "count_query_files_read": len(count_files),
                "window": window.to_dict(),
                "unload_seconds": round(
                    (unload["Status"]["CompletionDateTime"] - unload["Status"]["SubmissionDateTime"]).total_seconds(),
                    3,
                ),
            }
        )
        shutil.rmtree(work / f"history-{run}", ignore_errors=True)
    return out


def measure(
    decisions: int = 1_000_000,
    hours: int = 4,
    files_per_hour: int = 5,
    history: tuple[int, int, int] = (6, 2, 20_000),
    work: Path | None = None,
) -> dict[str, Any]:
    """The whole benchmark; `history` is (runs, hours per run, decisions per hour)."""
    load = os.getloadavg()
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="bench-join-")) if work is None else work
    harness = Harness(work / "state")
    try:
        result = throughput(harness, work, decisions, hours, files_per_hour)
        runs = history_runs(harness, work, history[0], history[1], history[2], files_per_hour)
    finally:
        harness.close()
        if own:
            shutil.rmtree(work, ignore_errors=True)
    result["files_read_per_run"] = [r["files_read"] for r in runs]
    result["history_runs"] = runs
    result["path"] = (
        "gateway (moto S3 + Glue tables with partition projection) -> local Athena engine (DuckDB); "
        "boto3 start_query_execution of join_sql.unload / join_sql.counts_select"
    )
    result["load_average_at_start"] = [round(x, 2) for x in load]
    result["cpus"] = os.cpu_count()
    result["target_rows_per_s"] = 200_000
    return result


def main() -> dict[str, Any]:
    result = measure()
    write_result("join", result)
    return result
