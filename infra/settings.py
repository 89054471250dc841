"""Experiment settings as infra reads them: the `bandit` context of `cdk.json`, validated by the contract.

The settings themselves, their bounds and the hyperparameters they become live in `contract.settings` (the Lambdas
and the container read the same definitions); this module only finds and reads the file. A bad setting fails
`cdk synth` (and `local up`) with a message that names it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from contract.bounds import EXPLORATION_ALGORITHMS
from contract.firehose import MAX_BUFFER_SECONDS as MAX_FIREHOSE_BUFFER_SECONDS
from contract.settings import (
    CONTEXT_KEY,
    TRAINING_JOB_MAX_RUNTIME_SECONDS,
    Exploration,
    Settings,
    SettingsError,
    parse_settings,
    rollout_timeout_seconds,
)

__all__ = [
    "CONTEXT_KEY",
    "EXPLORATION_ALGORITHMS",
    "MAX_FIREHOSE_BUFFER_SECONDS",
    "REPO_ROOT",
    "TRAINING_JOB_MAX_RUNTIME_SECONDS",
    "Exploration",
    "Settings",
    "SettingsError",
    "load_settings",
    "parse_settings",
    "rollout_timeout_seconds",
]

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_settings(cdk_json: Path = REPO_ROOT / "cdk.json", overrides: Mapping[str, object] | None = None) -> Settings:
    """Settings from `cdk.json` (the one place they live), with optional overrides (the local demo's flags)."""
    context = json.loads(cdk_json.read_text()).get("context", {})
    raw = dict(context.get(CONTEXT_KEY, {}))
    raw.update(overrides or {})
    return parse_settings(raw)
