"""The join benchmark's harness on tiny inputs: the Firehose-layout generator, its counts against the project's join
SQL (standalone engine), and the result shape through the gateway (in a subprocess: the gateway sets process-wide
moto state)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from pipeline_common import join_sql
from pipeline_common.window import Window

from bench.join import START, Mix, generate
from infra.data_lake import DECISION_COLUMNS, REWARD_COLUMNS, SERDE_PARAMETERS
from local.engines.athena import local_table, run_query

REPO = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> list[str]:
    body = path.read_bytes()
    assert body[:2] == b"\x1f\x8b", path
    return gzip.decompress(body).decode().splitlines()


def test_generator_writes_hour_folders_with_every_kind_of_reward(tmp_path: Path) -> None:
    data = generate(tmp_path, 1000, hours=2, files_per_hour=2, mix=Mix(late=0.05, malformed=0.05, unknown=0.05))
    assert data.decisions == 1000
    assert sorted(data.files["decisions"]) == ["2026/11/23/00", "2026/11/23/01"]
    assert "2026/11/23/02" in data.files["rewards"]  # rewards of the last hour spill into the next folder
    decisions = [json.loads(line) for p in data.all_files("decisions") for line in _lines(p)]
    assert len(decisions) == 1000 and len({d["event_id"] for d in decisions}) == 1000
    assert {c for c, _ in DECISION_COLUMNS} == set(decisions[0])
    reward_lines = [line for p in data.all_files("rewards") for line in _lines(p)]
    assert len(reward_lines) == data.reward_lines
    assert data.late > 0 and data.malformed > 0 and data.unknown > 0 and data.duplicates > 0
    ghosts = [line for line in reward_lines if '"ghost-' in line]
    assert len(ghosts) == data.unknown


def test_generated_counts_match_the_join_sql(tmp_path: Path) -> None:
    data = generate(tmp_path / "lake", 1000, hours=2, files_per_hour=2)
    lake = tmp_path / "lake"
    tables = {
        ("bench", table): local_table("bench", table, columns, lake / table, serde_parameters=SERDE_PARAMETERS)
        for table, columns in (("decisions", DECISION_COLUMNS), ("rewards", REWARD_COLUMNS))
    }
    spec = join_sql.JoinSpec(
        database="bench",
        decisions_table="decisions",
        rewards_table="rewards",
        window=Window(start=START, end=START + timedelta(hours=2)),
        reward_wait_seconds=600,
        missing_reward="default",
        default_reward=0.0,
        output_prefix="s3://bench/joined/",
    )
    answer = run_query(join_sql.counts_select(spec), tables)
    counts = dict(zip(join_sql.COUNT_COLUMNS, answer["rows"][0], strict=True))
    after = join_sql.JoinSpec(
        **{**spec.__dict__, "window": Window(start=spec.window.end, end=START + timedelta(hours=4))}
    )
    following = dict(
        zip(join_sql.COUNT_COLUMNS, run_query(join_sql.counts_select(after), tables)["rows"][0], strict=True)
    )
    assert counts["joined_rows"] == 1000
    # a malformed line is judged by the run owning its hour folder: the lines after the window's hours by the next
    assert counts["malformed_rewards"] + following["malformed_rewards"] == data.malformed
    assert counts["late_rewards"] == data.late
    assert counts["unmatched_rewards"] <= data.unknown
    unloaded = run_query(join_sql.unload(spec), tables, out_dir=tmp_path / "joined")
    assert unloaded["rows"] == 1000


def test_measure_through_the_gateway_gives_the_result_shape(tmp_path: Path) -> None:
    code = (
        "import json; from bench.join import measure\n"
        "r = measure(decisions=1000, hours=2, files_per_hour=2, history=(3, 1, 200))\n"
        "print(json.dumps(r))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["rows"]["joined"] == 1000 and result["rows_per_s"] > 0
    assert set(result["split"]) == {"read_seconds", "query_seconds", "upload_seconds"}
    assert result["count_query"]["joined_rows"] == 1000
    assert result["baseline_duckdb_count"]["decisions_rows"] == 1000
    runs = result["files_read_per_run"]
    assert len(runs) == 3 and runs[1] == runs[2] and runs[0] <= runs[1]
    assert result["history_runs"][2]["objects_in_lake"] > result["history_runs"][1]["objects_in_lake"]
