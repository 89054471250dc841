"""Settings and the jobs' hyperparameters read one set of bounds: whatever the settings accept, the jobs accept."""

from __future__ import annotations

import json

import pytest

from contract.bounds import (
    EVALUATION_BOUNDS,
    EVALUATION_HYPERPARAMETER_SETTINGS,
    HYPERPARAMETER_SETTINGS,
    SETTING_BOUNDS,
    TRAINING_BOUNDS,
    Bound,
)
from contract.settings import STEPS, Settings, SettingsError, parse_settings


@pytest.mark.parametrize(
    ("names", "bounds"),
    [(HYPERPARAMETER_SETTINGS, TRAINING_BOUNDS), (EVALUATION_HYPERPARAMETER_SETTINGS, EVALUATION_BOUNDS)],
)
def test_every_settings_range_lies_within_its_jobs_range(names: dict[str, str], bounds: dict[str, Bound]) -> None:
    for hyperparameter, setting in names.items():
        if setting in SETTING_BOUNDS:
            assert SETTING_BOUNDS[setting].within(bounds[hyperparameter]), (hyperparameter, setting)


def test_the_jobs_accept_the_edges_of_every_setting() -> None:
    """The lowest and the highest value of each numeric setting become hyperparameters both jobs parse."""
    from container.core.config import parse_config
    from container.evaluation.job import parse_config as parse_evaluation

    for name, bound in SETTING_BOUNDS.items():
        for edge in (bound.high,) if bound.low_open else (bound.low, bound.high):  # an open end is not a value
            if name.startswith("exploration."):
                raw: dict[str, object] = {"exploration": {name.split(".", 1)[1]: type_of(name)(edge)}}
            else:
                raw = {name: type_of(name)(edge)}
            try:
                settings = parse_settings(raw)
            except SettingsError as error:  # an edge another setting's rule forbids (e.g. the time limits)
                assert error.name != name or "must exceed" in str(error) or "at least" in str(error), error
                continue
            parse_config(settings.hyperparameters())
            parse_evaluation(settings.evaluation_hyperparameters())


def type_of(name: str) -> type:
    default = Settings()
    value = getattr(default.exploration, name.split(".", 1)[1]) if "." in name else getattr(default, name)
    return type(value)


def test_an_open_lower_end_is_refused_by_the_settings_and_the_evaluation_job_alike() -> None:
    from container.evaluation.errors import HyperparameterError
    from container.evaluation.job import parse_config as parse_evaluation

    with pytest.raises(SettingsError, match=r"promotion_confidence.*is 0\.5; it must be above 0\.5 and at most 0\.999"):
        parse_settings({"promotion_confidence": 0.5})
    hyperparameters = {**Settings().evaluation_hyperparameters(), "promotion_confidence": "0.5"}
    with pytest.raises(HyperparameterError, match="promotion_confidence"):
        parse_evaluation(hyperparameters)
    assert parse_evaluation({**hyperparameters, "promotion_confidence": "0.501"}).promotion_confidence == 0.501


def test_the_holdout_share_drift_is_gone_and_the_jobs_wider_ranges_are_named() -> None:
    assert SETTING_BOUNDS["holdout_share"] == Bound(0.01, 0.9)
    assert 0.0 in TRAINING_BOUNDS["holdout_share"] and 0.0 not in EVALUATION_BOUNDS["holdout_share"]
    assert 1.0 in EVALUATION_BOUNDS["holdout_share"] and 1.0 not in TRAINING_BOUNDS["holdout_share"]
    with pytest.raises(SettingsError, match=r"between 0\.01 and 0\.9"):
        parse_settings({"holdout_share": 0.0})


def test_settings_json_round_trips_and_is_validated_again() -> None:
    settings = parse_settings({"exploration": {"algorithm": "bag", "bag": 7}, "interactions": ["sa", "ua"]})
    assert Settings.from_json(settings.to_json()) == settings
    bad = {**json.loads(settings.to_json()), "seed": -1}
    with pytest.raises(SettingsError, match=r"'bandit\.seed'"):
        Settings.from_json(json.dumps(bad))
    with pytest.raises(SettingsError):
        Settings.from_json("[]")


def test_each_step_has_its_time_limit() -> None:
    settings = Settings()
    assert [settings.step_timeout_seconds(step) for step in STEPS] == [
        settings.join_timeout_seconds,
        settings.training_timeout_seconds,
        settings.evaluation_timeout_seconds,
        settings.deployment_timeout_seconds,
    ]
    with pytest.raises(SettingsError, match="polling"):
        settings.step_timeout_seconds("polling")


def test_hyperparameters_are_the_named_settings_as_strings() -> None:
    settings = Settings()
    assert set(settings.hyperparameters()) == set(HYPERPARAMETER_SETTINGS)
    assert set(settings.evaluation_hyperparameters()) == set(EVALUATION_HYPERPARAMETER_SETTINGS)
    assert all(isinstance(v, str) for v in settings.hyperparameters().values())


def test_a_bound_is_closed_unless_its_low_end_is_open() -> None:
    assert 0.0 in Bound(0.0, 1.0) and 1.0 in Bound(0.0, 1.0) and 1.1 not in Bound(0.0, 1.0)
    assert 0.0 not in Bound(0.0, 1.0, low_open=True) and 1e-9 in Bound(0.0, 1.0, low_open=True)
    assert Bound(0.0, 1.0, low_open=True).within(Bound(0.0, 1.0))
    assert not Bound(0.0, 1.0).within(Bound(0.0, 1.0, low_open=True))


def test_the_reward_range_reaches_the_evaluation_job_and_its_widest_setting_is_one_the_job_accepts() -> None:
    from container.evaluation.job import parse_config as parse_evaluation

    widest = parse_settings({"reward_range": [-1e12, 1e12]}).evaluation_hyperparameters()
    assert (widest["reward_min"], widest["reward_max"]) == ("-1e+12", "1e+12")
    assert parse_evaluation(widest).reward_range == (-1e12, 1e12)
    with pytest.raises(SettingsError, match=r"has 10000000000000.0; each end must be between -1e\+12 and 1e\+12"):
        parse_settings({"reward_range": [0, 1e13]})
