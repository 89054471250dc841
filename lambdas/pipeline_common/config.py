"""Environment and settings as the Lambdas receive them (docs/contracts.md: env vars, `SETTINGS_JSON`).

The settings are the contract's (`contract.settings`, copied into the Lambda asset at synth): `SETTINGS_JSON` is
parsed through the same validation `cdk synth` ran, so a handler reads typed settings and the hyperparameters they
become from the one definition, never from a copy of it.
"""

from __future__ import annotations

import os

from contract import environment
from contract.settings import Settings, SettingsError
from pipeline_common.errors import ConfigError

RunSettings = Settings
"""The settings a run reads: the contract's `Settings` (the name the handlers know)."""


def env(name: str) -> str:
    """A required environment variable; a missing one is a deployment error named in the message."""
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"environment variable {name} is not set")
    return value


def env_list(name: str) -> list[str]:
    """A comma-separated environment variable (empty or unset -> empty list)."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def parse_run_settings(text: str) -> Settings:
    """`SETTINGS_JSON` (`Settings.to_json()`) as settings; ConfigError naming the problem otherwise."""
    try:
        return Settings.from_json(text)
    except (SettingsError, ValueError, TypeError) as error:
        raise ConfigError(f"{environment.SETTINGS_JSON} is not valid settings JSON: {error}") from error


def delivery_lag_seconds() -> float:
    """`DELIVERY_LAG_SECONDS`: how long a record sent to Firehose may take to land in S3 (its buffer interval plus a
    margin; infra sets it from the delivery streams, the local runtime from its own buffer)."""
    text = env(environment.DELIVERY_LAG_SECONDS)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 3600.0:
        raise ConfigError(f"DELIVERY_LAG_SECONDS must be a number of seconds in [0, 3600], got {text!r}")
    return value


def settings() -> Settings:
    """The run settings from `SETTINGS_JSON` (read per call: cheap, and tests can change the environment)."""
    return parse_run_settings(env(environment.SETTINGS_JSON))


__all__ = ["RunSettings", "delivery_lag_seconds", "env", "env_list", "parse_run_settings", "settings"]
