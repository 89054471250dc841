"""A test-only learner: an in-process VW contextual bandit that plays a scenario online (no endpoint)."""

from __future__ import annotations

import numpy as np
import vowpalwabbit

from simulator.scenarios import Interaction


def _features(values: dict) -> str:
    parts = []
    for name, value in values.items():
        if isinstance(value, (bool, str)):
            parts.append(f"{name}={value}")
        else:
            parts.append(f"{name}:{value}")
    return " ".join(parts)


class OnlineLearner:
    """SquareCB over `--cb_explore_adf` with the age cut binned, like the container's quantile featurizer would."""

    def __init__(self, seed: int = 0) -> None:
        self.vw = vowpalwabbit.Workspace(f"--cb_explore_adf --squarecb -q sa --quiet --random_seed {seed}")
        self.rng = np.random.default_rng(seed)

    def _example(self, interaction: Interaction, label: tuple[int, float, float] | None = None) -> list[str]:
        context = dict(interaction.context)
        for name in ("age", "words"):
            if name in context:
                context[f"{name}_bin"] = str(int(context[name] // 10))
        lines = [f"shared |s {_features(context)}"]
        for index, candidate in enumerate(interaction.candidates):
            prefix = ""
            if label is not None and label[0] == index:
                prefix = f"{index}:{label[1]}:{label[2]} "
            lines.append(f"{prefix}|a id={candidate.id} {_features(dict(candidate.features))}".rstrip())
        return lines

    def play(self, interaction: Interaction) -> float:
        probabilities = np.asarray(self.vw.predict(self._example(interaction)), dtype=float)
        probabilities /= probabilities.sum()
        index = int(self.rng.choice(len(probabilities), p=probabilities))
        reward = interaction.reward(interaction.candidates[index].id)
        self.vw.learn(self._example(interaction, (index, 1.0 - reward, float(probabilities[index]))))
        return reward


class LearningEndpoint:
    """A stand-in for the whole loop: decides with the online learner (a `DecisionClient`) and learns from the
    rewards it receives (a `RewardSink`), publishing a new model_id every `retrain_every` rewards."""

    def __init__(self, scenario_plan: list[Interaction], seed: int = 0, retrain_every: int = 1000) -> None:
        self.learner = OnlineLearner(seed)
        self.by_context = {id(i): i for i in scenario_plan}
        self.retrain_every = retrain_every
        self.version = 0
        self.learned = 0
        self.pending: dict[str, tuple[Interaction, int, float]] = {}
        self.plan = scenario_plan
        self.cursor = 0
        self.received: list = []

    @property
    def model_id(self) -> str:
        return "uniform-random" if self.version == 0 else f"model-{self.version:03d}"

    def decide(self, requests: list[dict]) -> list[dict]:
        answers = []
        for request in requests:
            interaction = self.plan[self.cursor]
            self.cursor += 1
            assert request["actions"] == interaction.request()["actions"]
            if self.version == 0:
                probabilities = np.full(len(interaction.candidates), 1.0 / len(interaction.candidates))
            else:
                probabilities = np.asarray(self.learner.vw.predict(self.learner._example(interaction)), dtype=float)
                probabilities /= probabilities.sum()
            index = int(self.learner.rng.choice(len(probabilities), p=probabilities))
            event_id = f"e{interaction.index}"
            self.pending[event_id] = (interaction, index, float(probabilities[index]))
            answers.append(
                {
                    "event_id": event_id,
                    "action": interaction.candidates[index].id,
                    "action_index": index,
                    "action_prob": float(probabilities[index]),
                    "probabilities": probabilities.tolist(),
                    "model_id": self.model_id,
                }
            )
        return answers

    def send(self, records: list) -> None:
        self.received.extend(records)
        for record in records:
            entry = self.pending.pop(record.event_id, None)
            if entry is None:
                continue  # a duplicate: the first copy was already learnt
            interaction, index, probability = entry
            self.learner.vw.learn(self.learner._example(interaction, (index, 1.0 - record.reward, probability)))
            self.learned += 1
            if self.learned % self.retrain_every == 0:
                self.version += 1

    def close(self) -> None:
        return None
