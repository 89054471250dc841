"""The challenger mixture: the training job packs the serving model, the endpoint mixes a share of the candidate in,
and every decision logs the mixture's probabilities with the challenger's id."""

from __future__ import annotations

import json
import random
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from container_helpers import ACTIONS, contexts, logged_rows, make_layout

from container.core.challenger import SERVING_DIR, ChallengerError, ChallengerMixture, check_share, load_serving_policy
from container.core.featurizer import Action
from container.core.layout import Layout
from container.core.logged_rows import parse_row
from container.core.policy import Policy
from container.evaluation.drift import Expected, detect, serving_rewards
from container.serving.app import DecisionApp
from container.serving.decision_log import DecisionLogger, FileSink
from container.training import train

SHARE = {"CHALLENGER_SHARE": "0.25"}


def _context(x: list[float]) -> dict[str, float]:
    return {f"x{j}": v for j, v in enumerate(x)}


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    """A candidate trained next to a serving model (`model_dir`, given as the `serving_model` channel)."""
    root = make_layout(
        tmp_path_factory.mktemp("packed"), logged_rows(400, seed=5), {"model_id": "m-2", "serving_model_id": "m-1"}
    )
    channel = root / "input" / "data" / train.SERVING_CHANNEL
    channel.mkdir(parents=True)
    with tarfile.open(channel / "model.tar.gz", "w:gz") as tar:  # as S3 hands the serving model's artifact over
        for name in ("vw.model", "metadata.json"):
            tar.add(model_dir / name, arcname=name)
    metadata = train.run(Layout(root))
    assert metadata["serving_model_id"] == "m-1"
    return root / "model"


def test_the_training_job_packs_the_serving_model_beside_the_candidate(packed: Path, model_dir: Path) -> None:
    assert (packed / SERVING_DIR / "vw.model").read_bytes() == (model_dir / "vw.model").read_bytes()
    assert json.loads((packed / SERVING_DIR / "metadata.json").read_text())["model_id"] == "m-1"
    # the candidate itself still loads from the top of its artifact, not from the packed copy
    assert Policy.load(packed).model_id == "m-2"


def test_a_uniform_serving_model_is_packed_as_its_metadata_alone(tmp_path: Path) -> None:
    root = make_layout(tmp_path, logged_rows(200), {"model_id": "m-2", "serving_model_id": "bootstrap-1"})
    train.run(Layout(root))
    serving = Policy.load(root / "model" / SERVING_DIR)
    assert not (root / "model" / SERVING_DIR / "vw.model").exists()
    assert serving.model_id == "bootstrap-1" and serving.is_uniform
    assert serving.distribution({"x0": 0.3}, [Action(a) for a in ACTIONS]) == pytest.approx([1 / 3] * 3)


def test_a_job_without_a_serving_model_packs_nothing(model_dir: Path) -> None:
    assert not (model_dir / SERVING_DIR).exists()
    with pytest.raises(ChallengerError, match="carries no serving/ model"):
        load_serving_policy(model_dir, SHARE)


def test_the_mixture_is_the_shares_of_both_distributions(packed: Path) -> None:
    mixture = load_serving_policy(packed, SHARE, seed=3)
    assert isinstance(mixture, ChallengerMixture)
    serving, candidate = Policy.load(packed / SERVING_DIR), Policy.load(packed)
    assert mixture.model_id == "m-1" and mixture.challenger_model_id == "m-2"
    for x in contexts(20, seed=9):
        mixed = mixture.distribution(_context(x))
        expected = [
            0.75 * s + 0.25 * c
            for s, c in zip(serving.distribution(_context(x)), candidate.distribution(_context(x)), strict=True)
        ]
        assert mixed == pytest.approx(expected) and sum(mixed) == pytest.approx(1.0)
        # every action the candidate plays keeps at least a quarter of its probability: weights stay under 4
        assert all(m >= 0.25 * c - 1e-12 for m, c in zip(mixed, candidate.distribution(_context(x)), strict=True))
    assert mixture.probe()
    for policy in (mixture, serving, candidate):
        policy.close()


def test_decisions_sample_the_mixture_and_log_it_with_the_challengers_id(packed: Path, tmp_path: Path) -> None:
    mixture = load_serving_policy(packed, SHARE, seed=4)
    logger = DecisionLogger(FileSink(tmp_path / "decisions.jsonl"))
    app = DecisionApp(mixture, logger, "exp", "m-1")
    xs = contexts(300, seed=12)
    for x in xs:
        status, body = app.handle("POST", "/invocations", json.dumps({"context": _context(x)}).encode())
        assert status == 200 and json.loads(body)["model_id"] == "m-1"
    logger.close(10)
    records = [json.loads(line) for line in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    assert len(records) == len(xs)
    for record, x in zip(records, xs, strict=True):
        assert record["model_id"] == "m-1" and record["challenger_model_id"] == "m-2"
        probabilities = json.loads(record["probabilities"])
        assert probabilities == pytest.approx(mixture.distribution(_context(x)))
        assert record["action_prob"] == pytest.approx(probabilities[record["action_index"]])
    mixture.close()


def test_the_drift_detector_scores_mixed_rows_as_the_serving_model_alone() -> None:
    rows = [parse_row(r) for r in logged_rows(4)]
    mixed = [replace(r, challenger_model_id="m-2", action_prob=0.5) for r in rows[2:]]
    # the serving model would have played the mixed rows' choices with probability 0.6: weight 1.2
    realized = serving_rewards(rows[:2] + mixed, "uniform-random", (0.0, 1.0), lambda row: 0.6)
    assert realized.values == pytest.approx([r.reward for r in rows[:2]] + [1.2 * r.reward for r in mixed])
    assert realized.bounds == pytest.approx((0.0, 1.2)) and realized.reweighted == 2
    # without the serving model's probabilities, mixed rows cannot be scored and are left out
    alone = serving_rewards(rows[:2] + mixed, "uniform-random", (0.0, 1.0))
    assert alone.rows == rows[:2] and alone.bounds == (0.0, 1.0) and alone.reweighted == 0


def test_a_drop_is_still_detected_while_every_decision_carries_a_challenger() -> None:
    # the serving model was predicted at [0.75, 0.85]; the world changed and what it would have played earns 0.3
    rng = random.Random(3)
    rows = [
        parse_row({**row, "reward": float(rng.random() < 0.3), "challenger_model_id": "m-2", "action_prob": 0.4})
        for row in logged_rows(600)
    ]
    realized = serving_rewards(rows, "uniform-random", (0.0, 1.0), lambda row: 0.4)  # weight 1: it agreed
    check = detect(realized.values, Expected(0.74, 0.86), realized.bounds)
    assert check.detected and check.alarm is not None and check.alarm.direction == "down"
    assert check.alarm.row < 100


@pytest.mark.parametrize(
    ("raw", "message"), [("lots", "not a number"), ("0.7", "between 0 and 0.5"), ("-0.1", "between 0 and 0.5")]
)
def test_a_share_out_of_its_bounds_is_refused_with_its_name(raw: str, message: str) -> None:
    with pytest.raises(ChallengerError, match=f"CHALLENGER_SHARE .*{message}"):
        check_share(raw)


def test_no_share_serves_the_candidate_alone(packed: Path, tmp_path: Path) -> None:
    assert check_share(None) == 0.0 and check_share("0") == 0.0
    copy = tmp_path / "copy"
    shutil.copytree(packed, copy)
    alone = load_serving_policy(copy, {})
    assert isinstance(alone, Policy) and alone.model_id == "m-2" and alone.challenger_model_id is None
    alone.close()
