"""One gateway per test session (moto's backends and MOTO_PORT are process-wide), provisioned from the fixture template.

The gateway runs without engines (they are another part's tests); tests that need an engine set a stand-in on
`gateway.athena` / `gateway.sagemaker` and restore it. The end-to-end modules get `runtime` / `bootstrapped`
instead: a whole runtime in its own process (`local.driver.DetachedRuntime`), one per module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.driver import FAST_SETTINGS, DetachedRuntime
from local.gateway import Gateway
from local.provision import Stack, provision

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
E2E_SETTINGS = {
    **FAST_SETTINGS,
    "retrain_threshold": 200,
    "promotion_margin": 1.0,  # the gate always promotes: these tests are about the loop, not the estimator
}
Decide = Callable[[DetachedRuntime, int, int], list[dict[str, Any]]]


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


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DetachedRuntime]:
    """A detached runtime with `E2E_SETTINGS`, for one module."""
    rt = DetachedRuntime(tmp_path_factory.mktemp("e2e-state"), E2E_SETTINGS).start(timeout=240)
    yield rt
    rt.stop()


@pytest.fixture(scope="module")
def bootstrapped(runtime: DetachedRuntime) -> DetachedRuntime:
    """A `{"bootstrap": true}` execution created the endpoint with the first policy."""
    boot = runtime.start_execution("bootstrap-1", {"bootstrap": True})
    described = runtime.wait_execution(boot, 180)
    assert described["status"] == "SUCCEEDED", runtime.explain(boot)
    assert runtime.endpoint()["EndpointStatus"] == "InService"
    return runtime


def _decide(rt: DetachedRuntime, count: int, seed: int) -> list[dict[str, Any]]:
    from simulator import SageMakerDecisionClient, build_scenario
    from simulator.scenarios import take

    requests = [i.request() for i in take(build_scenario("synthetic", seed=seed).interactions(count), count)]
    return SageMakerDecisionClient(rt.outputs["EndpointName"], runtime=rt.client("sagemaker-runtime")).decide(requests)


@pytest.fixture
def decide() -> Decide:
    """`decide(rt, count, seed)`: decisions for `count` requests of the synthetic scenario (the features the policies
    were trained on), through boto3's sagemaker-runtime client."""
    return _decide
