"""One in-process synth per test session (jsii is slow): the app, the stack, its template as a dict and as `Template`.

The stack takes its asset paths as arguments; when the state machine file, the Dockerfile or the handler modules are
not in the tree yet, the fixture hands the stack minimal stand-ins from a temporary directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from aws_cdk import App
from aws_cdk.assertions import Template

from app import build_app
from infra.names import FUNCTION_KEYS
from infra.settings import REPO_ROOT, Settings, load_settings
from infra.stack import (
    DEFAULT_CONTAINER_DIR,
    DEFAULT_LAMBDAS_DIR,
    DEFAULT_STATEMACHINE_PATH,
    BanditPipelineStack,
)

MINIMAL_ASL = """{"StartAt": "Join", "States": {
  "Join": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
           "Parameters": {"FunctionName": "${JoinFunctionArn}", "Payload": {"action": "start"}}, "Next": "Wait"},
  "Wait": {"Type": "Wait", "Seconds": ${PollSeconds}, "Next": "Done"},
  "Done": {"Type": "Succeed"}}}
"""


@dataclass(frozen=True)
class Synth:
    app: App
    stack: BanditPipelineStack
    settings: Settings
    template: Template
    resources: dict[str, dict[str, Any]]
    raw: dict[str, Any]
    outdir: Path
    statemachine_path: Path

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}


def asset_paths(tmp: Path) -> tuple[Path, Path, Path]:
    """The real `lambdas/`, ASL file and `container/` when present, stand-ins otherwise."""
    lambdas_dir = DEFAULT_LAMBDAS_DIR
    if not any(lambdas_dir.glob("*.py")):
        lambdas_dir = tmp / "lambdas"
        lambdas_dir.mkdir()
        for key in FUNCTION_KEYS:
            (lambdas_dir / f"{key}.py").write_text("def handler(event, context):\n    return event\n")
    statemachine_path = DEFAULT_STATEMACHINE_PATH
    if not statemachine_path.is_file():
        statemachine_path = tmp / "retrain.asl.json"
        statemachine_path.write_text(MINIMAL_ASL)
    container_dir = DEFAULT_CONTAINER_DIR
    if not (container_dir / "Dockerfile").is_file():
        container_dir = tmp / "container"
        container_dir.mkdir()
        (container_dir / "Dockerfile").write_text("FROM public.ecr.aws/docker/library/python:3.12-slim\n")
    return lambdas_dir, statemachine_path, container_dir


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    tmp = tmp_path_factory.mktemp("infra")
    lambdas_dir, statemachine_path, container_dir = asset_paths(tmp)
    outdir = tmp / "cdk.out"
    app, stack = build_app(
        outdir=str(outdir),
        nag=False,  # test_nag runs the pack itself, so a finding fails one test instead of every fixture user
        lambdas_dir=lambdas_dir,
        statemachine_path=statemachine_path,
        container_dir=container_dir,
    )
    assembly = app.synth()
    raw = assembly.get_stack_by_name(stack.stack_name).template
    return Synth(
        app=app,
        stack=stack,
        settings=load_settings(),
        template=Template.from_json(raw),
        resources=raw["Resources"],
        raw=raw,
        outdir=outdir,
        statemachine_path=statemachine_path,
    )


@pytest.fixture(scope="session")
def template_file(synth: Synth) -> Path:
    path = synth.outdir / f"{synth.stack.artifact_id}.template.json"
    if not path.is_file():
        path.write_text(json.dumps(synth.raw))
    return path


REPO = REPO_ROOT
