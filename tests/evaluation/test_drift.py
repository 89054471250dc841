"""The change detector on the serving model's realized rewards: hand-computed values, and the job's `drift` block."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from eval_helpers import joined_rows, served_by, write_channel, write_hyperparameters
from pipeline_common.gate import summarize

from container.__main__ import main as container_main
from container.evaluation.drift import THRESHOLD, Expected, detect

BAND = Expected(0.8, 0.9)


def test_a_drop_alarms_at_the_seventh_failure_of_a_run_that_restarted_after_the_last_success() -> None:
    # Down: lam = 0.5 / (1 - 0.8) = 2.5, a failure multiplies by 1 + 2.5 * 0.8 = 3, a success by 0.5.
    # Ten successes keep the statistic below 1 (it restarts each row); then 3^6 = 729 < 1000 <= 3^7 = 2187.
    check = detect([1.0] * 10 + [0.0] * 10, BAND, (0.0, 1.0))
    assert check.alarm is not None and check.alarm.direction == "down"
    assert (check.alarm.start, check.alarm.row) == (10, 16)
    assert check.alarm.log_statistic == pytest.approx(7 * math.log(3.0))
    assert THRESHOLD == 1000.0


def test_a_rise_alarms_after_128_successes() -> None:
    # Up: lam = 0.5 / (0.9 - 0) = 5/9, a success multiplies by 1 + (5/9) * 0.1 = 1.0556 (127 -> 960, 128 -> 1012).
    check = detect([1.0] * 200, BAND, (0.0, 1.0))
    assert check.alarm is not None and check.alarm.direction == "up"
    assert (check.alarm.start, check.alarm.row) == (0, 127)
    assert check.alarm.log_statistic == pytest.approx(128 * math.log(1 + 0.5 / 9))


def test_rewards_inside_the_band_never_alarm() -> None:
    # 17 successes and 3 failures per 20 rows (mean 0.85): down loses 17 log 2 - 3 log 3 = 8.49 per cycle and
    # peaks at 3 log 3 = 3.30, up loses 3 log 2 - 17 log(1.0556) = 1.16 and peaks at 0.92, both below log 1000 = 6.91.
    cycle = [0.0] * 3 + [1.0] * 17
    check = detect(cycle * 100, BAND, (0.0, 1.0))
    assert check.alarm is None
    assert check.log_statistic_down == pytest.approx(3 * math.log(3.0))
    assert check.log_statistic_up == pytest.approx(17 * math.log(1 + 0.5 / 9))
    assert check.realized_mean == pytest.approx(0.85)


def test_a_band_at_the_range_edge_cannot_be_left_that_way_and_rewards_are_clipped_to_the_range() -> None:
    check = detect([5.0] * 500, Expected(0.8, 1.0), (0.0, 1.0))
    assert check.alarm is None and check.log_statistic_up == 0.0 and check.realized_mean == 1.0
    with pytest.raises(ValueError, match="empty"):
        detect([0.5], BAND, (1.0, 1.0))


def _serving_rows(n: int, drop_at: int) -> list[dict]:
    """Rows the serving model logged itself: right class before `drop_at`, wrong after."""
    return served_by(joined_rows(n, seed=21), "serving-1", drop_at)


PREDICTED = {"serving_expected_low": "0.85", "serving_expected_high": "0.95"}


Evaluate = Callable[[list[dict], dict[str, str]], dict]


@pytest.fixture
def evaluate_job(tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch) -> Evaluate:
    """Run the evaluation job on `rows` with a candidate and a serving model (`serving-1`); its evaluation.json,
    or {} when the job failed."""
    monkeypatch.setenv("SM_ML_ROOT", str(tmp_path))

    def run(rows: list[dict], hyperparameters: dict[str, str]) -> dict:
        write_hyperparameters(tmp_path, hyperparameters)
        write_channel(tmp_path, "holdout", rows)
        copy_model(trained_model, tmp_path, "candidate")
        serving = copy_model(trained_model, tmp_path, "serving")
        metadata = json.loads((serving / "metadata.json").read_text())
        (serving / "metadata.json").write_text(json.dumps({**metadata, "model_id": "serving-1"}))
        evaluation = tmp_path / "model" / "evaluation.json"
        return json.loads(evaluation.read_text()) if container_main(["evaluate"]) == 0 else {}

    return run


def test_the_job_reports_the_change_with_where_it_began_and_the_lambda_summary_keeps_it(
    evaluate_job: Evaluate, capsys
) -> None:
    evaluation = evaluate_job(_serving_rows(400, 300), {"holdout_share": "0.3", **PREDICTED})
    drift = evaluation["drift"]
    # The band is widened by the margin (0.01): [0.84, 0.96]; every row counts (the training side too), and a
    # failure multiplies by 1 + 0.5/0.16 * 0.84 = 3.625: 3.625^5 = 625 < 1000 <= 3.625^6, the alarm at row 305.
    assert drift["checked"] and drift["detected"] and drift["direction"] == "down" and drift["rows"] == 400
    assert drift["expected_low"] == pytest.approx(0.84) and drift["expected_high"] == pytest.approx(0.96)
    assert drift["change_after"] == "2026-11-23T01:04:59.000Z"  # row 299, the last success
    assert drift["detected_at"] == "2026-11-23T01:05:05.000Z"  # row 305
    assert drift["rows_since_change"] == 6 and drift["realized_mean_since_change"] == 0.0
    assert "DRIFT: serving model serving-1's realized reward fell below" in capsys.readouterr().out
    summary = summarize(evaluation).drift
    assert summary is not None and summary.detected is True and summary.change_after == drift["change_after"]
    assert summary.serving_model_id == "serving-1"


def test_without_a_band_or_on_policy_rows_nothing_is_checked(
    evaluate_job: Evaluate,
) -> None:
    evaluation = evaluate_job(_serving_rows(200, 0), {"holdout_share": "0.3"})
    assert evaluation["drift"] == {
        "checked": False,
        "detected": False,
        "reason": "no predicted band for the serving model",
        "rows": 200,
    }
    assert summarize(evaluation).drift is None


def test_holdout_since_scores_only_the_rows_logged_after_it(evaluate_job: Evaluate, capsys) -> None:
    rows = _serving_rows(400, 400)
    hyperparameters = {"holdout_share": "1", "holdout_since": "2026-11-23T01:04:59.000Z"}
    evaluation = evaluate_job(rows, hyperparameters)
    assert evaluation["rows"] == 100 and evaluation["holdout_since"] == "2026-11-23T01:04:59+00:00"
    assert evaluation["gate"]["first_event_time"] == "2026-11-23T01:05:00.000Z"
    assert "100 rows kept, 300 logged earlier left out" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"holdout_since": "yesterday"}, "holdout_since='yesterday' is not an ISO-8601 time"),
        ({"serving_expected_low": "0.5"}, "set both serving_expected_low and serving_expected_high"),
        ({"serving_expected_low": "0.6", "serving_expected_high": "0.5"}, "must not exceed"),
    ],
)
def test_bad_pooling_or_band_hyperparameters_fail_with_the_reason(
    tmp_path: Path, evaluate_job: Evaluate, hyperparameters, message
) -> None:
    assert evaluate_job(_serving_rows(50, 50), hyperparameters) == {}
    assert message in (tmp_path / "output" / "failure").read_text()


def test_after_a_change_the_gate_reads_only_the_holdout_rows_logged_since(evaluate_job: Evaluate, capsys) -> None:
    evaluation = evaluate_job(_serving_rows(400, 300), {"holdout_share": "1", **PREDICTED})
    assert evaluation["drift"]["change_after"] == "2026-11-23T01:04:59.000Z"
    assert evaluation["holdout_since"] == "2026-11-23T01:04:59.000Z" and evaluation["rows"] == 100
    assert evaluation["gate"]["first_event_time"] == "2026-11-23T01:05:00.000Z"
    assert "the gate reads the 100 holdout rows logged after the change" in capsys.readouterr().out


def test_after_a_change_the_reward_model_learns_only_from_training_rows_logged_since(evaluate_job: Evaluate) -> None:
    evaluation = evaluate_job(_serving_rows(400, 300), {"holdout_share": "0.5", **PREDICTED})
    assert evaluation["drift"]["detected"] is True
    # 100 rows were logged after the change: the holdout's share and the training split's share of them.
    assert 30 <= evaluation["rows"] < 100
    assert evaluation["reward_model_rows"] == {"holdout": evaluation["rows"], "training": 100 - evaluation["rows"]}
