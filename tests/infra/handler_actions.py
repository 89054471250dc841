"""Derive the IAM actions each Lambda needs from its code, and read the actions its role is granted from the template.

The derivation follows the handler's call graph through `lambdas/` and `lambdas/pipeline_common/` (a module-level
import of `store` does not mean the trigger touches the models table: only functions reachable from `handler` count)
and recognises the ways the handlers reach AWS:

- `client("svc").method(...)`, or `x = client("svc")` then `x.method(...)`;
- `getattr(client("svc"), kind)(...)` inside a function called with the method name as its first argument;
- `table(env("X_TABLE")).method(...)`: DynamoDB on the table whose name is in env var `X_TABLE`;
- `client("dynamodb").transact_write_items(TransactItems=[{"Delete": {"TableName": t, ...}}, ...])`: the item
  actions, on the table `t = env("X_TABLE")` names;
- `DynamoDBPersistenceLayer(table_name=env("X_TABLE"))`: Powertools idempotency's item calls.

DynamoDB actions are keyed by the environment variable that names the table (`dynamodb:GetItem@STATE_TABLE`), so a
grant on the wrong table is caught too. Everything a service does on the caller's behalf (Athena reading S3 and
Glue, SageMaker passing the role) is in `IMPLIED`, each with its reason.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
COMMON = "pipeline_common"
MODULE_LEVEL = "<module>"

IAM_PREFIX = {"stepfunctions": "states"}
"""boto3 service name -> IAM action prefix, where they differ."""

TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
"""TransactWriteItems is authorized per item: each element needs the item action on its table."""

IDEMPOTENCY_ACTIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
"""Powertools' DynamoDBPersistenceLayer: read the record, put it conditionally, update it on success, delete on
failure."""

LAMBDA_BASE: dict[str, str] = {
    "logs:CreateLogStream": "Lambda writes the function's logs (the log group is created by the stack).",
    "logs:PutLogEvents": "Lambda writes the function's logs.",
    "xray:PutTraceSegments": "Active tracing (Powertools tracer).",
    "xray:PutTelemetryRecords": "Active tracing.",
}

IMPLIED: dict[str, dict[str, str]] = {
    # action the code calls -> {action the service needs on the caller's behalf: why}
    "athena:StartQueryExecution": {
        "athena:GetWorkGroup": "Athena reads the workgroup's enforced settings (result location, encryption) "
        "for the caller.",
        "glue:GetDatabase": "Athena resolves the database in the Glue catalog with the caller's permissions.",
        "glue:GetTable": "Athena reads the table definition (partition projection) with the caller's permissions.",
        "glue:GetPartition": "Athena's partition lookups run with the caller's permissions.",
        "glue:GetPartitions": "Athena's partition lookups run with the caller's permissions.",
        "s3:GetObject": "Athena reads the data objects with the caller's permissions.",
        "s3:ListBucket": "Athena lists the partition prefixes with the caller's permissions.",
        "s3:GetBucketLocation": "Athena locates the data and result buckets with the caller's permissions.",
        "s3:PutObject": "Athena writes query results and UNLOAD output with the caller's permissions.",
        "s3:AbortMultipartUpload": "Athena's large result uploads are multipart.",
        "s3:ListMultipartUploadParts": "Athena's large result uploads are multipart.",
    },
    "s3:GetObject": {
        "s3:ListBucket": "Without it a missing key answers 403 instead of NoSuchKey, which the handlers handle.",
        "s3:GetBucketLocation": "Granted with every prefix read (access.list_prefixes) for SDKs that locate the "
        "bucket's region first.",
    },
    "sagemaker:CreateTrainingJob": {
        "iam:PassRole": "The job runs under the SageMaker execution role the request names.",
        "sagemaker:AddTags": "The request carries Tags; SageMaker authorizes them as AddTags.",
    },
    "sagemaker:CreateModel": {
        "iam:PassRole": "The model runs under the SageMaker execution role the request names.",
        "sagemaker:AddTags": "The request carries Tags; SageMaker authorizes them as AddTags.",
    },
    "sagemaker:CreateEndpointConfig": {"sagemaker:AddTags": "The request carries Tags."},
    "sagemaker:CreateEndpoint": {"sagemaker:AddTags": "CreateEndpoint is authorized with AddTags for its tags."},
}

DLQ_ACTIONS: dict[str, str] = {
    "sqs:SendMessage": "Lambda sends failed asynchronous invocations (EventBridge -> trigger) to the dead-letter "
    "queue with the function's role.",
    "sqs:GetQueueAttributes": "Added by CDK's dead-letter-queue grant alongside SendMessage.",
    "sqs:GetQueueUrl": "Added by CDK's dead-letter-queue grant alongside SendMessage.",
}


def iam_action(service: str, method: str) -> str:
    """`stepfunctions`, `start_execution` -> `states:StartExecution`, from botocore's own service model."""
    return f"{IAM_PREFIX.get(service, service)}:{_operations(service)[method]}"


@cache
def _operations(service: str) -> dict[str, str]:
    model = botocore.session.get_session().get_service_model(service)
    return {botocore.xform_name(name): name for name in model.operation_names}


@dataclass
class Function:
    """One function body: what it calls (resolved to other functions) and what AWS calls it makes."""

    module: str
    name: str
    node: ast.AST
    calls: set[tuple[str, str]] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    operations: set[str] = field(default_factory=set)  # API operations as called (TransactWriteItems, not its items)
    dynamic_clients: set[str] = field(default_factory=set)  # services reached with getattr(client(svc), arg0)


def _module_files() -> dict[str, Path]:
    files = {p.stem: p for p in LAMBDAS_DIR.glob("*.py")}
    files.update({f"{COMMON}.{p.stem}": p for p in (LAMBDAS_DIR / COMMON).glob("*.py")})
    return files


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_name(node: ast.AST) -> str | None:
    """`client(...)` -> "client"; `store.read_lock(...)` -> None (attribute calls are handled separately)."""
    return node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None


def _env_var(node: ast.AST | None) -> str | None:
    """The variable in `env("X")`."""
    if node is not None and _call_name(node) == "env" and node.args:  # type: ignore[attr-defined]
        return _const_str(node.args[0])  # type: ignore[attr-defined]
    return None


def _client_service(node: ast.AST, variables: dict[str, str]) -> str | None:
    """The service of `client("svc")` / `boto3.client("svc")`, or of a local bound to one."""
    if isinstance(node, ast.Name):
        return variables.get(node.id)
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        if (isinstance(func, ast.Name) and func.id == "client") or (
            isinstance(func, ast.Attribute) and func.attr == "client"
        ):
            return _const_str(node.args[0])
    return None


class _Scanner:
    def __init__(self) -> None:
        self.files = _module_files()
        self.functions: dict[tuple[str, str], Function] = {}
        self.imports: dict[str, dict[str, tuple[str, str | None]]] = {}
        for module, path in self.files.items():
            self._index(module, ast.parse(path.read_text()))
        for function in self.functions.values():
            self._scan(function)

    def _index(self, module: str, tree: ast.Module) -> None:
        names: dict[str, tuple[str, str | None]] = {}
        # Module-level code (dispatch tables, clients built at import) is reached with any of the module's functions.
        top_level = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        body = ast.Module(body=top_level, type_ignores=[])
        self.functions[(module, MODULE_LEVEL)] = Function(module, MODULE_LEVEL, body)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    local = alias.asname or alias.name
                    if node.module == COMMON:  # from pipeline_common import store
                        names[local] = (f"{COMMON}.{alias.name}", None)
                    elif node.module in self.files:  # from pipeline_common.store import read_lock
                        names[local] = (node.module, alias.name)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[(module, node.name)] = Function(module, node.name, node)
        self.imports[module] = names

    def _resolve(self, module: str, node: ast.AST) -> tuple[str, str] | None:
        """A reference to a known function: a local name, an imported name, or `module_alias.name`."""
        if isinstance(node, ast.Name):
            if (module, node.id) in self.functions:
                return module, node.id
            target = self.imports[module].get(node.id)
            if target and target[1] and target in self.functions:
                return target  # type: ignore[return-value]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            target = self.imports[module].get(node.value.id)
            if target and target[1] is None and (target[0], node.attr) in self.functions:
                return target[0], node.attr
        return None

    def _scan(self, function: Function) -> None:
        variables: dict[str, str] = {}  # local name -> boto3 service
        tables: dict[str, str] = {}  # local name -> env var naming a table
        for node in ast.walk(function.node):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                service = _client_service(node.value, variables)
                if service:
                    variables[node.targets[0].id] = service
                if _env_var(node.value):
                    tables[node.targets[0].id] = _env_var(node.value)  # type: ignore[assignment]
        for node in ast.walk(function.node):
            if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(getattr(node, "ctx", None), ast.Load):
                target = self._resolve(function.module, node)
                if target and target != (function.module, function.name):
                    function.calls.add(target)
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if _call_name(node) == "DynamoDBPersistenceLayer":
                table = next((_env_var(k.value) for k in node.keywords if k.arg == "table_name"), None)
                assert table, f"{function.module}.{function.name}: idempotency table not named by env()"
                function.actions.update(f"dynamodb:{a}@{table}" for a in IDEMPOTENCY_ACTIONS)
                function.operations.update(f"dynamodb:{a}" for a in IDEMPOTENCY_ACTIONS)
            if (
                isinstance(func, ast.Call)
                and _call_name(func) == "getattr"
                and len(func.args) == 2
                and isinstance(func.args[1], ast.Name)
            ):
                service = _client_service(func.args[0], variables)
                if service:
                    function.dynamic_clients.add(service)
            if not isinstance(func, ast.Attribute):
                continue
            if _call_name(func.value) == "table":
                table = _env_var(func.value.args[0]) if func.value.args else None  # type: ignore[attr-defined]
                assert table, f"{function.module}.{function.name}: table() not named by env()"
                function.actions.add(f"dynamodb:{_operations('dynamodb')[func.attr]}@{table}")
                function.operations.add(f"dynamodb:{_operations('dynamodb')[func.attr]}")
                continue
            service = _client_service(func.value, variables)
            if not service:
                continue
            if service == "dynamodb" and func.attr == "transact_write_items":
                function.actions.update(self._transact_items(function, node, tables))
                function.operations.add(iam_action(service, func.attr))
            else:
                function.actions.add(iam_action(service, func.attr))
                function.operations.add(iam_action(service, func.attr))

    @staticmethod
    def _transact_items(function: Function, call: ast.Call, tables: dict[str, str]) -> set[str]:
        items = next((k.value for k in call.keywords if k.arg == "TransactItems"), None)
        assert isinstance(items, ast.List), f"{function.module}.{function.name}: TransactItems must be a literal list"
        actions: set[str] = set()
        for item in items.elts:
            assert isinstance(item, ast.Dict) and len(item.keys) == 1
            kind = _const_str(item.keys[0])
            body = item.values[0]
            assert kind in TRANSACT_ITEM_ACTIONS and isinstance(body, ast.Dict)
            name = next(v for k, v in zip(body.keys, body.values, strict=True) if _const_str(k) == "TableName")
            table = tables.get(name.id) if isinstance(name, ast.Name) else _env_var(name)
            assert table, f"{function.module}.{function.name}: TableName not traced to env()"
            actions.add(f"dynamodb:{TRANSACT_ITEM_ACTIONS[kind]}@{table}")
        return actions

    def dynamic_methods(self, target: tuple[str, str]) -> set[str]:
        """Method names passed as the first argument to a function that calls `getattr(client, arg)`."""
        methods: set[str] = set()
        for function in self.functions.values():
            for node in ast.walk(function.node):
                if isinstance(node, ast.Call) and self._resolve(function.module, node.func) == target and node.args:
                    name = _const_str(node.args[0])
                    assert name, f"{function.module}.{function.name}: dynamic method name is not a literal"
                    methods.add(name)
        return methods

    def reachable(self, module: str, entry: str = "handler") -> Iterator[Function]:
        seen: set[tuple[str, str]] = set()
        stack = [(module, entry)]
        while stack:
            key = stack.pop()
            if key in seen or key not in self.functions:
                continue
            seen.add(key)
            yield self.functions[key]
            stack.extend(self.functions[key].calls)
            stack.append((key[0], MODULE_LEVEL))


@cache
def _scanner() -> _Scanner:
    return _Scanner()


def _reachable(function_key: str, calls: Callable[[Function], set[str]]) -> set[str]:
    """`calls(function)` over the handler's call graph from `handler`, plus the methods reached through
    `getattr(client(service), name)` (resolved from the names passed in)."""
    scanner = _scanner()
    found: set[str] = set()
    for function in scanner.reachable(function_key):
        found |= calls(function)
        for service in function.dynamic_clients:
            found |= {iam_action(service, m) for m in scanner.dynamic_methods((function.module, function.name))}
    assert found, f"no AWS calls found for {function_key}: the scanner missed the handler"
    return found


def code_actions(function_key: str) -> set[str]:
    """The actions the handler `lambdas/<function_key>.py` calls, following its call graph from `handler`."""
    return _reachable(function_key, lambda function: function.actions)


def code_operations(function_key: str) -> set[str]:
    """The AWS API operations the handler calls (`dynamodb:TransactWriteItems` once, not per item), for
    `local/fidelity.py`'s coverage check."""
    return _reachable(function_key, lambda function: function.operations)


def required_actions(function_key: str, *, dead_letter_queue: bool) -> dict[str, str]:
    """Every action the function's role must hold, each with why (the code's call or the implied reason)."""
    required = {action: "called by the handler" for action in code_actions(function_key)}
    for action in list(required):
        for implied, reason in IMPLIED.get(action, {}).items():
            required.setdefault(implied, reason)
    required.update(LAMBDA_BASE)
    if dead_letter_queue:
        required.update(DLQ_ACTIONS)
    return required


# --- the template side -----------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _logical_ids(value: Any) -> Iterable[str]:
    """Logical ids a resource expression refers to (`Ref`, `Fn::GetAtt`, inside `Fn::Join`/`Fn::Sub` too)."""
    if isinstance(value, dict):
        if "Ref" in value:
            yield value["Ref"]
        if "Fn::GetAtt" in value:
            yield _as_list(value["Fn::GetAtt"])[0]
        for item in value.values():
            yield from _logical_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _logical_ids(item)


def role_statements(resources: dict[str, dict[str, Any]], role_id: str) -> list[dict[str, Any]]:
    """The statements of every policy attached to `role_id`."""
    statements: list[dict[str, Any]] = []
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        props = resource["Properties"]
        if any(ref.get("Ref") == role_id for ref in props.get("Roles", [])):
            statements.extend(props["PolicyDocument"]["Statement"])
    return statements


def granted_actions(resources: dict[str, dict[str, Any]], function_id: str) -> set[str]:
    """The actions granted to a function's role; DynamoDB ones keyed by the env var naming the table."""
    props = resources[function_id]["Properties"]
    role_id = props["Role"]["Fn::GetAtt"][0]
    table_vars = {
        value["Ref"]: name
        for name, value in props.get("Environment", {}).get("Variables", {}).items()
        if isinstance(value, dict)
        and "Ref" in value
        and resources.get(value["Ref"], {}).get("Type") == "AWS::DynamoDB::Table"
    }
    granted: set[str] = set()
    for statement in role_statements(resources, role_id):
        assert statement["Effect"] == "Allow", statement
        for action in _as_list(statement["Action"]):
            if not action.startswith("dynamodb:"):
                granted.add(action)
                continue
            tables = {table_vars.get(i, i) for i in _logical_ids(statement["Resource"]) if i in resources}
            assert tables, f"{function_id}: {action} on no table"
            granted.update(f"{action}@{table}" for table in tables)
    return granted
