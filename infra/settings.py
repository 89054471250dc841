"""Experiment settings: read once from `cdk.json` context, validated, shared by infra and the local runtime.

Every tunable lives under the `bandit` context key. Validation fails `cdk synth` (and `local up`) with a
message that names the offending setting, so a typo never reaches a deployed pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CONTEXT_KEY = "bandit"
EXPLORATION_ALGORITHMS = ("epsilon", "bag", "cover", "softmax", "squarecb", "rnd")
ESTIMATORS = ("ips", "snips", "dr")
PROMOTION_INTERVALS = ("normal", "anytime")
MISSING_REWARD_POLICIES = ("default", "drop")
COST_MAPPINGS = ("one_minus_reward", "negative_reward")
MAX_CANARY_PERCENT = 50
MAX_NEW_ACTION_SHARE = 0.5
"""New actions share at most half of a decision's probability: the known actions keep the majority."""
MAX_EXPLORATION_FLOOR = 0.5
REPO_ROOT = Path(__file__).resolve().parent.parent
TRAINING_JOB_MAX_RUNTIME_SECONDS = 4 * 3600
"""The jobs' `StoppingCondition.MaxRuntimeInSeconds` (`sagemaker_requests.MAX_TRAINING_SECONDS`, tested equal):
SageMaker stops a job after it, so a polling loop shorter than it would give up on a job still allowed to run."""
MAX_FIREHOSE_BUFFER_SECONDS = 900
"""The largest Firehose buffer interval: the most a triggered run can wait for delivery before it joins."""


class SettingsError(ValueError):
    """A setting in `cdk.json` is missing, of the wrong type or out of range."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"setting '{CONTEXT_KEY}.{name}' {problem}")
        self.name = name


@dataclass(frozen=True)
class Exploration:
    """How the served policy explores (VW `--cb_explore_adf` reduction and its parameters)."""

    algorithm: str = "squarecb"
    epsilon: float = 0.05
    bag: int = 5
    cover: int = 3
    tau: float = 1.0
    gamma_scale: float = 300.0
    new_action_share: float = 0.05
    floor: float = 0.0


@dataclass(frozen=True)
class Settings:
    """The validated `bandit` context of `cdk.json`; see the README's configuration table."""

    experiment_id: str = "bandit-demo"
    retrain_threshold: int = 500
    reward_wait_seconds: int = 300
    missing_reward: str = "default"
    default_reward: float = 0.0
    reward_range: tuple[float, float] = (0.0, 1.0)
    min_training_rows: int = 50
    holdout_share: float = 0.2
    exploration: Exploration = field(default_factory=Exploration)
    interactions: tuple[str, ...] = ("sa",)
    learning_rate: float = 0.5
    quantile_bins: int = 16
    cost_mapping: str = "one_minus_reward"
    seed: int = 7
    training_instance_type: str = "ml.m5.large"
    endpoint_instance_type: str = "ml.m5.large"
    endpoint_instance_count: int = 1
    canary_percent: int = 10
    canary_wait_seconds: int = 300
    termination_wait_seconds: int = 120
    promotion_estimator: str = "dr"
    promotion_margin: float = 0.01
    promotion_interval: str = "normal"
    poll_seconds: int = 30
    join_timeout_seconds: int = 2400
    training_timeout_seconds: int = 16200
    evaluation_timeout_seconds: int = 16200
    deployment_timeout_seconds: int = 7200
    run_timeout_seconds: int = 86400
    log_retention_days: int = 30

    def hyperparameters(self) -> dict[str, str]:
        """SageMaker hyperparameters for the `train` entry point (SageMaker passes strings only)."""
        return {
            "exploration": self.exploration.algorithm,
            "epsilon": _num(self.exploration.epsilon),
            "bag": str(self.exploration.bag),
            "cover": str(self.exploration.cover),
            "tau": _num(self.exploration.tau),
            "gamma_scale": _num(self.exploration.gamma_scale),
            "new_action_share": _num(self.exploration.new_action_share),
            "exploration_floor": _num(self.exploration.floor),
            "interactions": ",".join(self.interactions),
            "learning_rate": _num(self.learning_rate),
            "quantile_bins": str(self.quantile_bins),
            "cost_mapping": self.cost_mapping,
            "holdout_share": _num(self.holdout_share),
            "seed": str(self.seed),
        }

    def to_json(self) -> str:
        """All settings as JSON: handed to the Lambdas as the `SETTINGS_JSON` environment variable."""
        return json.dumps(asdict(self), sort_keys=True)


def _num(value: float) -> str:
    """Shortest decimal text of a number (SageMaker hyperparameters are strings)."""
    return f"{float(value):g}"


def _check_type(name: str, value: Any, kind: type | tuple[type, ...]) -> None:
    # bool is an int in Python; a threshold of `true` is a typo, not a number.
    if isinstance(value, bool) and kind is not bool:
        raise SettingsError(name, f"must be a number, not {json.dumps(value)}")
    if not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SettingsError(name, f"must be of type {expected}, not {type(value).__name__} ({json.dumps(value)})")


def _bounded(name: str, value: Any, kind: type | tuple[type, ...], low: float, high: float) -> Any:
    _check_type(name, value, kind)
    if not low <= value <= high:
        raise SettingsError(name, f"is {value}; it must be between {low} and {high}")
    return value


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingsError(name, f"is {json.dumps(value)}; it must be one of {', '.join(allowed)}")
    return value


_NUM = (int, float)
_DEFAULTS = Settings()


def parse_settings(raw: Mapping[str, Any] | None) -> Settings:
    """Validate the `bandit` context; unknown keys are rejected so a misspelt setting is not silently ignored."""
    raw = dict(raw or {})
    known = set(Settings.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(unknown[0], f"is not a known setting (known: {', '.join(sorted(known))})")
    get = lambda key: raw.get(key, getattr(_DEFAULTS, key))  # noqa: E731

    experiment_id = get("experiment_id")
    _check_type("experiment_id", experiment_id, str)
    if not experiment_id or not all(c.isalnum() or c == "-" for c in experiment_id) or len(experiment_id) > 40:
        raise SettingsError("experiment_id", f"is {json.dumps(experiment_id)}; use 1-40 letters, digits or '-'")

    exploration_raw = dict(raw.get("exploration", {}))
    known_exp = set(Exploration.__dataclass_fields__)
    bad = sorted(set(exploration_raw) - known_exp)
    if bad:
        raise SettingsError(f"exploration.{bad[0]}", f"is not known (known: {', '.join(sorted(known_exp))})")
    d = Exploration()
    exploration = Exploration(
        algorithm=_one_of(
            "exploration.algorithm", exploration_raw.get("algorithm", d.algorithm), EXPLORATION_ALGORITHMS
        ),
        epsilon=_bounded("exploration.epsilon", exploration_raw.get("epsilon", d.epsilon), _NUM, 0.0, 1.0),
        bag=_bounded("exploration.bag", exploration_raw.get("bag", d.bag), int, 2, 100),
        cover=_bounded("exploration.cover", exploration_raw.get("cover", d.cover), int, 1, 100),
        tau=_bounded("exploration.tau", exploration_raw.get("tau", d.tau), _NUM, 0.0, 1e6),
        gamma_scale=_bounded(
            "exploration.gamma_scale", exploration_raw.get("gamma_scale", d.gamma_scale), _NUM, 0.0, 1e6
        ),
        new_action_share=_bounded(
            "exploration.new_action_share",
            exploration_raw.get("new_action_share", d.new_action_share),
            _NUM,
            0.0,
            MAX_NEW_ACTION_SHARE,
        ),
        floor=_bounded("exploration.floor", exploration_raw.get("floor", d.floor), _NUM, 0.0, MAX_EXPLORATION_FLOOR),
    )

    interactions = get("interactions")
    if isinstance(interactions, str):
        interactions = [interactions]
    _check_type("interactions", interactions, (list, tuple))
    for item in interactions:
        if not isinstance(item, str) or not item.isalpha() or len(item) < 2:
            raise SettingsError("interactions", f"has {json.dumps(item)}; each entry is namespace letters like 'sa'")

    endpoint_instance_count = _bounded("endpoint_instance_count", get("endpoint_instance_count"), int, 1, 100)
    canary_percent = _canary_percent(get("canary_percent"), endpoint_instance_count)
    return Settings(
        experiment_id=experiment_id,
        retrain_threshold=_bounded("retrain_threshold", get("retrain_threshold"), int, 1, 10**9),
        reward_wait_seconds=_bounded("reward_wait_seconds", get("reward_wait_seconds"), int, 0, 7 * 86400),
        missing_reward=_one_of("missing_reward", get("missing_reward"), MISSING_REWARD_POLICIES),
        default_reward=_bounded("default_reward", get("default_reward"), _NUM, -1e6, 1e6),
        reward_range=_reward_range(get("reward_range")),
        min_training_rows=_bounded("min_training_rows", get("min_training_rows"), int, 1, 10**9),
        holdout_share=_bounded("holdout_share", get("holdout_share"), _NUM, 0.01, 0.9),
        exploration=exploration,
        interactions=tuple(interactions),
        learning_rate=_bounded("learning_rate", get("learning_rate"), _NUM, 1e-6, 100.0),
        quantile_bins=_bounded("quantile_bins", get("quantile_bins"), int, 0, 256),
        cost_mapping=_one_of("cost_mapping", get("cost_mapping"), COST_MAPPINGS),
        seed=_bounded("seed", get("seed"), int, 0, 2**31 - 1),
        training_instance_type=_instance_type("training_instance_type", get("training_instance_type")),
        endpoint_instance_type=_instance_type("endpoint_instance_type", get("endpoint_instance_type")),
        endpoint_instance_count=endpoint_instance_count,
        canary_percent=canary_percent,
        canary_wait_seconds=_bounded("canary_wait_seconds", get("canary_wait_seconds"), int, 0, 3600),
        termination_wait_seconds=_bounded("termination_wait_seconds", get("termination_wait_seconds"), int, 0, 3600),
        promotion_estimator=_one_of("promotion_estimator", get("promotion_estimator"), ESTIMATORS),
        promotion_margin=_bounded("promotion_margin", get("promotion_margin"), _NUM, 0.0, 1.0),
        promotion_interval=_one_of("promotion_interval", get("promotion_interval"), PROMOTION_INTERVALS),
        poll_seconds=_bounded("poll_seconds", get("poll_seconds"), int, 1, 3600),
        **_time_limits(get),
        log_retention_days=_bounded("log_retention_days", get("log_retention_days"), int, 1, 3653),
    )


def _reward_range(value: Any) -> tuple[float, float]:
    """`[low, high]`, finite, low < high: the join quarantines a reward outside it (docs/contracts.md)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise SettingsError("reward_range", f"is {json.dumps(value)}; it must be [low, high]")
    low, high = (_bounded("reward_range", bound, _NUM, -1e308, 1e308) for bound in value)
    if not low < high:
        raise SettingsError("reward_range", f"is {json.dumps(list(value))}; low must be below high")
    return float(low), float(high)


def rollout_timeout_seconds(canary_wait_seconds: int, termination_wait_seconds: int) -> int:
    """The blue/green `MaximumExecutionTimeoutInSeconds` that `sagemaker_requests.deployment_config` sends (tested
    equal): the deployment loop must outlast it, or the run gives up on a rollout SageMaker is still allowed."""
    return min(28800, max(600, canary_wait_seconds + termination_wait_seconds + 3600))


def _time_limits(get: Any) -> dict[str, int]:
    """The polling loops' limits and the execution's `TimeoutSeconds`, each long enough for what it waits on."""
    limits = {
        "join_timeout_seconds": _bounded("join_timeout_seconds", get("join_timeout_seconds"), int, 60, 86400),
        "training_timeout_seconds": _bounded(
            "training_timeout_seconds", get("training_timeout_seconds"), int, 60, 7 * 86400
        ),
        "evaluation_timeout_seconds": _bounded(
            "evaluation_timeout_seconds", get("evaluation_timeout_seconds"), int, 60, 7 * 86400
        ),
        "deployment_timeout_seconds": _bounded(
            "deployment_timeout_seconds", get("deployment_timeout_seconds"), int, 60, 86400
        ),
    }
    for name in ("training_timeout_seconds", "evaluation_timeout_seconds"):
        if limits[name] <= TRAINING_JOB_MAX_RUNTIME_SECONDS:
            raise SettingsError(
                name,
                f"is {limits[name]}; it must exceed the jobs' MaxRuntimeInSeconds ({TRAINING_JOB_MAX_RUNTIME_SECONDS})",
            )
    rollout = rollout_timeout_seconds(get("canary_wait_seconds"), get("termination_wait_seconds"))
    if limits["deployment_timeout_seconds"] <= rollout:
        raise SettingsError(
            "deployment_timeout_seconds",
            f"is {limits['deployment_timeout_seconds']}; it must exceed the blue/green "
            f"MaximumExecutionTimeoutInSeconds ({rollout} s for these canary and termination waits)",
        )
    run_timeout = _bounded("run_timeout_seconds", get("run_timeout_seconds"), int, 60, 365 * 86400)
    needed = get("reward_wait_seconds") + MAX_FIREHOSE_BUFFER_SECONDS + sum(limits.values()) + 4 * get("poll_seconds")
    if run_timeout < needed:
        raise SettingsError(
            "run_timeout_seconds",
            f"is {run_timeout}; it must be at least {needed} (reward wait + {MAX_FIREHOSE_BUFFER_SECONDS} s delivery "
            "+ the four step limits + one poll each), or the execution times out before its steps do",
        )
    return {**limits, "run_timeout_seconds": run_timeout}


def _canary_percent(value: Any, instance_count: int) -> int:
    """1-100; with 2 or more instances a canary (below 100) may hold at most half of them.

    SageMaker's TrafficRoutingConfig: "CanarySize ... must be less than or equal to 50% of the variant's total
    instance count". With one instance there is no canary at all (the rollout is ALL_AT_ONCE with a bake), so the
    percentage does not matter there and the default (10) stays valid.
    """
    percent = _bounded("canary_percent", value, int, 1, 100)
    if instance_count >= 2 and MAX_CANARY_PERCENT < percent < 100:
        raise SettingsError(
            "canary_percent",
            f"is {percent}; with endpoint_instance_count {instance_count} the canary may hold at most "
            f"{MAX_CANARY_PERCENT}% of the instances (SageMaker's CanarySize limit): use 1-{MAX_CANARY_PERCENT}, "
            "or 100 to shift all traffic at once",
        )
    return percent


def _instance_type(name: str, value: Any) -> str:
    _check_type(name, value, str)
    if not value.startswith("ml.") or value.count(".") != 2:
        raise SettingsError(name, f"is {json.dumps(value)}; expected a SageMaker instance type like 'ml.m5.large'")
    return value


def load_settings(cdk_json: Path = REPO_ROOT / "cdk.json", overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings from `cdk.json` (the one place they live), with optional overrides (the local demo's flags)."""
    context = json.loads(cdk_json.read_text()).get("context", {})
    raw = dict(context.get(CONTEXT_KEY, {}))
    raw.update(overrides or {})
    return parse_settings(raw)
