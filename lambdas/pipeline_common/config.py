"""Environment and settings as the Lambdas receive them (docs/contracts.md: env vars, `SETTINGS_JSON`).

The settings are validated by `infra/settings.py` at synth time; here they are only read, with the few fields the
pipeline needs typed, so a handler never depends on the CDK code (which is not in the Lambda asset).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from pipeline_common.errors import ConfigError


def env(name: str) -> str:
    """A required environment variable; a missing one is a deployment error named in the message."""
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"environment variable {name} is not set")
    return value


def env_list(name: str) -> list[str]:
    """A comma-separated environment variable (empty or unset -> empty list)."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _num(value: float) -> str:
    """Shortest decimal text of a number, as `infra.settings._num` writes hyperparameters."""
    return f"{float(value):g}"


def _pair(value: Any) -> tuple[float, float]:
    """`reward_range` from JSON (a list of two numbers, validated by `infra.settings`)."""
    low, high = value
    return float(low), float(high)


@dataclass(frozen=True)
class RunSettings:
    """The settings a run reads; `raw` keeps everything for `hyperparameters()`."""

    experiment_id: str
    retrain_threshold: int
    reward_wait_seconds: int
    missing_reward: str
    default_reward: float
    reward_range: tuple[float, float]
    min_training_rows: int
    holdout_share: float
    seed: int
    training_instance_type: str
    endpoint_instance_type: str
    endpoint_instance_count: int
    canary_percent: int
    canary_wait_seconds: int
    termination_wait_seconds: int
    promotion_estimator: str
    promotion_margin: float
    promotion_interval: str
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, text: str) -> RunSettings:
        """Parse `SETTINGS_JSON` (`Settings.to_json()`)."""
        try:
            raw = json.loads(text)
            return cls(
                experiment_id=str(raw["experiment_id"]),
                retrain_threshold=int(raw["retrain_threshold"]),
                reward_wait_seconds=int(raw["reward_wait_seconds"]),
                missing_reward=str(raw["missing_reward"]),
                default_reward=float(raw["default_reward"]),
                reward_range=_pair(raw.get("reward_range", [0.0, 1.0])),
                min_training_rows=int(raw["min_training_rows"]),
                holdout_share=float(raw["holdout_share"]),
                seed=int(raw["seed"]),
                training_instance_type=str(raw["training_instance_type"]),
                endpoint_instance_type=str(raw["endpoint_instance_type"]),
                endpoint_instance_count=int(raw["endpoint_instance_count"]),
                canary_percent=int(raw["canary_percent"]),
                canary_wait_seconds=int(raw["canary_wait_seconds"]),
                termination_wait_seconds=int(raw["termination_wait_seconds"]),
                promotion_estimator=str(raw["promotion_estimator"]),
                promotion_margin=float(raw["promotion_margin"]),
                promotion_interval=str(raw.get("promotion_interval", "normal")),
                raw=raw,
            )
        except (ValueError, TypeError, KeyError) as error:
            raise ConfigError(f"SETTINGS_JSON is not valid settings JSON: {error!r}") from error

    def hyperparameters(self) -> dict[str, str]:
        """The training job's hyperparameters, exactly as `infra.settings.Settings.hyperparameters()` (tested)."""
        exploration = self.raw.get("exploration", {})
        return {
            "exploration": str(exploration["algorithm"]),
            "epsilon": _num(exploration["epsilon"]),
            "bag": str(exploration["bag"]),
            "cover": str(exploration["cover"]),
            "tau": _num(exploration["tau"]),
            "gamma_scale": _num(exploration["gamma_scale"]),
            "new_action_share": _num(exploration["new_action_share"]),
            "exploration_floor": _num(exploration["floor"]),
            "interactions": ",".join(self.raw["interactions"]),
            "learning_rate": _num(self.raw["learning_rate"]),
            "quantile_bins": str(self.raw["quantile_bins"]),
            "cost_mapping": str(self.raw["cost_mapping"]),
            "holdout_share": _num(self.holdout_share),
            "seed": str(self.seed),
        }

    def step_timeout_seconds(self, step: str) -> int:
        """The polling-loop limit of `step` (join, training, evaluation, deployment): `<step>_timeout_seconds`."""
        try:
            return int(self.raw[f"{step}_timeout_seconds"])
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"SETTINGS_JSON has no valid {step}_timeout_seconds: {error!r}") from error

    def evaluation_hyperparameters(self) -> dict[str, str]:
        """The evaluation job's hyperparameters (docs/contracts.md, `evaluate`)."""
        return {
            "holdout_share": _num(self.holdout_share),
            "promotion_estimator": self.promotion_estimator,
            "promotion_margin": _num(self.promotion_margin),
            "promotion_interval": self.promotion_interval,
            "seed": str(self.seed),
        }


def delivery_lag_seconds() -> float:
    """`DELIVERY_LAG_SECONDS`: how long a record sent to Firehose may take to land in S3 (its buffer interval plus a
    margin; infra sets it from the delivery streams, the local runtime from its own buffer)."""
    text = env("DELIVERY_LAG_SECONDS")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 3600.0:
        raise ConfigError(f"DELIVERY_LAG_SECONDS must be a number of seconds in [0, 3600], got {text!r}")
    return value


def settings() -> RunSettings:
    """The run settings from `SETTINGS_JSON` (read per call: cheap, and tests can change the environment)."""
    return RunSettings.from_json(env("SETTINGS_JSON"))
