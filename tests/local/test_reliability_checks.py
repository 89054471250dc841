"""The reliability checks (`local.reliability.checks`): event ids of decision lines, the landing report,
overlapping executions, the bad reward lines and the counts the join must report for them, the summary, the
integrity cohorts and the per-kind rows."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from local.reliability.checks import (
    bad_reward_lines,
    event_ids,
    expected_join_counts,
    garbage_reward_lines,
    garbage_row,
    iso,
    kind_rows,
    kind_table,
    landing_report,
    overlapping,
    served_row,
    summarize,
)
from local.reliability.integrity import COHORT, COHORTS, cohort_report, plan_integrity
from local.reliability.run import scenarios_for


def test_event_ids_keep_duplicates_and_count_unreadable_lines() -> None:
    lines: list[bytes | str] = [b'{"event_id": "a"}', b'{"event_id": "a"}', b"", b"not json", b'{"other": 1}']
    lines.append('{"event_id": "b"}')
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


def _crossing(count: int) -> tuple[list[bytes], list[tuple[str, float, float]], list[bytes]]:
    actions = json.dumps([{"id": "a", "features": {}}, {"id": "b", "features": {}}])
    decisions, known, rewards = [], [], []
    for n in range(count):
        event = f"e{n:03d}"
        record = {
            "event_id": event,
            "event_time": iso(1000.0 + n),
            "actions": actions,
            "action": "a",
            "action_index": 0,
        }
        decisions.append(json.dumps(record).encode() + b"\n")
        known.append((event, 1000.0 + n, float(n % 2)))
        rewards.append(
            json.dumps({"event_id": event, "reward": float(n % 2), "reward_time": iso(1000.2 + n)}).encode() + b"\n"
        )
    return decisions, known, rewards


def test_the_integrity_plan_sends_each_cohorts_fault_and_expects_the_genuine_rows() -> None:
    decisions, known, rewards = _crossing(len(COHORTS) * COHORT + 5)
    plan = plan_integrity(decisions, known, rewards, "t")
    assert [len(plan.cohorts[c]) for c in COHORTS] == [COHORT] * len(COHORTS) and len(plan.cohorts["normal"]) == 5
    repeated = [json.loads(line) for line in plan.repeated_decisions]
    assert [r["event_id"] for r in repeated] == plan.cohorts["duplicate_decision_delivery"] + plan.cohorts[
        "reused_event_id"
    ]
    assert all(r["action"] == "b" for r in repeated[COHORT:])  # a reused id carries another decision
    forged = plan.cohorts["forged_backdated_reward"]
    assert all(plan.expected[e].reward is not None for e in forged)
    assert all(plan.expected[e].reward is None for e in plan.cohorts["reward_before_decision"])
    # the careless producer's records have no newline; the careful producer's follow each of them
    assert sum(1 for line in plan.adversarial_rewards if not line.endswith(b"\n")) == COHORT
    assert plan.injected["records_without_newline"] == COHORT


def test_the_cohort_report_counts_lost_duplicated_and_corrupted_rows() -> None:
    decisions, known, rewards = _crossing(len(COHORTS) * COHORT)
    plan = plan_integrity(decisions, known, rewards, "t")
    rows: list[dict[str, Any]] = []
    for event, expected in plan.expected.items():
        reward_time = None if expected.reward is None else "t"
        rows.append(
            {"event_id": event, "action": expected.action, "reward": expected.reward, "reward_time": reward_time}
        )
    clean = cohort_report(plan, rows)
    assert all(c["lost"] == c["duplicated"] == c["corrupted"] == 0 for c in clean.values())
    forged = plan.cohorts["forged_backdated_reward"][0]
    early = plan.cohorts["reward_before_decision"][0]
    broken = [r for r in rows if r["event_id"] != plan.cohorts["reward_out_of_range"][0]]
    broken += [dict(r) for r in rows if r["event_id"] == plan.cohorts["duplicate_decision_delivery"][0]]
    for row in broken:
        if row["event_id"] == forged:
            row["reward"] = 1.0 - row["reward"]  # the forgery won
        if row["event_id"] == early:
            row["reward"], row["reward_time"] = 1.0, "1970-01-01T00:00:00.000Z"  # the time traveller joined
    report = cohort_report(plan, broken)
    assert report["forged_backdated_reward"]["corrupted"] == 1
    assert report["reward_before_decision"]["corrupted"] == 1
    assert report["reward_out_of_range"]["lost"] == 1
    assert report["duplicate_decision_delivery"]["duplicated"] == 1


def test_a_load_row_counts_answered_but_unlogged_decisions() -> None:
    row = served_row("crash", ["a", "b", "c"], {"a", "b", "x"}, 1, True, "")
    assert (row.served, row.landed, row.unlogged, row.lost) == (3, 2, 1, 1)
    assert not row.clean
    assert served_row("ok", ["a"], {"a"}, 1, True, "").clean
    assert not served_row("did not hold", ["a"], {"a"}, 1, False, "").clean


def test_kind_rows_report_each_integrity_fault_and_a_table() -> None:
    observations = {
        "gzip_bomb": {
            "bomb_bytes": 300,
            "inflated_bytes": 3 << 20,
            "good_lines": 5,
            "before_lines": 5,
            "before_record": {"records": 5, "complete": True},
            "bomb_record": {"records": 0, "complete": False, "invalid_lines": 0},
            "good_record": {"records": 5, "complete": True},
            "trigger_errors": 0,
        },
        "bad_requests": {
            "oversized_record": [{"status": 200, "event_id": "big"}],
            "float32_overflow": [{"status": 400, "event_id": None, "names_field": True}],
        },
        "worker_crash": {"error": "boom"},
    }
    rows = {r.kind: r for r in kind_rows(observations, landed=set())}
    assert rows["gzip_bomb_reward_object"].clean
    failed = kind_rows({"gzip_bomb": {**observations["gzip_bomb"], "bomb_record": {}}}, landed=set())
    assert not next(
        r for r in failed if r.kind == "gzip_bomb_reward_object"
    ).held  # the bomb left no record: the trigger did not survive it
    lost_before = kind_rows({"gzip_bomb": {**observations["gzip_bomb"], "before_record": None}}, landed=set())
    assert next(r for r in lost_before if r.kind == "gzip_bomb_reward_object").lost == 5
    assert rows["oversized_record_request"].unlogged == 1 and not rows["oversized_record_request"].clean
    assert rows["float32_overflowing_features"].clean
    assert "serve_worker_sigkilled_under_load" not in rows  # a scenario that raised is the runner's row
    assert "| oversized_record_request | 1 | 1 | 0 |" in kind_table(list(rows.values()))


def test_the_garbage_row_holds_only_when_the_trigger_recorded_every_line_as_invalid() -> None:
    garbage = {"garbage_lines_sent": 400, "runs_started": 0, "counter_before": 5, "counter_after": 5}
    judged = {**garbage, "objects_counted": 2, "invalid_lines_recorded": 400, "trigger_errors": 0}
    assert garbage_row(judged).clean
    # the trigger failed on the objects (retries exhausted, no record): nothing counted, but it did not survive them
    failed = {**garbage, "objects_counted": 0, "invalid_lines_recorded": 0, "trigger_errors": 2}
    assert not garbage_row(failed).held
    assert not garbage_row({**judged, "runs_started": 1}).clean


def test_a_subset_of_fault_kinds_names_the_scenarios_it_needs_and_refuses_unknown_kinds() -> None:
    scenarios, failures, rollbacks = scenarios_for(
        ["gzip_bomb_reward_object", "reward_out_of_range", "deploy_lambda_fails", "candidate_sigterm_rolled_back"]
    )
    assert (scenarios, failures, rollbacks) == ({"gzip_bomb", "integrity"}, ["deploy_lambda_fails"], ["sigterm"])
    with pytest.raises(ValueError, match="unknown fault kind 'gzip_bomb'"):
        scenarios_for(["gzip_bomb"])  # a scenario's name, not a kind's
