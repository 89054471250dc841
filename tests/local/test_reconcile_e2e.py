"""End to end on the local runtime: an execution stopped by hand mid-deployment is reconciled.

The defect (issue 14, point 8): StopExecution during the blue/green rollout left the endpoint serving the new model
while the registry named the old one, and the run lock held. Now Step Functions' ABORTED status-change event reaches
the reconcile Lambda through the EventBridge rule, and the registry, the experiment row and the lock end consistent
with what the endpoint really serves (and the decisions carry that model's id).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from test_e2e import _decide, bootstrapped, runtime

from local.driver import DetachedRuntime, entered_states

pytestmark = pytest.mark.e2e

__all__ = ["bootstrapped", "runtime"]  # the module-scoped runtime fixtures of test_e2e, started for this module

EXPERIMENT = "bandit-demo"
RUN = "bandit-demo-stopped-1"
TARGET = "bandit-demo-hand-picked"


def _put(rt: DetachedRuntime, table_output: str, item: dict[str, Any]) -> None:
    from boto3.dynamodb.types import TypeSerializer

    rt.client("dynamodb").put_item(
        TableName=rt.outputs[table_output], Item={k: TypeSerializer().serialize(v) for k, v in item.items()}
    )


def _served_model_id(rt: DetachedRuntime) -> str:
    """What the endpoint really serves: its config's model's MODEL_ID."""
    sagemaker = rt.client("sagemaker")
    config = sagemaker.describe_endpoint(EndpointName=rt.outputs["EndpointName"])["EndpointConfigName"]
    variants = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    model = sagemaker.describe_model(ModelName=variants[0]["ModelName"])
    return model["PrimaryContainer"]["Environment"]["MODEL_ID"]


def test_a_run_stopped_by_hand_mid_deployment_leaves_registry_and_lock_consistent(
    bootstrapped: DetachedRuntime,
) -> None:
    rt = bootstrapped
    sfn = rt.client("stepfunctions")
    experiments, models, state = (f"{k}TableName" for k in ("Experiments", "Models", "State"))
    before = rt.item(experiments, {"experiment_id": EXPERIMENT})
    previous = before["serving_model_id"]
    # a registered policy to deploy (no artifact: the uniform policy) and the run's lock, as the trigger takes it
    _put(rt, models, {"model_id": TARGET, "experiment_id": EXPERIMENT, "state": "candidate"})
    _put(rt, state, {"pk": f"{EXPERIMENT}#lock", "run_id": RUN, "since": "2026-01-01T00:00:00Z", "started": True})

    execution = sfn.start_execution(
        stateMachineArn=rt.outputs["StateMachineArn"], name=RUN, input=json.dumps({"rollback_to": TARGET})
    )
    arn = execution["executionArn"]
    deadline = time.monotonic() + 120
    while "WaitForDeployment" not in entered_states(rt.history(arn)):
        assert time.monotonic() < deadline, rt.explain(arn)
        assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING", rt.explain(arn)
        time.sleep(0.2)
    sfn.stop_execution(executionArn=arn)  # by hand, with the rollout under way
    assert rt.wait_execution(arn, 60)["status"] == "ABORTED"

    # the registry must come to agree with the endpoint once its rollout has settled, and the lock be released
    deadline = time.monotonic() + 120
    while True:
        after = rt.item(experiments, {"experiment_id": EXPERIMENT})
        settled = rt.client("sagemaker").describe_endpoint(EndpointName=rt.outputs["EndpointName"])
        consistent = settled["EndpointStatus"] == "InService" and after.get("serving_model_id") == _served_model_id(rt)
        lock = rt.item(state, {"pk": f"{EXPERIMENT}#lock"})
        if (consistent and not lock) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    logs = "".join(p.read_text()[-2000:] for p in sorted((rt.state_dir / "logs" / "lambda").glob("*reconcile*")))
    assert consistent, f"registry names {after.get('serving_model_id')}, endpoint serves {_served_model_id(rt)}{logs}"
    assert not lock, f"the stopped run still holds the lock: {lock}"
    assert (after.get("last_reconciled") or {}).get("execution_status") == "ABORTED"

    endpoint = rt.client("sagemaker").describe_endpoint(EndpointName=rt.outputs["EndpointName"])
    assert endpoint["EndpointStatus"] == "InService"
    served = _served_model_id(rt)
    assert served == TARGET, "the rollout completes after the stop: the case the registry used to get wrong"
    assert after["serving_model_id"] == served
    assert rt.item(models, {"model_id": served})["state"] == "serving"
    other = TARGET if served == previous else previous
    assert rt.item(models, {"model_id": other})["state"] != "serving"
    assert after.get("watermark") == before.get("watermark")
    assert {a["model_id"] for a in _decide(rt, 3, seed=21)} == {after["serving_model_id"]}
