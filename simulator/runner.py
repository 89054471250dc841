"""The simulation loop: ask the endpoint in batches, compute the rewards from the ground truth, send them.

`run_simulation` is the programmatic entry point (the CLI and the benchmarks call it); all I/O goes through the
injected `DecisionClient` and `RewardSink`, so tests can run it against moto, a stand-in or a real `serve`.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from simulator.channel import RewardChannel, RewardFaults
from simulator.client import MAX_BATCH, DecisionClient
from simulator.errors import DecisionError
from simulator.progress import Progress
from simulator.results import Round, SimulationResult
from simulator.rewards import RewardSink
from simulator.scenarios import Interaction, Scenario, baselines, take

RECENT_WINDOW = 1000


class SimulationInterrupted(DecisionError):
    """The endpoint failed for good mid-run; `result` holds the rounds played (their rewards were sent)."""

    def __init__(self, message: str, result: SimulationResult) -> None:
        super().__init__(message)
        self.result = result


def _round(interaction: Interaction, answer: dict[str, Any]) -> Round:
    action = str(answer["action"])
    if action not in interaction.expected:
        raise DecisionError(f"round {interaction.index}: the endpoint chose {action!r}, not one of the candidates")
    return Round(
        index=interaction.index,
        event_id=str(answer["event_id"]),
        model_id=str(answer.get("model_id", "")),
        action=action,
        action_prob=float(answer["action_prob"]),
        reward=interaction.reward(action),
        expected=interaction.expected[action],
        oracle=interaction.oracle_value,
        uniform=interaction.uniform_value,
    )


def actions_added(plan: Sequence[Interaction]) -> list[dict[str, Any]]:
    """Rounds where candidates appear that the previous round did not offer (dynamic actions)."""
    added: list[dict[str, Any]] = []
    for previous, current in itertools.pairwise(plan):
        new = [a for a in current.action_ids if a not in set(previous.action_ids)]
        if new:
            added.append({"index": current.index, "actions": new})
    return added


def run_simulation(
    scenario: Scenario,
    interactions: int,
    client: DecisionClient,
    sink: RewardSink,
    *,
    batch_size: int = 100,
    faults: RewardFaults | None = None,
    seed: int = 0,
    rate: float | None = None,
    progress: Progress | None = None,
    on_batch: Callable[[Sequence[Round]], None] | None = None,
) -> SimulationResult:
    """Play `interactions` rounds of `scenario` against the endpoint behind `client`, rewards into `sink`.

    `rate` caps rounds per second (a demo that should span several retraining runs); `on_batch` sees each batch's
    rounds as they complete. Rewards still waiting at the end (delays) are flushed before returning.
    When the endpoint fails for good, the rounds played so far are kept: `SimulationInterrupted.result`.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
    plan = take(scenario.interactions(interactions), interactions)
    faults = faults or RewardFaults()
    channel = RewardChannel(sink, faults, seed)
    rounds: list[Round] = []
    recent: deque[float] = deque(maxlen=RECENT_WINDOW)
    started = time.monotonic()
    failure: DecisionError | None = None
    try:
        for start in range(0, len(plan), batch_size):
            batch = plan[start : start + batch_size]
            answers = client.decide([i.request() for i in batch])
            done = [_round(i, a) for i, a in zip(batch, answers, strict=True)]
            for r in done:
                channel.submit(r.index, r.event_id, r.reward)
                recent.append(r.reward)
            rounds.extend(done)
            channel.advance(done[-1].index)
            if on_batch is not None:
                on_batch(done)
            if progress is not None:
                counts = channel.counts
                progress.update(len(rounds), sum(recent) / len(recent), done[-1].model_id, counts.sent, counts.pending)
            if rate:
                ahead = len(rounds) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    except DecisionError as error:
        failure = error
    channel.flush()  # the rewards of decisions already made are owed either way
    elapsed = time.monotonic() - started
    if progress is not None and rounds:
        counts = channel.counts
        progress.update(len(rounds), sum(recent) / len(recent), rounds[-1].model_id, counts.sent, counts.pending, True)
    played = plan[: len(rounds)]
    settings = {
        "batch_size": batch_size,
        "seed": seed,
        "faults": vars(faults),
        "rate": rate,
        "drift_at": getattr(scenario, "at", None),
        "actions_added": actions_added(played),
    }
    result = SimulationResult(
        scenario.name, rounds, baselines(played).to_json(), channel.counts.to_json(), elapsed, settings
    )
    if failure is not None:
        raise SimulationInterrupted(f"stopped after {len(rounds)} of {len(plan)} rounds: {failure}", result)
    return result
