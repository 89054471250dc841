"""What each setting and each job hyperparameter may be: the allowed choices and the numeric ranges, in one place.

The settings (`cdk.json`, validated by `contract.settings`) and the SageMaker jobs' hyperparameters (validated by
the container) read the same bounds, so a value the settings accept is one the jobs accept. A job's range is wider
only where a job also runs outside the pipeline, and the reason is written next to it (`TRAINING_HOLDOUT_SHARE`,
`EVALUATION_HOLDOUT_SHARE`); `tests/contract/` checks that every setting's range lies within its job's.
"""

from __future__ import annotations

from dataclasses import dataclass

EXPLORATION_ALGORITHMS = ("epsilon", "bag", "cover", "softmax", "squarecb", "rnd")
"""VW `--cb_explore_adf` reductions the policy can explore with."""
ESTIMATORS = ("ips", "snips", "dr")
"""Off-policy estimators the evaluator reports and the promotion gate can use."""
PROMOTION_INTERVALS = ("normal", "anytime")
"""How the gate bounds the paired difference: the normal approximation, or the betting confidence sequence that
stays valid when the gate looks again every run."""
MISSING_REWARD_POLICIES = ("default", "drop")
DECISION_ACKNOWLEDGEMENTS = ("spool", "firehose")
"""When the endpoint answers a decision: once its record is in the worker's spool on the instance's disk (a worker
crash loses nothing; the loss of the instance loses what was not yet delivered), or once Firehose has taken it
(nothing answered is lost, each decision waits for one PutRecordBatch)."""
COST_MAPPINGS = ("one_minus_reward", "negative_reward")


@dataclass(frozen=True)
class Bound:
    """A closed numeric range `[low, high]`, or `(low, high]` when `low_open`."""

    low: float
    high: float
    low_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = self.low < value if self.low_open else self.low <= value
        return above and value <= self.high

    def within(self, other: Bound) -> bool:
        """Whether every value of this range is in `other`."""
        low_ok = other.low < self.low or (other.low == self.low and (self.low_open or not other.low_open))
        return low_ok and self.high <= other.high

    def text(self) -> str:
        """The range as a message shows it: `between 0 and 1`, or `above 0 and at most 1`."""
        if self.low_open:
            return f"above {self.low:g} and at most {self.high:g}"
        return f"between {self.low:g} and {self.high:g}"


MAX_NEW_ACTION_SHARE = 0.5
"""New actions share at most half of a decision's probability: the known actions keep the majority."""
MAX_EXPLORATION_FLOOR = 0.5
MAX_CHALLENGER_SHARE = 0.5
"""A rejected candidate (the challenger) serves at most half of each decision's distribution: the model the gate
chose keeps the majority."""
MAX_CANARY_PERCENT = 50
"""SageMaker's `CanarySize` may hold at most half of the variant's instances (checked in `contract.settings`)."""

REWARD_RANGE_BOUND = Bound(-1e12, 1e12)
"""Each end of the `reward_range` setting (`[low, high]`, low < high), and so of the evaluation job's `reward_min` /
`reward_max`: the join quarantines a reward outside the setting's range, and the estimators scale by its width,
which must stay finite."""

SETTING_BOUNDS: dict[str, Bound] = {
    "retrain_threshold": Bound(1, 10**9),
    "reward_wait_seconds": Bound(0, 7 * 86400),
    "default_reward": Bound(-1e6, 1e6),
    "min_training_rows": Bound(1, 10**9),
    "holdout_share": Bound(0.01, 0.9),
    "exploration.epsilon": Bound(0.0, 1.0),
    "exploration.bag": Bound(2, 100),
    "exploration.cover": Bound(1, 100),
    "exploration.tau": Bound(0.0, 1e6),
    "exploration.gamma_scale": Bound(0.0, 1e6),
    "exploration.new_action_share": Bound(0.0, MAX_NEW_ACTION_SHARE),
    "exploration.floor": Bound(0.0, MAX_EXPLORATION_FLOOR),
    "learning_rate": Bound(1e-6, 100.0),
    "quantile_bins": Bound(0, 256),
    "seed": Bound(0, 2**31 - 1),
    "endpoint_instance_count": Bound(1, 100),
    "canary_percent": Bound(1, 100),
    "canary_wait_seconds": Bound(0, 3600),
    "termination_wait_seconds": Bound(0, 3600),
    "promotion_margin": Bound(0.0, 1.0),
    "promotion_confidence": Bound(0.5, 0.999, low_open=True),
    "challenger_share": Bound(0.0, MAX_CHALLENGER_SHARE),
    "poll_seconds": Bound(1, 3600),
    "join_timeout_seconds": Bound(60, 86400),
    "training_timeout_seconds": Bound(60, 7 * 86400),
    "evaluation_timeout_seconds": Bound(60, 7 * 86400),
    "deployment_timeout_seconds": Bound(60, 86400),
    "run_timeout_seconds": Bound(60, 365 * 86400),
    "log_retention_days": Bound(1, 3653),
}
"""Numeric settings by their name in `cdk.json` (nested ones as `exploration.<name>`)."""

TRAINING_HOLDOUT_SHARE = Bound(0.0, SETTING_BOUNDS["holdout_share"].high)
"""The training job also takes 0 (train on every row): benchmarks train on their whole pool and evaluate apart."""
EVALUATION_HOLDOUT_SHARE = Bound(0.0, 1.0, low_open=True)
"""The evaluation job also takes 1 (evaluate on every row, for a pool held out elsewhere), never 0: with no holdout
there is nothing to evaluate on."""

HYPERPARAMETER_SETTINGS: dict[str, str] = {
    "exploration": "exploration.algorithm",
    "epsilon": "exploration.epsilon",
    "bag": "exploration.bag",
    "cover": "exploration.cover",
    "tau": "exploration.tau",
    "gamma_scale": "exploration.gamma_scale",
    "new_action_share": "exploration.new_action_share",
    "exploration_floor": "exploration.floor",
    "interactions": "interactions",
    "learning_rate": "learning_rate",
    "quantile_bins": "quantile_bins",
    "cost_mapping": "cost_mapping",
    "holdout_share": "holdout_share",
    "seed": "seed",
}
"""The training job's hyperparameters (`Settings.hyperparameters()`) and the setting each one carries."""
EVALUATION_HYPERPARAMETER_SETTINGS: dict[str, str] = {
    "holdout_share": "holdout_share",
    "promotion_estimator": "promotion_estimator",
    "promotion_margin": "promotion_margin",
    "promotion_confidence": "promotion_confidence",
    "promotion_interval": "promotion_interval",
    "reward_min": "reward_range",
    "reward_max": "reward_range",
    "seed": "seed",
}
"""The evaluation job's hyperparameters (`Settings.evaluation_hyperparameters()`) and their settings (the two ends
of `reward_range` are two hyperparameters)."""


def _job_bounds(names: dict[str, str], overrides: dict[str, Bound]) -> dict[str, Bound]:
    table = {hp: SETTING_BOUNDS[setting] for hp, setting in names.items() if setting in SETTING_BOUNDS}
    return {**table, **overrides}


MAX_EXPLORATION_SHARE = 0.9
"""The uniform exploration a drift response may ask for (`exploration_share`): the policy keeps a tenth at least."""
SERVING_BAND_BOUNDS: dict[str, Bound] = {
    "serving_expected_low": Bound(-1e12, 1e12),
    "serving_expected_high": Bound(-1e12, 1e12),
}
"""The serving model's predicted value interval, passed by the pipeline to both jobs for the drift detector."""
DRIFT_TRAINING_BOUNDS: dict[str, Bound] = {
    **SERVING_BAND_BOUNDS,
    "drift_margin": SETTING_BOUNDS["promotion_margin"],
    "exploration_share": Bound(0.0, MAX_EXPLORATION_SHARE),
}
"""The training job's drift hyperparameters (`gate.drift_inputs`, `lineage.adaptation`): the band widened by the
gate's margin, and the share of uniform exploration after a change."""

TRAINING_BOUNDS: dict[str, Bound] = _job_bounds(
    HYPERPARAMETER_SETTINGS,
    {"holdout_share": TRAINING_HOLDOUT_SHARE, "passes": Bound(0, 100), **DRIFT_TRAINING_BOUNDS},
)
"""Numeric hyperparameters of the training job (`passes`: extra passes over the data, a job-only knob; the drift
ones come from the pipeline, not the settings)."""
EVALUATION_BOUNDS: dict[str, Bound] = _job_bounds(
    EVALUATION_HYPERPARAMETER_SETTINGS,
    {
        "holdout_share": EVALUATION_HOLDOUT_SHARE,
        "reward_min": REWARD_RANGE_BOUND,
        "reward_max": REWARD_RANGE_BOUND,
        **SERVING_BAND_BOUNDS,
    },
)
"""Numeric hyperparameters of the evaluation job (`reward_min`/`reward_max`: the rewards' known range, optional;
`serving_expected_low/high`: the serving model's predicted band, for the drift check)."""
