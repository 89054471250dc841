"""Settings in cdk.json: defaults are valid, every bad value is rejected with the setting's name."""

import json

import pytest

from contract.bounds import EXPLORATION_ALGORITHMS
from contract.settings import Settings, SettingsError, parse_settings
from infra.settings import REPO_ROOT, load_settings


def test_cdk_json_defaults_are_valid_and_match_the_dataclass() -> None:
    settings = load_settings()
    raw = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["bandit"]
    assert settings.retrain_threshold == raw["retrain_threshold"]
    assert settings.exploration.algorithm == raw["exploration"]["algorithm"]
    # cdk.json documents every setting: nothing falls back to a hidden default.
    assert set(raw) == set(Settings.__dataclass_fields__)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ({"retrain_threshold": -1}, "retrain_threshold"),
        ({"retrain_threshold": 0}, "retrain_threshold"),
        ({"retrain_threshold": "500"}, "retrain_threshold"),
        ({"retrain_threshold": True}, "retrain_threshold"),
        ({"exploration": {"algorithm": "greedy"}}, "exploration.algorithm"),
        ({"exploration": {"epsilon": 1.5}}, "exploration.epsilon"),
        ({"exploration": {"temperature": 1}}, "exploration.temperature"),
        ({"exploration": {"new_action_share": 0.6}}, "exploration.new_action_share"),
        ({"exploration": {"new_action_share": -0.1}}, "exploration.new_action_share"),
        ({"exploration": {"floor": 0.7}}, "exploration.floor"),
        ({"promotion_margin": 2}, "promotion_margin"),
        ({"promotion_margin": -0.1}, "promotion_margin"),
        ({"promotion_confidence": 0.5}, "promotion_confidence"),
        ({"promotion_confidence": 1.0}, "promotion_confidence"),
        ({"promotion_confidence": "0.95"}, "promotion_confidence"),
        ({"promotion_estimator": "magic"}, "promotion_estimator"),
        ({"holdout_share": 0}, "holdout_share"),
        ({"missing_reward": "ignore"}, "missing_reward"),
        ({"canary_percent": 0}, "canary_percent"),
        ({"endpoint_instance_count": 0}, "endpoint_instance_count"),
        ({"endpoint_instance_count": 1.5}, "endpoint_instance_count"),
        ({"endpoint_instance_count": 2, "canary_percent": 60}, "canary_percent"),
        ({"training_instance_type": "m5.large"}, "training_instance_type"),
        ({"experiment_id": "has space"}, "experiment_id"),
        ({"interactions": ["s"]}, "interactions"),
        ({"retrain_treshold": 10}, "retrain_treshold"),
    ],
)
def test_bad_settings_name_the_setting(raw: dict, name: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw)
    assert caught.value.name == name
    assert f"'bandit.{name}'" in str(caught.value)


@pytest.mark.parametrize("algorithm", EXPLORATION_ALGORITHMS)
def test_every_exploration_algorithm_is_accepted(algorithm: str) -> None:
    settings = parse_settings({"exploration": {"algorithm": algorithm}})
    assert settings.hyperparameters()["exploration"] == algorithm


def test_hyperparameters_are_strings_for_sagemaker() -> None:
    hyperparameters = load_settings().hyperparameters()
    assert hyperparameters and all(isinstance(v, str) for v in hyperparameters.values())
    given = load_settings(overrides={"exploration": {"epsilon": 0.05, "new_action_share": 0.15, "floor": 0.0}})
    written = given.hyperparameters()
    assert written["epsilon"] == "0.05"
    assert written["new_action_share"] == "0.15" and written["exploration_floor"] == "0"


def test_overrides_are_validated_too() -> None:
    assert load_settings(overrides={"retrain_threshold": 40}).retrain_threshold == 40
    with pytest.raises(SettingsError, match="poll_seconds"):
        load_settings(overrides={"poll_seconds": 0})


def test_settings_json_round_trips() -> None:
    settings = load_settings()
    data = json.loads(settings.to_json())
    assert data["exploration"]["algorithm"] == settings.exploration.algorithm
    assert data["promotion_margin"] == settings.promotion_margin


def test_endpoint_instance_count_is_a_setting_and_the_default_rollout_is_valid() -> None:
    """deploy.py read `endpoint_instance_count`, which the settings refused as unknown: now it is validated, and the
    default (1 instance, canary_percent 10) is a valid combination (the rollout is all at once)."""
    assert load_settings().endpoint_instance_count == 1
    settings = parse_settings({"endpoint_instance_count": 4, "canary_percent": 25})
    assert (settings.endpoint_instance_count, settings.canary_percent) == (4, 25)
    assert json.loads(settings.to_json())["endpoint_instance_count"] == 4
    assert parse_settings({"endpoint_instance_count": 3, "canary_percent": 100}).canary_percent == 100


def test_a_canary_above_half_the_fleet_names_the_limit() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings({"endpoint_instance_count": 4, "canary_percent": 75})
    assert "endpoint_instance_count 4" in str(caught.value) and "50%" in str(caught.value)
