"""The experiment's settings: one frozen dataclass, validated once, and the job hyperparameters they become.

The settings live in `cdk.json` under the `bandit` context key (infra reads the file). `parse_settings` validates
them for `cdk synth` and the local runtime; the Lambdas get them back as `SETTINGS_JSON` (`Settings.to_json()`) and
parse them with `Settings.from_json`, through the same validation. A bad value fails with a `SettingsError` that
names the setting, so a typo never reaches a deployed pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

from contract.bounds import (
    COST_MAPPINGS,
    DECISION_ACKNOWLEDGEMENTS,
    ESTIMATORS,
    EXPLORATION_ALGORITHMS,
    MAX_CANARY_PERCENT,
    MISSING_REWARD_POLICIES,
    PROMOTION_INTERVALS,
    REWARD_RANGE_BOUND,
    SETTING_BOUNDS,
)
from contract.firehose import MAX_BUFFER_SECONDS

CONTEXT_KEY = "bandit"
TRAINING_JOB_MAX_RUNTIME_SECONDS = 4 * 3600
"""The jobs' `StoppingCondition.MaxRuntimeInSeconds`: SageMaker stops a job after it, so a polling loop shorter
than it would give up on a job still allowed to run."""
DRIFT_EXPLORATION_SHARE = 0.3
"""The share of uniform exploration (spread over the actions as a per-action floor by the training job) of a model
trained while the serving model is off its prediction: the changed world has to be seen again, every action of it.
The pipeline passes it as the `exploration_share` hyperparameter (`contract.bounds.DRIFT_TRAINING_BOUNDS`)."""
STEPS = ("join", "training", "evaluation", "deployment")
"""The polling loops, each limited by its `<step>_timeout_seconds` setting."""


class SettingsError(ValueError):
    """A setting is missing, of the wrong type or out of range; the message names it."""

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
    gamma_scale: float = 10.0
    new_action_share: float = 0.2
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
    decision_acknowledgement: str = "spool"
    canary_percent: int = 10
    canary_wait_seconds: int = 300
    termination_wait_seconds: int = 120
    promotion_estimator: str = "dr"
    promotion_margin: float = 0.01
    promotion_confidence: float = 0.95
    promotion_interval: str = "normal"
    challenger_share: float = 0.2
    poll_seconds: int = 30
    join_timeout_seconds: int = 2400
    training_timeout_seconds: int = 16200
    evaluation_timeout_seconds: int = 16200
    deployment_timeout_seconds: int = 7200
    run_timeout_seconds: int = 86400
    log_retention_days: int = 30

    def hyperparameters(self) -> dict[str, str]:
        """The training job's hyperparameters (SageMaker passes strings only; `contract.bounds` names each one's
        setting)."""
        return {
            "exploration": self.exploration.algorithm,
            "epsilon": number_text(self.exploration.epsilon),
            "bag": str(self.exploration.bag),
            "cover": str(self.exploration.cover),
            "tau": number_text(self.exploration.tau),
            "gamma_scale": number_text(self.exploration.gamma_scale),
            "new_action_share": number_text(self.exploration.new_action_share),
            "exploration_floor": number_text(self.exploration.floor),
            "interactions": ",".join(self.interactions),
            "learning_rate": number_text(self.learning_rate),
            "quantile_bins": str(self.quantile_bins),
            "cost_mapping": self.cost_mapping,
            "holdout_share": number_text(self.holdout_share),
            "seed": str(self.seed),
        }

    def evaluation_hyperparameters(self) -> dict[str, str]:
        """The evaluation job's hyperparameters (docs/contracts.md, `evaluate`)."""
        return {
            "holdout_share": number_text(self.holdout_share),
            "promotion_estimator": self.promotion_estimator,
            "promotion_margin": number_text(self.promotion_margin),
            "promotion_confidence": number_text(self.promotion_confidence),
            "promotion_interval": self.promotion_interval,
            # The join quarantines rewards outside the range, so it bounds every joined reward: the intervals use it.
            "reward_min": number_text(self.reward_range[0]),
            "reward_max": number_text(self.reward_range[1]),
            "seed": str(self.seed),
        }

    def step_timeout_seconds(self, step: str) -> int:
        """The polling-loop limit of `step` (one of `STEPS`): its `<step>_timeout_seconds` setting."""
        if step not in STEPS:
            raise SettingsError(f"{step}_timeout_seconds", f"is not a step's limit (steps: {', '.join(STEPS)})")
        value: int = getattr(self, f"{step}_timeout_seconds")
        return value

    def to_json(self) -> str:
        """All settings as JSON: handed to the Lambdas as the `SETTINGS_JSON` environment variable."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        """The settings `to_json` wrote, validated again (SettingsError, or ValueError for text that is not JSON)."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise SettingsError("(all)", f"must be a JSON object, not {type(raw).__name__}")
        return parse_settings(raw)


def number_text(value: float) -> str:
    """Shortest decimal text of a number (SageMaker hyperparameters are strings)."""
    return f"{float(value):g}"


_Kind = type | tuple[type, ...]
_NUM = (int, float)


def _check_type(name: str, value: object, kind: _Kind) -> None:
    # bool is an int in Python; a threshold of `true` is a typo, not a number.
    if isinstance(value, bool) and kind is not bool:
        raise SettingsError(name, f"must be a number, not {json.dumps(value)}")
    if not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SettingsError(name, f"must be of type {expected}, not {type(value).__name__} ({json.dumps(value)})")


def _int(name: str, value: object) -> int:
    """An integer setting within its `SETTING_BOUNDS` range."""
    _check_type(name, value, int)
    assert isinstance(value, int)
    _within(name, value)
    return value


def _float(name: str, value: object) -> float:
    """A number setting (an integer is a number too) within its `SETTING_BOUNDS` range."""
    _check_type(name, value, _NUM)
    assert isinstance(value, int | float)
    _within(name, value)
    return value


def _within(name: str, value: float) -> None:
    bound = SETTING_BOUNDS[name]
    if value not in bound:
        raise SettingsError(name, f"is {value}; it must be {bound.text()}")


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise SettingsError(name, f"is {json.dumps(value)}; it must be one of {', '.join(allowed)}")
    return value


_DEFAULTS = Settings()


def parse_settings(raw: Mapping[str, object] | None) -> Settings:
    """Validate the `bandit` context; unknown keys are rejected so a misspelt setting is not silently ignored."""
    given = dict(raw or {})
    known = set(Settings.__dataclass_fields__)
    unknown = sorted(set(given) - known)
    if unknown:
        raise SettingsError(unknown[0], f"is not a known setting (known: {', '.join(sorted(known))})")

    def get(key: str) -> object:
        return given.get(key, getattr(_DEFAULTS, key))

    experiment_id = get("experiment_id")
    _check_type("experiment_id", experiment_id, str)
    assert isinstance(experiment_id, str)
    if not experiment_id or not all(c.isalnum() or c == "-" for c in experiment_id) or len(experiment_id) > 40:
        raise SettingsError("experiment_id", f"is {json.dumps(experiment_id)}; use 1-40 letters, digits or '-'")

    endpoint_instance_count = _int("endpoint_instance_count", get("endpoint_instance_count"))
    canary_percent = _canary_percent(get("canary_percent"), endpoint_instance_count)
    reward_wait_seconds = _int("reward_wait_seconds", get("reward_wait_seconds"))
    poll_seconds = _int("poll_seconds", get("poll_seconds"))
    canary_wait_seconds = _int("canary_wait_seconds", get("canary_wait_seconds"))
    termination_wait_seconds = _int("termination_wait_seconds", get("termination_wait_seconds"))
    return Settings(
        experiment_id=experiment_id,
        retrain_threshold=_int("retrain_threshold", get("retrain_threshold")),
        reward_wait_seconds=reward_wait_seconds,
        missing_reward=_one_of("missing_reward", get("missing_reward"), MISSING_REWARD_POLICIES),
        default_reward=_float("default_reward", get("default_reward")),
        reward_range=_reward_range(get("reward_range")),
        min_training_rows=_int("min_training_rows", get("min_training_rows")),
        holdout_share=_float("holdout_share", get("holdout_share")),
        exploration=_exploration(given.get("exploration", {})),
        interactions=_interactions(get("interactions")),
        learning_rate=_float("learning_rate", get("learning_rate")),
        quantile_bins=_int("quantile_bins", get("quantile_bins")),
        cost_mapping=_one_of("cost_mapping", get("cost_mapping"), COST_MAPPINGS),
        seed=_int("seed", get("seed")),
        training_instance_type=_instance_type("training_instance_type", get("training_instance_type")),
        endpoint_instance_type=_instance_type("endpoint_instance_type", get("endpoint_instance_type")),
        endpoint_instance_count=endpoint_instance_count,
        decision_acknowledgement=_one_of(
            "decision_acknowledgement", get("decision_acknowledgement"), DECISION_ACKNOWLEDGEMENTS
        ),
        canary_percent=canary_percent,
        canary_wait_seconds=canary_wait_seconds,
        termination_wait_seconds=termination_wait_seconds,
        promotion_estimator=_one_of("promotion_estimator", get("promotion_estimator"), ESTIMATORS),
        promotion_margin=_float("promotion_margin", get("promotion_margin")),
        promotion_confidence=_float("promotion_confidence", get("promotion_confidence")),
        promotion_interval=_one_of("promotion_interval", get("promotion_interval"), PROMOTION_INTERVALS),
        challenger_share=_float("challenger_share", get("challenger_share")),
        poll_seconds=poll_seconds,
        **_time_limits(get, reward_wait_seconds, poll_seconds, canary_wait_seconds, termination_wait_seconds),
        log_retention_days=_int("log_retention_days", get("log_retention_days")),
    )


def _reward_range(value: object) -> tuple[float, float]:
    """`[low, high]`, each end within `REWARD_RANGE_BOUND`, low < high: the join quarantines a reward outside it
    (docs/contracts.md)."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise SettingsError("reward_range", f"is {json.dumps(value)}; it must be [low, high]")
    low, high = value
    for bound in (low, high):
        _check_type("reward_range", bound, _NUM)
        if bound not in REWARD_RANGE_BOUND:
            raise SettingsError("reward_range", f"has {bound}; each end must be {REWARD_RANGE_BOUND.text()}")
    if not low < high:
        raise SettingsError("reward_range", f"is {json.dumps(list(value))}; low must be below high")
    return float(low), float(high)


def _exploration(value: object) -> Exploration:
    if not isinstance(value, Mapping):
        raise SettingsError("exploration", f"must be an object, not {json.dumps(value)}")
    given = dict(value)
    known = set(Exploration.__dataclass_fields__)
    bad = sorted(set(given) - known)
    if bad:
        raise SettingsError(f"exploration.{bad[0]}", f"is not known (known: {', '.join(sorted(known))})")
    d = Exploration()

    def get(key: str) -> object:
        return given.get(key, getattr(d, key))

    return Exploration(
        algorithm=_one_of("exploration.algorithm", get("algorithm"), EXPLORATION_ALGORITHMS),
        epsilon=_float("exploration.epsilon", get("epsilon")),
        bag=_int("exploration.bag", get("bag")),
        cover=_int("exploration.cover", get("cover")),
        tau=_float("exploration.tau", get("tau")),
        gamma_scale=_float("exploration.gamma_scale", get("gamma_scale")),
        new_action_share=_float("exploration.new_action_share", get("new_action_share")),
        floor=_float("exploration.floor", get("floor")),
    )


def _interactions(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    _check_type("interactions", items, (list, tuple))
    assert isinstance(items, list | tuple)
    for item in items:
        if not is_interaction(item):
            raise SettingsError("interactions", f"has {json.dumps(item)}; each entry is namespace letters like 'sa'")
    return tuple(items)


def is_interaction(item: object) -> bool:
    """A VW `-q` interaction: two or more namespace letters (`sa`: shared context x action)."""
    return isinstance(item, str) and item.isalpha() and len(item) >= 2


def rollout_timeout_seconds(canary_wait_seconds: int, termination_wait_seconds: int) -> int:
    """The blue/green `MaximumExecutionTimeoutInSeconds` the deployment sends: the deployment loop must outlast
    it, or the run gives up on a rollout SageMaker is still allowed."""
    return min(28800, max(600, canary_wait_seconds + termination_wait_seconds + 3600))


def _time_limits(
    get: Callable[[str], object], reward_wait: int, poll: int, canary_wait: int, termination_wait: int
) -> dict[str, int]:
    """The polling loops' limits and the execution's `TimeoutSeconds`, each long enough for what it waits on."""
    limits = {
        f"{step}_timeout_seconds": _int(f"{step}_timeout_seconds", get(f"{step}_timeout_seconds")) for step in STEPS
    }
    for name in ("training_timeout_seconds", "evaluation_timeout_seconds"):
        if limits[name] <= TRAINING_JOB_MAX_RUNTIME_SECONDS:
            raise SettingsError(
                name,
                f"is {limits[name]}; it must exceed the jobs' MaxRuntimeInSeconds ({TRAINING_JOB_MAX_RUNTIME_SECONDS})",
            )
    rollout = rollout_timeout_seconds(canary_wait, termination_wait)
    if limits["deployment_timeout_seconds"] <= rollout:
        raise SettingsError(
            "deployment_timeout_seconds",
            f"is {limits['deployment_timeout_seconds']}; it must exceed the blue/green "
            f"MaximumExecutionTimeoutInSeconds ({rollout} s for these canary and termination waits)",
        )
    run_timeout = _int("run_timeout_seconds", get("run_timeout_seconds"))
    needed = reward_wait + MAX_BUFFER_SECONDS + sum(limits.values()) + 4 * poll
    if run_timeout < needed:
        raise SettingsError(
            "run_timeout_seconds",
            f"is {run_timeout}; it must be at least {needed} (reward wait + {MAX_BUFFER_SECONDS} s delivery "
            "+ the four step limits + one poll each), or the execution times out before its steps do",
        )
    return {**limits, "run_timeout_seconds": run_timeout}


def _canary_percent(value: object, instance_count: int) -> int:
    """1-100; with 2 or more instances a canary (below 100) may hold at most half of them.

    SageMaker's TrafficRoutingConfig: "CanarySize ... must be less than or equal to 50% of the variant's total
    instance count". With one instance there is no canary at all (the rollout is ALL_AT_ONCE with a bake), so the
    percentage does not matter there and the default (10) stays valid.
    """
    percent = _int("canary_percent", value)
    if instance_count >= 2 and MAX_CANARY_PERCENT < percent < 100:
        raise SettingsError(
            "canary_percent",
            f"is {percent}; with endpoint_instance_count {instance_count} the canary may hold at most "
            f"{MAX_CANARY_PERCENT}% of the instances (SageMaker's CanarySize limit): use 1-{MAX_CANARY_PERCENT}, "
            "or 100 to shift all traffic at once",
        )
    return percent


def _instance_type(name: str, value: object) -> str:
    _check_type(name, value, str)
    assert isinstance(value, str)
    if not value.startswith("ml.") or value.count(".") != 2:
        raise SettingsError(name, f"is {json.dumps(value)}; expected a SageMaker instance type like 'ml.m5.large'")
    return value
