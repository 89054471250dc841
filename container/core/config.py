"""Training configuration from SageMaker hyperparameters (strings), and the VW arguments it implies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from container.core.errors import ContainerError
from contract.bounds import COST_MAPPINGS, EXPLORATION_ALGORITHMS, TRAINING_BOUNDS
from contract.settings import Exploration, Settings, is_interaction


class ConfigError(ContainerError, ValueError):
    """A hyperparameter is missing its expected form; the message names it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"hyperparameter '{name}' {problem}")
        self.name = name


_SETTINGS = Settings()
_EXPLORATION = Exploration()


@dataclass(frozen=True)
class TrainConfig:
    """What `train` needs; defaults are the contract's default settings, so a bare job still trains sensibly."""

    model_id: str = "local-model"
    parent_model_id: str | None = None
    experiment_id: str | None = None
    exploration: str = _EXPLORATION.algorithm
    epsilon: float = _EXPLORATION.epsilon
    bag: int = _EXPLORATION.bag
    cover: int = _EXPLORATION.cover
    tau: float = _EXPLORATION.tau
    gamma_scale: float = _EXPLORATION.gamma_scale
    new_action_share: float = _EXPLORATION.new_action_share
    exploration_floor: float = _EXPLORATION.floor
    interactions: tuple[str, ...] = _SETTINGS.interactions
    learning_rate: float = _SETTINGS.learning_rate
    quantile_bins: int = _SETTINGS.quantile_bins
    cost_mapping: str = _SETTINGS.cost_mapping
    holdout_share: float = _SETTINGS.holdout_share
    seed: int = _SETTINGS.seed
    passes: int = 0
    actions: tuple[str, ...] = ()

    def cost(self, reward: float) -> float:
        """VW minimises cost; the reward maps to it by the configured rule."""
        return 1.0 - reward if self.cost_mapping == "one_minus_reward" else -reward

    def exploration_args(self) -> list[str]:
        match self.exploration:
            case "epsilon":
                return ["--epsilon", f"{self.epsilon:g}"]
            case "bag":
                return ["--bag", str(self.bag), "--epsilon", f"{self.epsilon:g}"]
            case "cover":
                return ["--cover", str(self.cover), "--epsilon", f"{self.epsilon:g}"]
            case "softmax":
                return ["--softmax", "--lambda", f"{self.tau:g}"]
            case "squarecb":
                return ["--squarecb", "--gamma_scale", f"{self.gamma_scale:g}"]
            case _:  # rnd: `bag` sets how many random networks, like the members of a bag
                return ["--rnd", str(self.bag), "--epsilon", f"{self.epsilon:g}"]

    def vw_args(self) -> str:
        """The VW command line stored in metadata and used again to warm-start the next model."""
        args = ["--cb_explore_adf", *self.exploration_args()]
        for pair in self.interactions:
            args += ["-q", pair]
        args += ["--learning_rate", f"{self.learning_rate:g}", "--random_seed", str(self.seed), "--save_resume"]
        return " ".join(args)

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _number(raw: Mapping[str, str], name: str, default: float) -> float:
    """A numeric hyperparameter within its `contract.bounds.TRAINING_BOUNDS` range."""
    if name not in raw:
        return default
    try:
        value = float(raw[name])
    except (TypeError, ValueError):
        raise ConfigError(name, f"is {raw[name]!r}, not a number") from None
    bound = TRAINING_BOUNDS[name]
    if value not in bound:
        raise ConfigError(name, f"is {value:g}; it must be {bound.text()}")
    return value


def _integer(raw: Mapping[str, str], name: str, default: int) -> int:
    value = _number(raw, name, default)
    if not float(value).is_integer():
        raise ConfigError(name, f"is {value:g}, not a whole number")
    return int(value)


def _choice(raw: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = raw.get(name, default)
    if value not in allowed:
        raise ConfigError(name, f"is {value!r}; it must be one of {', '.join(allowed)}")
    return value


def _names(raw: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if name not in raw:
        return default
    return tuple(part.strip() for part in str(raw[name]).split(",") if part.strip())


def parse_config(raw: Mapping[str, str]) -> TrainConfig:
    """Validate the hyperparameters (`Settings.hyperparameters()` plus `model_id`, `parent_model_id`, ...)."""
    d = TrainConfig()
    interactions = _names(raw, "interactions", d.interactions)
    for pair in interactions:
        if not is_interaction(pair):
            raise ConfigError("interactions", f"has {pair!r}; each entry is namespace letters like 'sa'")
    return TrainConfig(
        model_id=str(raw.get("model_id") or d.model_id),
        parent_model_id=str(raw["parent_model_id"]) if raw.get("parent_model_id") else None,
        experiment_id=str(raw["experiment_id"]) if raw.get("experiment_id") else None,
        exploration=_choice(raw, "exploration", d.exploration, EXPLORATION_ALGORITHMS),
        epsilon=_number(raw, "epsilon", d.epsilon),
        bag=_integer(raw, "bag", d.bag),
        cover=_integer(raw, "cover", d.cover),
        tau=_number(raw, "tau", d.tau),
        gamma_scale=_number(raw, "gamma_scale", d.gamma_scale),
        new_action_share=_number(raw, "new_action_share", d.new_action_share),
        exploration_floor=_number(raw, "exploration_floor", d.exploration_floor),
        interactions=interactions,
        learning_rate=_number(raw, "learning_rate", d.learning_rate),
        quantile_bins=_integer(raw, "quantile_bins", d.quantile_bins),
        cost_mapping=_choice(raw, "cost_mapping", d.cost_mapping, COST_MAPPINGS),
        holdout_share=_number(raw, "holdout_share", d.holdout_share),
        seed=_integer(raw, "seed", d.seed),
        passes=_integer(raw, "passes", d.passes),
        actions=_names(raw, "actions", d.actions),
    )
