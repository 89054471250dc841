"""The fidelity registry (local/fidelity.py) covers everything the stack presents to AWS, and cites real tests.

Subjects are derived, not listed: the synthesized template's resource types and the calls its services make for it
(Firehose delivery, S3 -> EventBridge, rule targets and dead-letter queues, async-invocation destinations, the state
machine's tasks), the Lambda handlers' API operations (tests/infra/handler_actions.py, statically from lambdas/),
the serving container's (container/, the same way) and what SageMaker does for the calls that start its work.
A new resource type, handler call or task that the table neither enforces nor names as not emulated fails here.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.session
import pytest

from infra.names import FUNCTION_KEYS
from local import fidelity
from local.provision import NOT_EMULATED, PROVISIONERS

REPO = Path(__file__).resolve().parents[2]
ASL = REPO / "statemachine" / "retrain.asl.json"
CONTAINER = REPO / "container"
DOC = REPO / "docs" / "local-runtime.md"

SAGEMAKER_DOES: dict[str, tuple[str, ...]] = {
    # the call that starts SageMaker's work -> what SageMaker then does with the role the request passes
    "sagemaker:CreateTrainingJob": (
        "sagemaker -> s3:GetObject",
        "sagemaker -> s3:PutObject",
        "sagemaker -> ecr:BatchGetImage",
    ),
    "sagemaker:CreateEndpoint": ("sagemaker -> s3:GetObject", "sagemaker -> ecr:BatchGetImage"),
    "sagemaker:UpdateEndpoint": (
        "sagemaker -> s3:GetObject",
        "sagemaker -> ecr:BatchGetImage",
        "sagemaker -> cloudwatch:DescribeAlarms",  # the blue/green update's AutoRollbackConfiguration
    ),
}


@cache
def _handler_actions() -> ModuleType:
    """tests/infra/handler_actions.py, loaded by path (tests/ is not a package)."""
    if "handler_actions" in sys.modules:  # imported by tests/infra in the same session
        return sys.modules["handler_actions"]
    path = REPO / "tests" / "infra" / "handler_actions.py"
    spec = importlib.util.spec_from_file_location("handler_actions", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["handler_actions"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def handler_operations() -> set[str]:
    ops: set[str] = set()
    for key in FUNCTION_KEYS:
        ops |= _handler_actions().code_operations(key)
    return ops


def container_operations() -> set[str]:
    """`service:Operation` for every method call in container/ named like an operation of a service it makes a
    client for (`session.client("firehose", ...)` then `.put_record_batch(...)`)."""
    trees = [ast.parse(path.read_text()) for path in sorted(CONTAINER.rglob("*.py"))]
    services: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "client"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                services.add(node.args[0].value)
    session = botocore.session.get_session()
    ops: set[str] = set()
    for service in services:
        names = {botocore.xform_name(op): op for op in session.get_service_model(service).operation_names}
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names:
                    ops.add(f"{service}:{names[node.func.attr]}")
    return ops


def _refs_type(value: Any, resources: dict[str, Any], rtype: str) -> bool:
    text = json.dumps(value)
    return any(
        resources.get(lid, {}).get("Type") == rtype for lid in re.findall(r'"(?:Ref|Fn::GetAtt)": \[?"([^"]+)"', text)
    )


def service_calls(raw: dict[str, Any], operations: set[str]) -> set[str]:
    """Calls the services make for the stack, from the template, the ASL and the operations that start them."""
    resources = raw["Resources"]
    calls: set[str] = set()
    for resource in resources.values():
        rtype, props = resource["Type"], resource.get("Properties", {})
        if rtype == "AWS::KinesisFirehose::DeliveryStream" and (
            "ExtendedS3DestinationConfiguration" in props or "S3DestinationConfiguration" in props
        ):
            calls.add("firehose -> s3:PutObject")
        if rtype == "AWS::S3::Bucket" and "EventBridgeConfiguration" in props.get("NotificationConfiguration", {}):
            calls.add("s3 -> events:PutEvents")
        if rtype == "AWS::Events::Rule":
            if "aws.states" in props.get("EventPattern", {}).get("source", []):
                calls.add("states -> events:PutEvents")  # Step Functions sends the executions' status changes
            for target in props.get("Targets", []):
                if _refs_type(target["Arn"], resources, "AWS::Lambda::Function"):
                    calls.add("events -> lambda:InvokeFunction")
                else:
                    calls.add(f"events -> target {json.dumps(target['Arn'])}")
                if "DeadLetterConfig" in target:
                    calls.add("events -> sqs:SendMessage")
        if rtype == "AWS::Lambda::EventInvokeConfig":
            for outcome in ("OnFailure", "OnSuccess"):
                destination = props.get("DestinationConfig", {}).get(outcome)
                if destination:
                    kind = "sqs:SendMessage" if _refs_type(destination, resources, "AWS::SQS::Queue") else "destination"
                    calls.add(f"lambda -> {kind}")
    for resource in re.findall(r'"Resource"\s*:\s*"([^"]+)"', ASL.read_text()):
        if re.fullmatch(r"\$\{\w+FunctionArn\}", resource) or resource.startswith("arn:aws:states:::lambda:invoke"):
            calls.add("states -> lambda:InvokeFunction")
        else:
            calls.add(f"states -> {resource}")
    for operation in operations:
        calls.update(SAGEMAKER_DOES.get(operation, ()))
    return calls


def test_every_resource_type_of_the_template_is_enforced_or_named_not_emulated(real_template: Path) -> None:
    raw = json.loads(real_template.read_text())
    types = {r["Type"] for r in raw["Resources"].values()}
    missing = fidelity.uncovered(types)
    assert not missing, (
        f"resource types in the template that local/fidelity.py neither enforces nor names as not emulated: "
        f"{sorted(missing)}; add a SUBJECTS entry for each"
    )


def test_every_api_call_of_the_deployed_code_and_its_services_is_enforced_or_named(real_template: Path) -> None:
    raw = json.loads(real_template.read_text())
    operations = handler_operations() | container_operations()
    assert "firehose:PutRecordBatch" in operations  # the container's decision log
    assert {"dynamodb:TransactWriteItems", "states:StartExecution", "sagemaker:UpdateEndpoint"} <= operations
    calls = service_calls(raw, operations)
    assert {"firehose -> s3:PutObject", "states -> lambda:InvokeFunction", "events -> lambda:InvokeFunction"} <= calls
    missing = fidelity.uncovered(operations | calls)
    assert not missing, (
        f"API calls that local/fidelity.py neither enforces nor names as not emulated: {sorted(missing)}; "
        "add a SUBJECTS entry for each"
    )


def test_a_subject_the_table_does_not_have_is_reported_and_an_empty_entry_is_refused() -> None:
    assert fidelity.uncovered({"AWS::Made::Up", "sagemaker:UpdateEndpoint", "kinesis:PutRecord"}) == {
        "AWS::Made::Up",
        "kinesis:PutRecord",
    }
    with pytest.raises(ValueError, match="not emulated"):
        fidelity.Coverage()


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_cited_test_exists() -> None:
    missing = []
    for rule in fidelity.rules().values():
        path, _, name = rule.test.partition("::")
        file = REPO / path
        if not name.startswith("test_") or not file.is_file() or name not in _test_functions(file):
            missing.append(f"{rule.id}: {rule.test}")
    assert not missing, f"rules citing tests that do not exist: {missing}"


def test_every_rule_cites_aws_documentation() -> None:
    for rule in fidelity.rules().values():
        assert rule.doc.title.strip() and re.match(r"https://(docs\.aws\.amazon\.com|repost\.aws)/", rule.doc.url), rule


def test_provisioning_skips_exactly_the_table_types_without_a_provisioner() -> None:
    table_types = {s for s in fidelity.SUBJECTS if s.startswith("AWS::")}
    assert set(NOT_EMULATED) == table_types - set(PROVISIONERS)
    assert set(PROVISIONERS) <= table_types, sorted(set(PROVISIONERS) - table_types)
    for rtype in set(NOT_EMULATED) - fidelity.READ_FROM_TEMPLATE:
        assert not fidelity.SUBJECTS[rtype].rules, f"{rtype} is not provisioned, so no rule can be enforced for it"


def test_the_docs_section_is_the_rendered_table() -> None:
    text = DOC.read_text()
    assert "## AWS rules the local runtime enforces" in text
    assert fidelity.render_doc_section(text) == text, (
        "docs/local-runtime.md's fidelity table is stale: run `python -m local.fidelity --write docs/local-runtime.md`"
    )
