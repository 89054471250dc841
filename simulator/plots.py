"""The run's pictures: rolling mean reward against the baselines, and the share of each action over time.

The oracle and uniform-random lines are rolling means of their per-round expected values, so they follow drift
and the reviews scenario's late action; the best constant action is one number for the whole run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from simulator.results import Round, first_answers, rolling_mean

REWARD_PNG = "reward.png"
ACTIONS_PNG = "actions.png"


def default_window(rounds: int) -> int:
    """About 1/20 of the run, at least 50 and at most 1000 rounds."""
    return int(min(1000, max(50, rounds // 20)))


def _event_markers(ax: Any, settings: dict[str, Any]) -> None:
    """Drift and newly offered actions: what the policy had to adapt to."""
    if settings.get("drift_at") is not None:
        ax.axvline(settings["drift_at"], color="tab:red", ls="--", lw=1.2, label="drift: best action changes")
    for n, added in enumerate(settings.get("actions_added") or []):
        label = f"new action {', '.join(added['actions'])}" if n == 0 else None
        ax.axvline(added["index"], color="tab:brown", ls="--", lw=1.2, label=label)


def plot_reward(
    rounds: Sequence[Round],
    baselines: dict[str, Any],
    path: str | Path,
    title: str = "",
    window: int | None = None,
    settings: dict[str, Any] | None = None,
) -> Path:
    """Rolling mean reward with oracle, best constant, uniform random and model changes."""
    path = Path(path)
    window = window or default_window(len(rounds))
    x = np.arange(len(rounds))
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    ax.plot(
        x,
        rolling_mean([r.reward for r in rounds], window),
        color="tab:blue",
        lw=2,
        label=f"policy (rolling mean, {window} rounds)",
    )
    curves = (
        ([r.oracle for r in rounds], "tab:green", "--", f"oracle ({baselines.get('oracle', 0):.3f})"),
        ([r.uniform for r in rounds], "tab:gray", ":", f"uniform random ({baselines.get('uniform', 0):.3f})"),
    )
    for values, color, style, label in curves:
        ax.plot(x, rolling_mean(values, window), color=color, ls=style, lw=1.5, label=label)
    if baselines.get("best_constant_action") is not None:
        ax.axhline(
            baselines["best_constant"],
            color="tab:orange",
            ls="-.",
            lw=1.5,
            label=f"best constant action {baselines['best_constant_action']!r} ({baselines['best_constant']:.3f})",
        )
    changes = first_answers([r.model_id for r in rounds])[1:]
    for n, change in enumerate(changes):
        ax.axvline(
            change["index"], color="tab:purple", alpha=0.5, lw=1, label="a new model starts serving" if n == 0 else None
        )
        ax.annotate(
            change["model_id"][-12:],
            (change["index"], 0.02),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=7,
            color="tab:purple",
            ha="right",
            va="bottom",
        )
    _event_markers(ax, settings or {})
    ax.set_xlim(0, max(1, len(rounds) - 1))
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("interaction")
    ax.set_ylabel("reward")
    ax.set_title(title or "Rolling mean reward")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_actions(rounds: Sequence[Round], path: str | Path, title: str = "", window: int | None = None) -> Path:
    """Stacked share of each action over a rolling window of rounds."""
    path = Path(path)
    window = window or default_window(len(rounds))
    actions = list(dict.fromkeys(r.action for r in rounds))  # first-seen order: late actions stack on top
    x = np.arange(len(rounds))
    shares = [rolling_mean([1.0 if r.action == a else 0.0 for r in rounds], window) for a in actions]
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    if rounds:
        ax.stackplot(x, *shares, labels=actions, alpha=0.85)
    ax.set_xlim(0, max(1, len(rounds) - 1))
    ax.set_ylim(0, 1)
    ax.set_xlabel("interaction")
    ax.set_ylabel(f"share of decisions (rolling {window})")
    ax.set_title(title or "Action share over time")
    if actions:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_run(rounds: Sequence[Round], summary: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Both pictures of one run under `out_dir`."""
    out = Path(out_dir)
    name = summary.get("scenario", "")
    return [
        plot_reward(
            rounds,
            summary.get("baselines", {}),
            out / REWARD_PNG,
            f"{name}: rolling mean reward",
            settings=summary.get("settings"),
        ),
        plot_actions(rounds, out / ACTIONS_PNG, f"{name}: action share over time"),
    ]
