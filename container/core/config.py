"""Training configuration from SageMaker hyperparameters (strings), and the VW arguments it implies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from container.core.errors import ContainerError

EXPLORATIONS = ("epsilon", "bag", "cover", "softmax", "squarecb", "rnd")
COST_MAPPINGS = ("one_minus_reward", "negative_reward")


class ConfigError(ContainerError, ValueError):
    """A hyperparameter is missing its expected form; the message names it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"hyperparameter '{name}' {problem}")
        self.name = name


@dataclass(frozen=True)
class TrainConfig:
    """What `train` needs; defaults match `infra.settings.Settings` so a bare job still trains sensibly."""

    model_id: str = "local-model"
    parent_model_id: str | None = None
    experiment_id: str | None = None
    exploration: str = "squarecb"
    epsilon: float = 0.05
    bag: int = 5
    cover: int = 3
    tau: float = 1.0
    gamma_scale: float = 300.0
    new_action_share: float = 0.05
    exploration_floor: float = 0.0
    interactions: tuple[str, ...] = ("sa",)
    learning_rate: float = 0.5
    quantile_bins: int = 16
    cost_mapping: str = "one_minus_reward"
    holdout_share: float = 0.2
    seed: int = 7
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


def _number(raw: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    if name not in raw:
        return default
    try:
        value = float(raw[name])
    except (TypeError, ValueError):
        raise ConfigError(name, f"is {raw[name]!r}, not a number") from None
    if not low <= value <= high:
        raise ConfigError(name, f"is {value:g}; it must be between {low:g} and {high:g}")
    return value


def _integer(raw: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _number(raw, name, default, low, high)
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
        if not pair.isalpha() or len(pair) < 2:
            raise ConfigError("interactions", f"has {pair!r}; each entry is namespace letters like 'sa'")
    return TrainConfig(
        model_id=str(raw.get("model_id") or d.model_id),
        parent_model_id=str(raw["parent_model_id"]) if raw.get("parent_model_id") else None,
        experiment_id=str(raw["experiment_id"]) if raw.get("experiment_id") else None,
        exploration=_choice(raw, "exploration", d.exploration, EXPLORATIONS),
        epsilon=_number(raw, "epsilon", d.epsilon, 0.0, 1.0),
        bag=_integer(raw, "bag", d.bag, 2, 100),
        cover=_integer(raw, "cover", d.cover, 1, 100),
        tau=_number(raw, "tau", d.tau, 0.0, 1e6),
        gamma_scale=_number(raw, "gamma_scale", d.gamma_scale, 0.0, 1e6),
        new_action_share=_number(raw, "new_action_share", d.new_action_share, 0.0, 0.5),
        exploration_floor=_number(raw, "exploration_floor", d.exploration_floor, 0.0, 0.5),
        interactions=interactions,
        learning_rate=_number(raw, "learning_rate", d.learning_rate, 1e-6, 100.0),
        quantile_bins=_integer(raw, "quantile_bins", d.quantile_bins, 0, 256),
        cost_mapping=_choice(raw, "cost_mapping", d.cost_mapping, COST_MAPPINGS),
        holdout_share=_number(raw, "holdout_share", d.holdout_share, 0.0, 0.9),
        seed=_integer(raw, "seed", d.seed, 0, 2**31 - 1),
        passes=_integer(raw, "passes", d.passes, 0, 100),
        actions=_names(raw, "actions", d.actions),
    )
