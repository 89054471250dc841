"""Reading joined rows: JSON lines (plain, gzip with or without `.gz`), the workshop CSV, bad lines skipped."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from container_helpers import logged_rows

from container.core.logged_rows import ReadStats, read_rows


def test_plain_and_gzip_files_with_and_without_extension(tmp_path: Path) -> None:
    rows = logged_rows(6)
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    (tmp_path / "a.json").write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    (tmp_path / "b.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows[2:4]).encode()))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "20261123_000000_00001_abcd").write_bytes(
        gzip.compress("".join(json.dumps(r) + "\n" for r in rows[4:]).encode())
    )
    read = list(read_rows(tmp_path))
    assert sorted(r.event_id for r in read) == sorted(r["event_id"] for r in rows)
    first = next(r for r in read if r.event_id == rows[0]["event_id"])
    assert first.context == json.loads(rows[0]["context"])
    assert [a.id for a in first.actions or []] == ["a", "b", "c"]
    assert first.action_prob == rows[0]["action_prob"]
    assert lines


def test_bad_lines_are_counted_and_skipped_never_fatal(tmp_path: Path, capsys) -> None:
    good = logged_rows(2)
    bad = [
        "not json at all",
        json.dumps([1, 2]),
        json.dumps({**good[0], "event_id": ""}),
        json.dumps({**good[0], "action_prob": 0}),
        json.dumps({**good[0], "reward": "high"}),
        json.dumps({**good[0], "context": "{broken"}),
        json.dumps({k: v for k, v in good[0].items() if k != "action"}),
    ]
    (tmp_path / "rows.jsonl").write_text("\n".join([json.dumps(good[0]), *bad, json.dumps(good[1])]) + "\n")
    stats = ReadStats()
    read = list(read_rows(tmp_path, stats))
    assert [r.event_id for r in read] == [good[0]["event_id"], good[1]["event_id"]]
    assert (stats.rows_read, stats.rows_skipped) == (2, len(bad))
    assert "rows.jsonl:2" in capsys.readouterr().err


def test_workshop_csv(tmp_path: Path) -> None:
    (tmp_path / "joined.csv").write_text(
        "event_id,action,action_prob,model_id,observation,sample_prob,reward\n"
        'e1,2,0.5,m0,"[0.1, 0.2, 3]",0.3,1\n'
        "e2,1,0.25,m0,0.5 0.5,0.7,0\n"
        "e3,1,0.25,m0\n"
    )
    stats = ReadStats()
    read = list(read_rows(tmp_path / "joined.csv", stats))
    assert [(r.event_id, r.action, r.reward) for r in read] == [("e1", "2", 1.0), ("e2", "1", 0.0)]
    assert read[0].context == {"x0": 0.1, "x1": 0.2, "x2": 3.0}
    assert read[0].actions is None
    assert stats.rows_skipped == 1


def test_missing_path_yields_nothing(tmp_path: Path) -> None:
    assert list(read_rows(tmp_path / "nope")) == []
