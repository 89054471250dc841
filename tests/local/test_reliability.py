"""Faults injected through the real local runtime, and what must hold (docs/reliability.md).

One runtime for the module (`local.reliability.run.run_all` on a `local.driver.DetachedRuntime`), the same
scenarios as `make bench`'s reliability benchmark with a shorter list of failures: duplicated, delayed and
concurrent trigger invocations; a training job that fails and an evaluation Lambda that times out; the next crossing
with bad rewards and Firehose faults under load while blue/green SIGTERMs the blue fleet; a trained candidate that
fails its health check, rolled back; then issue 14's data-integrity faults, one row per kind. About five minutes on
two cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local.reliability.checks import expected_join_counts
from local.reliability.integrity import COHORTS
from local.reliability.run import run_all

pytestmark = pytest.mark.e2e

FAILURES = ("training_job_fails", "evaluation_lambda_times_out")
PENDING = {
    "endpoint_container_sigkilled_under_load": "in the default `decision_acknowledgement: spool` mode a replaced "
    "instance starts on a fresh disk (as on SageMaker): decisions the dead container had answered but not yet "
    "delivered are lost; `firehose` mode (the kind below) closes it at a latency cost",
}
"""Fault kinds that do not always hold (docs/reliability.md): strict xfail unless listed in FLAKY."""
FLAKY = {"endpoint_container_sigkilled_under_load"}
"""Kinds whose loss depends on timing (what the dead container still held): lost in one run of two on
2026-12-02, so their xfail is not strict; their figures are in bench/results/reliability.json."""
KINDS = (
    "s3_events_duplicated_delayed_trigger_failing",
    "garbage_reward_lines",
    *FAILURES,
    "bad_reward_lines",
    "firehose_faults_and_blue_sigterm_under_load",
    "candidate_unhealthy_rolled_back",
    "oversized_record_request",
    "float32_overflowing_features",
    "execution_stopped_mid_deployment",
    *(cohort for cohort in COHORTS if cohort != "newline_victims"),  # the victims are checked inside their cohort
    "serve_worker_sigkilled_under_load",
    "half_sent_requests",
    "gzip_bomb_reward_object",
    *PENDING,
    "endpoint_container_sigkilled_acknowledged",
)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work: Path = tmp_path_factory.mktemp("reliability")
    return run_all(work, failures=FAILURES, rollbacks=("unhealthy",))


def test_the_bootstrap_creates_the_endpoint(observed: dict[str, Any]) -> None:
    assert observed["bootstrap"]["status"] == "SUCCEEDED"


def test_duplicated_delayed_concurrent_events_count_each_object_once_and_start_one_run_per_crossing(
    observed: dict[str, Any],
) -> None:
    events = observed["events"]
    assert events["trigger_faults"]["event_duplicate"] > 0 and events["trigger_faults"]["event_delayed"] > 0
    assert events["trigger_faults"]["lambda_error"] > 0  # retried by Lambda's async retries
    assert events["first_run_status_while_second_burst"] == "RUNNING"
    assert events["counted_records_lost_or_doubled"] == 0
    assert events["counter_after"] == events["counter_expected"] >= 0
    assert events["executions_started"] == events["expected_executions"] == 2
    assert events["duplicate_executions"] == 0
    assert events["overlapping_executions"] == 0
    assert events["run_outcomes"] == ["SUCCEEDED", "SUCCEEDED"]
    assert events["lock_after"] == {}


@pytest.mark.parametrize("kind", FAILURES)
def test_a_failed_step_fails_the_run_cleanly(observed: dict[str, Any], kind: str) -> None:
    failure = observed["failures"][kind]
    assert failure.get("error") != "no execution started", failure
    assert failure["status"] == "FAILED"
    assert failure["last_outcome"] == "failed" and failure["last_error"]  # recorded in the experiments row
    assert failure["model_state"] == "failed"  # and in the registry
    assert failure["lock_released"]
    assert not failure["deployed"]
    assert failure["counter_consistent"]
    assert failure["failed_cleanly"]


def test_the_next_crossing_runs_normally_with_bad_rewards_and_firehose_faults(observed: dict[str, Any]) -> None:
    recovery = observed["recovery"]
    assert recovery["status"] == "SUCCEEDED" and recovery["outcome"] == "promoted", recovery
    assert recovery["serving_after"] != recovery["serving_before"]
    # Malformed lines are judged by the run owning their hour folder (test below), not by this run as such.
    assert recovery["join"]["late_rewards"] == expected_join_counts_from(recovery)["late_rewards"]
    assert recovery["joined_rows_read"] == recovery["joined_distinct_event_ids"] == recovery["join"]["rows"]
    assert recovery["first_reward_wins_for_duplicates"]
    assert recovery["late_rewards_defaulted"]
    assert recovery["blue_stopped"]  # blue was drained and SIGTERMed mid-load
    assert recovery["load"]["server_errors"] == 0
    injected = recovery["injected_so_far"]
    assert injected["firehose_throttle"] > 0 and injected["firehose_partial_failure_records"] > 0


def test_every_malformed_reward_line_is_quarantined_once_by_the_run_owning_its_hour_folder(
    observed: dict[str, Any],
) -> None:
    quarantine = observed["quarantine"]
    sent = quarantine["malformed_sent"]
    assert (
        sent
        == observed["garbage_rewards"]["malformed_for_the_join"]
        + expected_join_counts_from(observed["recovery"])["malformed_rewards"]
    )
    assert quarantine["folders_judged_by_two_runs"] == [], quarantine["runs"]  # never double-counted
    assert quarantine["quarantined_outside_owned_hours"] == 0, quarantine["runs"]
    assert quarantine["judged_before_their_owner"] == 0, quarantine["folders"]
    assert quarantine["malformed_lost"] == 0, quarantine["folders"]  # a folder's owner quarantined all it holds
    judged = sum(f["sent"] for f in quarantine["folders"].values() if f["owners"])
    assert judged + quarantine["malformed_pending"] + quarantine["malformed_sent_folder_unknown"] == sent


def expected_join_counts_from(recovery: dict[str, Any]) -> dict[str, int]:
    counts = recovery["bad_reward_lines"]
    return expected_join_counts({kind: [b""] * n for kind, n in counts.items()})


def test_an_unhealthy_trained_candidate_is_rolled_back_and_recorded(observed: dict[str, Any]) -> None:
    rollback = observed["rollbacks"]["unhealthy"]
    assert rollback["status"] == "SUCCEEDED"
    assert rollback["outcome"] == "rolled_back" and rollback["model_state"] == "rolled_back"
    assert rollback["serving_unchanged"] and rollback["config_unchanged"] and rollback["traffic_unchanged"]
    assert rollback["failure_reason"]
    assert rollback["answers_from_other_models"] == 0  # every decision came from the serving model
    assert rollback["load"]["server_errors"] == 0
    assert rollback["rolled_back_cleanly"]


def test_decisions_served_under_faults_equal_decisions_joined(observed: dict[str, Any]) -> None:
    rollback = observed["rollbacks"]["unhealthy"]
    assert rollback["served_missing_from_join"] == 0
    assert rollback["joined_not_served_or_logged"] == 0


def test_every_decision_served_lands_in_s3_exactly_once_after_dedup(observed: dict[str, Any]) -> None:
    landing = observed["landing"]
    assert landing["records_served"] > 1000
    assert landing["records_lost"] == 0
    assert landing["records_landed"] == landing["records_served"]
    assert observed["injected"]["firehose_lost_response"] > 0  # resends made duplicates, removed by event_id


def test_never_two_runs_in_flight(observed: dict[str, Any]) -> None:
    executions = observed["executions"]
    assert executions["total"] >= 6  # bootstrap, two event runs, two failures, recovery, rollback
    assert executions["overlapping"] == 0


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(k, marks=pytest.mark.xfail(strict=k not in FLAKY, reason=PENDING[k])) if k in PENDING else k
        for k in KINDS
    ],
)
def test_each_fault_kind_loses_duplicates_and_corrupts_nothing(observed: dict[str, Any], kind: str) -> None:
    rows = {row["kind"]: row for row in observed["kinds"]}
    errors = [row for name, row in rows.items() if name.endswith("_scenario_error")]
    assert kind in rows, (sorted(rows), errors)
    row = rows[kind]
    assert row["injected"] > 0, row
    assert (row["lost"], row["duplicated"], row["corrupted"], row["unlogged"]) == (0, 0, 0, 0), row
    assert row["held"], row
