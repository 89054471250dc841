"""One gateway per test session (moto's backends and MOTO_PORT are process-wide), provisioned from the fixture template.

The gateway runs without engines (they are another part's tests); tests that need an engine set a stand-in on
`gateway.athena` / `gateway.sagemaker` and restore it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.gateway import Gateway
from local.provision import Stack, provision

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    state = tmp_path_factory.mktemp("local-state")
    gw = Gateway(port=0, state_dir=state, engines=False, firehose_buffer_seconds=0.5).start()
    yield gw
    gw.close()


@pytest.fixture(scope="session")
def fixture_stack(gateway: Gateway) -> Stack:
    return provision(gateway, FIXTURES / "template.json", stack_name="fixture")


@pytest.fixture(scope="session")
def real_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's synthesized template (the app with its real assets; stand-ins for parts not written yet)."""
    tmp = tmp_path_factory.mktemp("synth")
    lambdas = REPO / "lambdas"
    statemachine = REPO / "statemachine" / "retrain.asl.json"
    container = REPO / "container"
    if not statemachine.is_file():
        statemachine = tmp / "retrain.asl.json"
        statemachine.write_text(
            '{"StartAt": "Join", "States": {"Join": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",'
            ' "Parameters": {"FunctionName": "${JoinFunctionArn}", "Payload": {}}, "Next": "Wait"},'
            ' "Wait": {"Type": "Wait", "Seconds": ${PollSeconds}, "End": true}}}'
        )
    code = (
        "import sys; from pathlib import Path; from app import build_app\n"
        "app, _ = build_app({'aws:cdk:enable-asset-metadata': True}, outdir=sys.argv[1], nag=False,"
        " lambdas_dir=Path(sys.argv[2]), statemachine_path=Path(sys.argv[3]), container_dir=Path(sys.argv[4]))\n"
        "app.synth()\n"
    )
    out = tmp / "cdk.out"
    env = dict(os.environ, JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(out), str(lambdas), str(statemachine), str(container)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    template = out / "BanditPipeline.template.json"
    assert json.loads(template.read_text())["Resources"]
    return template
