"""Experiment settings as infra reads them: the `bandit` context of `cdk.json`, validated by the contract.

The settings themselves, their bounds and the hyperparameters they become live in `contract.settings` (the Lambdas
and the container read the same definitions); this module only finds and reads the file. A bad setting fails
`cdk synth` (and `local up`) with a message that names it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from contract.settings import CONTEXT_KEY, Settings, SettingsError, parse_settings

__all__ = ["CONTEXT_KEY", "REPO_ROOT", "Settings", "SettingsError", "load_settings", "parse_settings"]
"""What infra and the app take from here: the contract's settings, and where `cdk.json` is."""

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_settings(cdk_json: Path = REPO_ROOT / "cdk.json", overrides: Mapping[str, object] | None = None) -> Settings:
    """Settings from `cdk.json` (the one place they live), with optional overrides (the local demo's flags)."""
    context = json.loads(cdk_json.read_text()).get("context", {})
    raw = dict(context.get(CONTEXT_KEY, {}))
    raw.update(overrides or {})
    return parse_settings(raw)
