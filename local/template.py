"""A CloudFormation template, read the way CloudFormation reads it: intrinsic functions, physical ids, order.

`Template(raw, stack_name, account, region)` resolves `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`,
`Fn::Split`, `Fn::FindInMap`, `Fn::If` (with `Conditions`), `Fn::Equals`/`And`/`Or`/`Not`, `Fn::Base64`,
`Fn::GetAZs` and the pseudo parameters, once the referenced resources have physical ids (`set_physical`).
`creation_order()` is a dependency order (references and `DependsOn`); resources whose `Condition` is false are left
out. Names CloudFormation would generate are made deterministic: `<stack>-<logical id>`, lower-cased where the
service needs it.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(Exception):
    """The template uses something the local runtime cannot resolve."""


@dataclass
class Physical:
    """What a resource resolves to: `ref` for `Ref`, `attrs` for `Fn::GetAtt`."""

    ref: str
    attrs: dict[str, str] = field(default_factory=dict)


class Template:
    def __init__(self, raw: dict[str, Any], stack_name: str, account: str, region: str) -> None:
        self.raw = raw
        self.stack_name = stack_name
        self.account = account
        self.region = region
        self.resources: dict[str, dict[str, Any]] = raw.get("Resources", {})
        self.mappings: dict[str, Any] = raw.get("Mappings", {})
        self.physical: dict[str, Physical] = {}
        self.pseudo: dict[str, str | list[str] | None] = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/local",
            "AWS::NoValue": None,
            "AWS::NotificationARNs": [],
        }
        self.parameters = {name: spec.get("Default") for name, spec in raw.get("Parameters", {}).items()}
        self._conditions: dict[str, bool] = {}
        for name in raw.get("Conditions", {}):
            self.condition(name)

    # Conditions ---------------------------------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self.raw.get("Conditions", {}).get(name)
            if spec is None:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def included(self, logical_id: str) -> bool:
        cond = self.resources[logical_id].get("Condition")
        return cond is None or self.condition(cond)

    # Names --------------------------------------------------------------------------------------------------

    def generated_name(self, logical_id: str, max_len: int = 64, lower: bool = False) -> str:
        name = f"{self.stack_name}-{logical_id}"
        if lower:
            name = re.sub(r"[^a-z0-9.-]", "-", name.lower())
        return name[:max_len].rstrip("-")

    # Resolution ---------------------------------------------------------------------------------------------

    def set_physical(self, logical_id: str, ref: str, **attrs: str) -> None:
        self.physical[logical_id] = Physical(ref, dict(attrs))

    def _ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name].ref
        raise TemplateError(f"Ref to {name}, which is not created yet or unknown")

    def _getatt(self, logical_id: str, attr: str) -> Any:
        physical = self.physical.get(logical_id)
        if physical is None:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attr}: resource not created yet or unknown")
        if attr not in physical.attrs:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attr}: attribute not provided locally")
        return physical.attrs[attr]

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                logical, attr = name.split(".", 1)
                return str(self._getatt(logical, attr))
            return str(self._ref(name))

        return _SUB_VAR.sub(replace, text).replace("${!", "${")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self._ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._getatt(logical, self.resolve(attr))
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(x) for x in self.resolve(items))
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self._sub(arg, {})
                text, variables = arg
                return self._sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::FindInMap":
                name, top, second = (self.resolve(x) for x in arg[:3])
                try:
                    return self.mappings[name][top][second]
                except KeyError as err:
                    raise TemplateError(f"Fn::FindInMap {name}/{top}/{second} not in the template") from err
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                left, right = (self.resolve(x) for x in arg)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Base64":
                return base64.b64encode(str(self.resolve(arg)).encode()).decode()
            if key == "Fn::GetAZs":
                return [f"{self.region}{z}" for z in "abc"]
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg))
            if key.startswith("Fn::"):
                raise TemplateError(f"intrinsic function {key} is not supported locally")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    # Order --------------------------------------------------------------------------------------------------

    def dependencies(self, logical_id: str) -> set[str]:
        resource = self.resources[logical_id]
        found: set[str] = set()
        _collect_refs(resource.get("Properties", {}), found, set(self.resources))
        depends = resource.get("DependsOn", [])
        found.update([depends] if isinstance(depends, str) else depends)
        found.discard(logical_id)
        return {d for d in found if d in self.resources}

    def creation_order(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(node: str, path: list[str]) -> None:
            if state.get(node) == 2:
                return
            if state.get(node) == 1:
                raise TemplateError(f"dependency cycle: {' -> '.join([*path, node])}")
            state[node] = 1
            for dep in sorted(self.dependencies(node)):
                visit(dep, [*path, node])
            state[node] = 2
            order.append(node)

        for logical_id in self.resources:
            visit(logical_id, [])
        return [r for r in order if self.included(r)]


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()


def _collect_refs(value: Any, found: set[str], resources: set[str]) -> None:
    if isinstance(value, list):
        for v in value:
            _collect_refs(v, found, resources)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                for name in _SUB_VAR.findall(text):
                    found.add(name.split(".", 1)[0])
                if isinstance(arg, list):
                    _collect_refs(arg[1], found, resources)
            else:
                _collect_refs(arg, found, resources)
