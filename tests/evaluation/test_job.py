"""`python -m container evaluate` end to end on a temporary SM_ML_ROOT, and its failures."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import ACTIONS, joined_rows, write_channel, write_hyperparameters
from pipeline_common.gate import summarize
from pipeline_common.sagemaker_requests import metric_definitions

from container.__main__ import main as container_main
from container.core import logged_rows
from container.core.featurizer import actions_from_ids
from container.core.logged_rows import parse_row
from container.core.policy import Policy
from container.core.split import is_holdout
from container.evaluation import METRIC_DEFINITIONS
from container.evaluation.errors import DistributionError, EmptyHoldoutError, SingleActionError
from container.evaluation.estimators import Interval
from container.evaluation.holdout import build_holdout, distribution_matrix, first_new_action
from container.evaluation.report import gate

HYPERPARAMETERS = {"holdout_share": "0.3", "promotion_estimator": "dr", "promotion_margin": "0.01", "seed": "7"}


def _root(tmp_path: Path, rows: list[dict], hyperparameters: dict[str, str] | None = None) -> Path:
    write_hyperparameters(tmp_path, hyperparameters or HYPERPARAMETERS)
    write_channel(tmp_path, "holdout", rows)
    return tmp_path


def _run(root: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("SM_ML_ROOT", str(root))
    return container_main(["evaluate"])


def test_job_writes_the_contract_and_metric_lines(
    tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    root = _root(tmp_path, joined_rows(2000, seed=3))
    copy_model(trained_model, root, "candidate")
    assert _run(root, monkeypatch) == 0
    evaluation = json.loads((root / "model" / "evaluation.json").read_text())
    assert evaluation["rows"] == sum(is_holdout(f"ev-3-{i}", 0.3) for i in range(2000))
    # The reward model also learns from the period's training split (reward_model.Supplement).
    assert evaluation["reward_model_rows"] == {"holdout": evaluation["rows"], "training": 2000 - evaluation["rows"]}
    assert evaluation["estimator"] == "dr" and evaluation["margin"] == 0.01
    candidate, serving = evaluation["policies"]["candidate"], evaluation["policies"]["serving"]
    assert serving["kind"] == "logging_policy" and serving["model_id"] == "logger"
    assert serving["dr"]["value"] == pytest.approx(evaluation["logged_mean_reward"])
    ips_gap = candidate["ips"]["value"] - evaluation["logged_mean_reward"]  # paired with the logged rewards
    assert evaluation["difference"]["ips"]["value"] == pytest.approx(ips_gap)
    # The gate's SNIPS terms use a predictable running-mean control variate, its DR terms the floored reward model
    # (docs/evaluation.md, "The gate's statistics"): close to the policies' own estimates, not equal.
    for name in ("snips", "dr"):
        gap = candidate[name]["value"] - evaluation["logged_mean_reward"]
        assert evaluation["difference"][name]["value"] == pytest.approx(gap, abs=0.02)
    for block in (candidate, serving, evaluation["difference"]):
        for name in ("ips", "snips", "dr"):
            assert block[name]["ci_low"] <= block[name]["value"] <= block[name]["ci_high"]
    assert candidate["model_id"] == "cand-1" and candidate["ess"] > 0 and isinstance(candidate["warnings"], list)
    # A trained policy beats uniform logging (about 1/3) clearly, so it is promoted.
    assert evaluation["difference"]["dr"]["ci_low"] > 0.1
    assert evaluation["promote"] is True and "dr difference" in evaluation["reason"]
    # The one it read, at the default one-sided level.
    assert evaluation["interval"] == "normal" and evaluation["confidence"] == 0.95
    assert "one-sided 95% normal lower bound" in evaluation["reason"]
    out = capsys.readouterr().out
    for definition in METRIC_DEFINITIONS:
        assert re.search(definition["Regex"], out), definition["Name"]
    value = float(re.search(r"METRIC difference_dr_low=(\S+)", out).group(1))
    assert value == pytest.approx(evaluation["difference"]["dr"]["ci_low"], rel=1e-5)
    # The evaluate Lambda reads this file with pipeline_common.gate: same verdict, same numbers.
    summary = summarize(evaluation).to_payload()
    assert summary["promote"] is True and summary["difference"] == evaluation["difference"]["dr"]
    assert summary["serving"]["kind"] == "logging_policy" and summary["candidate_ess"] == candidate["ess"]


def test_serving_model_that_is_the_candidate_gives_a_zero_difference_and_promotes(
    tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path, joined_rows(600, seed=4))
    copy_model(trained_model, root, "candidate")
    copy_model(trained_model, root, "serving")
    assert _run(root, monkeypatch) == 0
    evaluation = json.loads((root / "model" / "evaluation.json").read_text())
    assert evaluation["policies"]["serving"]["kind"] == "model"
    assert evaluation["difference"]["dr"]["value"] == pytest.approx(0.0, abs=1e-12)
    assert evaluation["promote"] is True


def test_uniform_candidate_against_a_trained_serving_model_is_rejected(
    tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path, joined_rows(2000, seed=5))
    candidate = root / "input" / "data" / "candidate"
    candidate.mkdir(parents=True)
    (candidate / "metadata.json").write_text(json.dumps({"model_id": "uni", "actions": ACTIONS}))
    copy_model(trained_model, root, "serving")
    assert _run(root, monkeypatch) == 0
    evaluation = json.loads((root / "model" / "evaluation.json").read_text())
    assert evaluation["promote"] is False
    assert evaluation["difference"]["dr"]["ci_high"] < 0


def test_gate_promotes_unless_the_lower_bound_is_below_minus_margin() -> None:
    assert gate(Interval(0.0, -0.009, 0.01), "dr", 0.01).promote is True
    assert gate(Interval(0.0, -0.011, 0.01), "dr", 0.01).promote is False
    assert gate(Interval(0.0, float("nan"), 0.01), "dr", 0.01).promote is False
    assert (
        "95% anytime-valid CI low -0.0110" in gate(Interval(0.0, -0.011, 0.01), "dr", 0.01, interval="anytime").reason
    )
    verdict = gate(Interval(0.0, -0.011, 0.01), "dr", 0.01, interval="normal", confidence=0.95)
    assert "one-sided 95% normal lower bound -0.0110 < -margin -0.0100" in verdict.reason


def test_empty_holdout_fails_with_output_failure(
    tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path, [])
    copy_model(trained_model, root, "candidate")
    assert _run(root, monkeypatch) == 1
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("EmptyHoldoutError") and "holdout_share" in failure
    assert not (root / "model" / "evaluation.json").exists()


def test_missing_candidate_and_bad_hyperparameters_fail_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path, joined_rows(50))
    assert _run(root, monkeypatch) == 1
    assert "candidate channel is empty" in (root / "output" / "failure").read_text()
    write_hyperparameters(root, {**HYPERPARAMETERS, "promotion_estimator": "magic"})
    assert _run(root, monkeypatch) == 1
    assert "promotion_estimator" in (root / "output" / "failure").read_text()
    for confidence, reason in (("0.5", "must be above 0.5"), ("1", "must be within [0.5, 0.999]"), ("x", "number")):
        write_hyperparameters(root, {**HYPERPARAMETERS, "promotion_confidence": confidence})
        assert _run(root, monkeypatch) == 1
        failure = (root / "output" / "failure").read_text()
        assert "promotion_confidence" in failure and reason in failure


def test_single_action_logs_are_rejected() -> None:
    rows = [{**r, "actions": json.dumps([{"id": r["action"]}]), "action_index": 0} for r in joined_rows(20)]
    with pytest.raises(SingleActionError):
        build_holdout([parse_row(r) for r in rows], [])


def test_rows_without_logged_candidates_use_the_known_actions() -> None:
    rows = [{k: v for k, v in r.items() if k != "actions"} for r in joined_rows(20)]
    holdout = build_holdout([parse_row(r) for r in rows], actions_from_ids(ACTIONS))
    assert holdout.vocabulary == ACTIONS or sorted(holdout.vocabulary) == ACTIONS
    with pytest.raises(EmptyHoldoutError):
        build_holdout([parse_row(rows[0])], actions_from_ids(ACTIONS))


class _ShortPolicy(Policy):
    def distribution(self, context, actions=None) -> list[float]:
        return [1.0]


def test_a_distribution_of_the_wrong_length_is_an_error() -> None:
    holdout = build_holdout([parse_row(r) for r in joined_rows(10)], [])
    with pytest.raises(DistributionError, match="1 probabilities for the 3 candidates"):
        distribution_matrix(_ShortPolicy(), holdout, "candidate")


def test_the_holdout_carries_the_logged_distribution_only_when_every_row_has_it() -> None:
    rows = joined_rows(10, probabilities=[0.6, 0.3, 0.1])
    holdout = build_holdout([parse_row(r) for r in rows], [])
    assert holdout.logged.logging is not None
    assert holdout.logged.logging.shape == (10, len(holdout.vocabulary))
    assert np.allclose(holdout.logged.logging.sum(axis=1), 1.0)
    rows[3] = {key: value for key, value in rows[3].items() if key != "probabilities"}
    assert build_holdout([parse_row(r) for r in rows], []).logged.logging is None


def test_every_metric_the_pipeline_defines_is_exported_with_the_same_regex() -> None:
    ours = {d["Name"]: d["Regex"] for d in METRIC_DEFINITIONS}
    for definition in metric_definitions():
        assert ours[definition["Name"]] == definition["Regex"]


def test_reward_range_hyperparameters_are_checked_and_reported(
    tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path, joined_rows(400, seed=4), {**HYPERPARAMETERS, "reward_min": "0", "reward_max": "2"})
    copy_model(trained_model, root, "candidate")
    assert _run(root, monkeypatch) == 0
    evaluation = json.loads((root / "model" / "evaluation.json").read_text())
    assert evaluation["reward_range"] == [0.0, 2.0]
    for name in ("ips", "snips", "dr"):
        block = evaluation["policies"]["candidate"][name]
        assert 0.0 <= block["ci_low"] < block["ci_high"] <= 2.0
    write_hyperparameters(root, {**HYPERPARAMETERS, "reward_min": "0.5", "reward_max": "1"})
    assert _run(root, monkeypatch) == 1
    assert "outside the declared reward range" in (root / "output" / "failure").read_text()
    write_hyperparameters(root, {**HYPERPARAMETERS, "reward_max": "1"})
    assert _run(root, monkeypatch) == 1
    assert "reward_min and reward_max" in (root / "output" / "failure").read_text()


def test_zero_or_missing_propensities_fail_or_are_skipped_with_a_warning(
    tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every propensity unusable: a failure naming action_prob. One bad row: skipped, and the report says so."""
    rows = [{**r, "action_prob": 0.0 if i % 2 else None} for i, r in enumerate(joined_rows(300, seed=5))]
    root = _root(tmp_path, rows, {**HYPERPARAMETERS, "holdout_share": "1"})
    copy_model(trained_model, root, "candidate")
    assert _run(root, monkeypatch) == 1
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("EmptyHoldoutError") and "action_prob" in failure
    assert not (root / "model" / "evaluation.json").exists()
    rows = joined_rows(300, seed=5)
    rows[0]["action_prob"] = 0.0
    write_channel(root, "holdout", rows)
    assert _run(root, monkeypatch) == 0
    evaluation = json.loads((root / "model" / "evaluation.json").read_text())
    assert evaluation["rows"] == 299
    assert any("1 malformed holdout rows were skipped" in w for w in evaluation["policies"]["candidate"]["warnings"])


def test_a_small_holdout_warns_and_reports_diagnostics(
    tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = joined_rows(120, seed=6)
    rows[0]["action_prob"] = 0.004
    root = _root(tmp_path, rows, {**HYPERPARAMETERS, "holdout_share": "1"})
    copy_model(trained_model, root, "candidate")
    assert _run(root, monkeypatch) == 0
    candidate = json.loads((root / "model" / "evaluation.json").read_text())["policies"]["candidate"]
    warnings = " ".join(candidate["warnings"])
    assert "only 120 holdout rows" in warnings and "minimum logged propensity 0.004" in warnings
    assert candidate["min_propensity"] == pytest.approx(0.004)
    assert 0.0 < candidate["ess"] < 120
    for name in ("ips", "snips", "dr"):
        assert 0.0 <= candidate[name]["ci_low"] < candidate[name]["ci_high"] <= 1.0


def test_a_pooled_holdout_of_several_runs_counts_each_event_once_in_arrival_order(
    tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All holdout rows since the serving model went live: one run's prefix per directory, windows overlapping."""
    rows = joined_rows(400, seed=8)
    for i, row in enumerate(rows):
        row["event_time"] = f"2026-11-23T00:{i // 60:02d}:{i % 60:02d}.000Z"
    root = _root(tmp_path / "pooled", [], {**HYPERPARAMETERS, "holdout_share": "1"})
    channel = root / "input" / "data" / "holdout"
    (channel / "part-0.json").unlink()
    for run, part in (("run-2", rows[180:]), ("run-1", rows[:200])):  # run-2 repeats 20 rows of run-1
        (channel / run).mkdir()
        (channel / run / "part-0.json").write_text("".join(json.dumps(r) + "\n" for r in reversed(part)))
    copy_model(trained_model, root, "candidate")
    assert _run(root, monkeypatch) == 0
    pooled = json.loads((root / "model" / "evaluation.json").read_text())
    assert pooled["rows"] == 400
    warnings = " ".join(pooled["policies"]["candidate"]["warnings"])
    assert "20 holdout rows repeat an event_id" in warnings
    assert pooled["gate"]["first_event_time"] == rows[0]["event_time"]
    assert pooled["gate"]["last_event_time"] == rows[-1]["event_time"]
    single = _root(tmp_path / "single", rows, {**HYPERPARAMETERS, "holdout_share": "1"})
    copy_model(trained_model, single, "candidate")
    assert _run(single, monkeypatch) == 0
    alone = json.loads((single / "model" / "evaluation.json").read_text())
    assert pooled["difference"] == alone["difference"] and pooled["promote"] == alone["promote"]
    assert set(pooled["gate"]["estimators"]["dr"]) >= {"term_floor", "normal_ci_low", "ci_low"}


def test_a_small_holdout_whose_candidate_plays_like_the_logger_has_no_ess_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """49 rows logged uniformly, the candidate uniform too: every weight is 1, so ESS = 49 is not a weight problem."""
    root = _root(tmp_path, joined_rows(49, seed=9), {**HYPERPARAMETERS, "holdout_share": "1"})
    candidate = root / "input" / "data" / "candidate"
    candidate.mkdir(parents=True)
    (candidate / "metadata.json").write_text(json.dumps({"model_id": "uni", "actions": ACTIONS}))
    assert _run(root, monkeypatch) == 0
    block = json.loads((root / "model" / "evaluation.json").read_text())["policies"]["candidate"]
    assert block["ess"] == pytest.approx(49.0)
    assert not any("effective sample size" in w for w in block["warnings"])
    assert any("only 49 holdout rows" in w for w in block["warnings"])


def test_a_pool_above_the_cap_is_scored_on_its_latest_rows(
    tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from container.evaluation import job

    monkeypatch.setattr(job, "MAX_POOLED_ROWS", 100)
    rows = [
        {**row, "event_time": f"2026-11-23T00:{i // 60:02d}:{i % 60:02d}.000Z"}
        for i, row in enumerate(joined_rows(1000, seed=8))
    ]
    root = _root(tmp_path, rows)
    copy_model(trained_model, root, "candidate")
    assert _run(root, monkeypatch) == 0
    evaluation = json.loads((root / "model" / "evaluation.json").read_text())
    assert evaluation["rows"] == 100
    assert "the gate scores the latest 100 holdout rows, from " in capsys.readouterr().out
    # The reward model's training rows come from the same (latest) period, not the whole channel.
    assert 0 < evaluation["reward_model_rows"]["training"] < 1000 - 100


def test_a_challenger_mixed_into_the_uniform_bootstrap_is_not_taken_for_the_serving_policy(
    tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the bootstrap (no artifact: no serving channel) served uniform, with a challenger's share on "a"
    rows = [{**r, "challenger_model_id": "cand-0"} for r in joined_rows(3000, seed=8, probabilities=[0.8, 0.1, 0.1])]
    root = _root(tmp_path, rows)
    copy_model(trained_model, root, "candidate")
    assert _run(root, monkeypatch) == 0
    evaluation = json.loads((root / "model" / "evaluation.json").read_text())
    serving = evaluation["policies"]["serving"]
    # scored as the uniform policy it is, off-policy, not as the logger's on-policy mean (0.38 here)
    assert serving["kind"] == "model" and serving["model_id"] == "logger"
    assert evaluation["logged_mean_reward"] == pytest.approx(0.38, abs=0.04)
    assert serving["dr"]["ci_low"] <= 1 / 3 <= serving["dr"]["ci_high"] < evaluation["logged_mean_reward"]


def _offering(row: dict, index: int, actions: list[str]) -> dict:
    """`row` logged at its own second, offering `actions` (uniformly), with its choice among them."""
    chosen = index % len(actions)
    return {
        **row,
        "event_time": f"2026-11-23T00:{index // 60:02d}:{index % 60:02d}.000Z",
        "actions": json.dumps([{"id": a, "features": {}} for a in actions]),
        "action": actions[chosen],
        "action_index": chosen,
        "action_prob": 1 / len(actions),
        "probabilities": json.dumps([1 / len(actions)] * len(actions)),
    }


def test_first_new_action_is_the_earliest_offer_of_an_action_the_serving_model_never_saw() -> None:
    rows = [parse_row(_offering(r, i, ACTIONS + (["d"] if i >= 5 else []))) for i, r in enumerate(joined_rows(8))]
    later = parse_row(_offering(joined_rows(1)[0], 30, [*ACTIONS, "e"]))
    assert first_new_action([later, *rows], set(ACTIONS)) == ("2026-11-23T00:00:05.000Z", ["d", "e"])
    assert first_new_action(rows[:5], set(ACTIONS)) is None
    assert first_new_action(rows, set()) is None  # a serving model that names no actions cannot say what is new
    # written with an offset: an earlier time than 00:00:05Z, though a later string; compared as times
    offset = replace(rows[6], event_time="2026-11-23T01:00:04.000+01:00")
    assert first_new_action([*rows, offset], set(ACTIONS)) == ("2026-11-23T01:00:04.000+01:00", ["d"])


def test_once_a_new_action_is_offered_the_gate_reads_the_pool_from_then_on(
    tmp_path: Path, trained_model: Path, copy_model, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    rows = [_offering(r, i, ACTIONS + (["d"] if i >= 600 else [])) for i, r in enumerate(joined_rows(1000, seed=9))]
    root = _root(tmp_path, rows)
    copy_model(trained_model, root, "candidate")
    copy_model(trained_model, root, "serving")
    assert _run(root, monkeypatch) == 0
    evaluation = json.loads((root / "model" / "evaluation.json").read_text())
    assert evaluation["new_actions"] == {"actions": ["d"], "first_offered": "2026-11-23T00:10:00.000Z"}
    assert evaluation["holdout_since"] == "2026-11-23T00:09:59.999Z"
    assert evaluation["rows"] == sum(is_holdout(r["event_id"], 0.3) for r in rows[600:])
    assert "actions new to the serving model (d) first offered at 2026-11-23T00:10:00.000Z" in capsys.readouterr().out


def test_arrival_order_compares_event_times_as_times_not_strings() -> None:
    rows = [parse_row(_offering(r, i, ACTIONS)) for i, r in enumerate(joined_rows(3))]
    # 00:00:01.5Z written with an offset: after row 1 and before row 2 in time, last as a string
    offset = replace(rows[0], event_id="ev-offset", event_time="2026-11-23T01:00:01.500+01:00")
    ordered, repeats = logged_rows.in_arrival_order([offset, *reversed(rows)])
    assert [r.event_id for r in ordered] == [rows[0].event_id, rows[1].event_id, "ev-offset", rows[2].event_id]
    assert repeats == 0
