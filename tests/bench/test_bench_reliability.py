"""The reliability benchmark's pure pieces: event ids of decision lines, the landing report, overlapping executions,
the bad reward lines and the counts the join must report for them, and the headline summary."""

from __future__ import annotations

import json
import math

from bench.reliability import (
    bad_reward_lines,
    event_ids,
    expected_join_counts,
    garbage_reward_lines,
    iso,
    landing_report,
    overlapping,
    summarize,
)


def test_event_ids_keep_duplicates_and_count_unreadable_lines() -> None:
    lines = [b'{"event_id": "a"}', b'{"event_id": "a"}', b"", b"not json", b'{"other": 1}', '{"event_id": "b"}']
    ids, unreadable = event_ids(lines)
    assert ids == ["a", "a", "b"]
    assert unreadable == 2


def test_landing_report_counts_lost_duplicates_and_strangers() -> None:
    report = landing_report(["a", "b", "c", "c"], ["a", "a", "a", "c", "x"])
    assert report == {
        "records_served": 3,
        "records_landed": 2,
        "records_lost": 1,
        "duplicate_lines": 2,
        "landed_not_served": 1,
    }


def test_landing_report_of_nothing_lost() -> None:
    assert landing_report(["a"], ["a"])["records_lost"] == 0


def test_overlapping_pairs() -> None:
    assert overlapping([(0.0, 1.0), (1.5, 2.0), (3.0, None)]) == 0
    assert overlapping([(0.0, 2.0), (1.0, 3.0)]) == 1
    assert overlapping([(0.0, None), (5.0, 6.0), (7.0, 8.0)]) == 2


def test_iso_is_the_contract_format() -> None:
    assert iso(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso(1.2345) == "1970-01-01T00:00:01.234Z" or iso(1.2345) == "1970-01-01T00:00:01.235Z"


def test_bad_reward_lines_are_what_they_say() -> None:
    known = [(f"e{n}", 1000.0 + n, 1.0 if n % 2 else 0.0) for n in range(10)]
    bad = bad_reward_lines(known, 2000.0, "t")
    for line in bad["not_json"]:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        raise AssertionError(f"parsed: {value}")
    assert "event_id" not in json.loads(bad["missing_event_id"][0])
    assert isinstance(json.loads(bad["non_numeric"][0])["reward"], str)
    assert math.isnan(json.loads(bad["nan"][0])["reward"])
    assert all(math.isinf(json.loads(line)["reward"]) for line in bad["infinite"])
    assert {json.loads(line)["event_id"] for line in bad["unknown_event_id"]}.isdisjoint({k[0] for k in known})
    duplicates = [json.loads(line) for line in bad["duplicate"]]
    assert [d["event_id"] for d in duplicates] == ["e2", "e3", "e4"]
    assert [d["reward"] for d in duplicates] == [1.0, 0.0, 1.0]  # the opposite of the first reward
    late = [json.loads(line) for line in bad["late"]]
    assert [d["event_id"] for d in late] == ["e7", "e8", "e9"]
    assert all(d["reward_time"] > iso(1009.0 + 3000) for d in late)
    assert all(line.endswith(b"\n") for lines in bad.values() for line in lines)
    assert expected_join_counts(bad) == {"malformed_rewards": 7, "unmatched_rewards": 3, "late_rewards": 3}


def test_summarize_counts_clean_failures_and_rollbacks() -> None:
    observations = {
        "events": {"duplicate_executions": 1},
        "failures": {"a": {"failed_cleanly": True}, "b": {"failed_cleanly": False}},
        "rollbacks": {"unhealthy": {"rolled_back_cleanly": True}},
        "serving": {"records_served": 10, "records_landed": 9, "records_lost": 1, "decisions_per_s": 50.0},
    }
    summary = summarize(observations, {"firehose_throttle": 3})
    assert summary["faults_injected"] == {"firehose_throttle": 3}
    assert summary["runs_failed_cleanly"] == 1 and summary["runs_failed"] == 2
    assert summary["rollbacks"] == 1
    assert summary["records_lost"] == 1 and summary["duplicate_executions"] == 1
    assert summary["decisions_per_s_under_faults"] == 50.0


def test_garbage_reward_lines_are_none_of_them_reward_records() -> None:
    from pipeline_common.reward_record import reward_problem

    lines = garbage_reward_lines("g", 40, 1_764_000_000.0)
    assert len(lines) == 40 and all(line.endswith(b"\n") for line in lines)
    assert [reward_problem(line.rstrip(b"\n")) is not None for line in lines] == [True] * 40


def test_summarize_reports_runs_and_counts_caused_by_garbage_rewards() -> None:
    observations = {"garbage_rewards": {"runs_started": 1, "counter_before": 5, "counter_after": 45}}
    summary = summarize(observations, {})
    assert summary["runs_started_by_garbage_rewards"] == 1 and summary["garbage_rewards_counted"] == 40
