#!/usr/bin/env python3
"""CDK app: the bandit retraining pipeline stack, checked by cdk-nag's AWS Solutions pack.

Settings come from the `bandit` context of `cdk.json`. `cdk synth -c bandit='{"retrain_threshold": 100}'` overrides
single settings (a JSON string on the command line is merged over the file's). A bad setting stops the synth with a
message that names it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.settings import CONTEXT_KEY, REPO_ROOT, Settings, SettingsError, load_settings, parse_settings
from infra.stack import (
    DEFAULT_CONTAINER_DIR,
    DEFAULT_LAMBDAS_DIR,
    DEFAULT_STATEMACHINE_PATH,
    BanditPipelineStack,
)

CDK_JSON = REPO_ROOT / "cdk.json"
STACK_ID = "BanditPipeline"
"""Construct id of the stack: the template is `cdk.out/BanditPipeline.template.json`."""


def _context_error(problem: str) -> SettingsError:
    """A SettingsError about the whole `bandit` context rather than one of its keys."""
    err = SettingsError(CONTEXT_KEY, problem)
    err.args = (f"context '{CONTEXT_KEY}' {problem}",)
    return err


def settings_from_context(value: Any) -> Settings:
    """The `bandit` context as the CLI hands it over: absent, a JSON string (from `-c`), or an object (cdk.json)."""
    if value is None:
        return load_settings()
    if isinstance(value, str):
        try:
            overrides = json.loads(value)
        except json.JSONDecodeError as err:
            raise _context_error(f"must be a JSON object on the command line ({err})") from err
        if not isinstance(overrides, Mapping):
            raise _context_error("must be a JSON object on the command line")
        return load_settings(overrides=overrides)
    if not isinstance(value, Mapping):
        raise _context_error(f"must be an object, not {type(value).__name__}")
    return parse_settings(value)


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    outdir: str | None = None,
    nag: bool = True,
    lambdas_dir: Path = DEFAULT_LAMBDAS_DIR,
    statemachine_path: Path = DEFAULT_STATEMACHINE_PATH,
    container_dir: Path = DEFAULT_CONTAINER_DIR,
) -> tuple[App, BanditPipelineStack]:
    """The app with its one stack; tests pass their own context, asset paths and output directory.

    The context of `cdk.json` (settings and feature flags) is the base, so an in-process synth (tests, the local
    runtime) builds the same template as the CLI; values the CLI passes still take precedence.
    """
    base = dict(json.loads(CDK_JSON.read_text()).get("context", {}))
    base.update(context or {})
    app = App(context=base, outdir=outdir)
    settings = settings_from_context(app.node.try_get_context(CONTEXT_KEY))
    stack = BanditPipelineStack(
        app,
        STACK_ID,
        stack_name=f"{settings.experiment_id}-pipeline",
        description=f"Contextual-bandit retraining pipeline for experiment {settings.experiment_id}",
        settings=settings,
        lambdas_dir=lambdas_dir,
        statemachine_path=statemachine_path,
        container_dir=container_dir,
    )
    if nag:
        # Unacknowledged findings fail the synth (CDK policy validation).
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> int:
    try:
        app, _ = build_app()
    except SettingsError as err:
        print(f"cdk.json: {err}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
